package park

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestValidateRanges(t *testing.T) {
	r := func(s, e string) OrbitRange { return OrbitRange{Start: s, End: e} }
	tests := []struct {
		name   string
		ranges []OrbitRange
		want   string // substring of the error; "" means valid
	}{
		{"one range", []OrbitRange{r("7000", "7099")}, ""},
		{"single orbit", []OrbitRange{r("7000", "7000")}, ""},
		{"two ranges", []OrbitRange{r("7000", "7099"), r("8000", "8009")}, ""},
		{"adjacent ranges", []OrbitRange{r("7000", "7099"), r("7100", "7199")}, ""},
		{"leading zeros", []OrbitRange{r("0100", "0199")}, ""},
		{"10000 orbits", []OrbitRange{r("00000", "09999")}, ""},
		{"18 digits", []OrbitRange{r("999999999999990000", "999999999999999999")}, ""},
		{"none", nil, "park: invalid orbit ranges: no range configured"},
		{"letters in start", []OrbitRange{r("7a00", "7099")}, `park: range 1 ("7a00"-"7099"): start "7a00" is not a number`},
		{"letters in end", []OrbitRange{r("7000", "70x9")}, `park: range 1 ("7000"-"70x9"): end "70x9" is not a number`},
		{"sign", []OrbitRange{r("+700", "7099")}, `start "+700" is not a number`},
		{"empty start", []OrbitRange{r("", "7099")}, `park: range 1 (""-"7099"): start "" is not a number`},
		{"non-ASCII digits", []OrbitRange{r("٧٠٠٠", "7099")}, "is not a number"},
		{"lengths differ", []OrbitRange{r("700", "7099")}, "park: range 1 (700-7099): start and end have different lengths (3 and 4 digits)"},
		{"too long", []OrbitRange{r("1234567890123456789", "1234567890123456789")}, "longer than 18 digits"},
		{"start after end", []OrbitRange{r("7099", "7000")}, "park: range 1 (7099-7000): start is after end"},
		{"too many orbits", []OrbitRange{r("10000", "20000")}, "park: range 1 (10000-20000): 10001 orbits, more than 10000"},
		{"second range bad", []OrbitRange{r("7000", "7099"), r("8099", "8000")}, "park: range 2 (8099-8000): start is after end"},
		{"ranges of different lengths", []OrbitRange{r("7000", "7099"), r("800", "899")},
			"park: range 2 (800-899) has 3-digit orbits, unlike the 4-digit orbits of range 1 (7000-7099)"},
		{"overlap", []OrbitRange{r("7000", "7099"), r("7050", "7150")}, "park: range 2 (7050-7150) overlaps range 1 (7000-7099)"},
		{"contained", []OrbitRange{r("7000", "7099"), r("8000", "8099"), r("8010", "8020")}, "park: range 3 (8010-8020) overlaps range 2 (8000-8099)"},
		{"containing", []OrbitRange{r("7010", "7020"), r("7000", "7099")}, "park: range 2 (7000-7099) overlaps range 1 (7010-7020)"},
		{"shared end", []OrbitRange{r("7000", "7099"), r("7099", "7199")}, "overlaps range 1"},
		{"duplicate", []OrbitRange{r("7000", "7000"), r("7000", "7000")}, "park: range 2 (7000-7000) overlaps range 1 (7000-7000)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateRanges(tt.ranges)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ValidateRanges: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateRanges: no error, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
			if !errors.Is(err, ErrInvalidRange) {
				t.Errorf("errors.Is(%v, ErrInvalidRange) = false", err)
			}
			if _, err := NewMemoryStore(tt.ranges, FirstFree); err == nil {
				t.Error("NewMemoryStore accepted the ranges")
			}
		})
	}
}

func TestRangeErrorFields(t *testing.T) {
	err := ValidateRanges([]OrbitRange{{"7000", "7099"}, {"7050", "7150"}})
	var re *RangeError
	if !errors.As(err, &re) {
		t.Fatalf("error %v is not a *RangeError", err)
	}
	if re.Index != 2 || re.Other != 1 || re.Range.Start != "7050" || re.OtherRange.End != "7099" {
		t.Errorf("RangeError = %+v", re)
	}
}

func TestParseOrbit(t *testing.T) {
	ranges := []OrbitRange{{"7000", "7099"}, {"0100", "0109"}}
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"7000", "7000", true},
		{"7005", "7005", true},
		{"7099", "7099", true},
		{"0100", "0100", true},
		{"0109", "0109", true},
		{"7100", "", false},
		{"6999", "", false},
		{"0110", "", false},
		{"100", "", false},   // not canonical: the orbit is 0100
		{"07005", "", false}, // not canonical
		{"705", "", false},
		{"", "", false},
		{"70a5", "", false},
		{" 7005", "", false},
		{"+7005", "", false},
		{"7005\r\n", "", false},
	}
	for _, tt := range tests {
		got, ok := ParseOrbit(ranges, tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseOrbit(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	if _, ok := ParseOrbit(nil, "7000"); ok {
		t.Error("ParseOrbit with no ranges accepted 7000")
	}
}

func TestPoolNumbering(t *testing.T) {
	// Ranges out of order: indices follow numeric order.
	p := newPool([]OrbitRange{{"8000", "8001"}, {"0998", "1001"}})
	if p.size != 6 {
		t.Fatalf("size = %d, want 6", p.size)
	}
	want := []string{"0998", "0999", "1000", "1001", "8000", "8001"}
	for i, o := range want {
		if got := p.orbit(i); got != o {
			t.Errorf("orbit(%d) = %q, want %q", i, got, o)
		}
		if got, ok := p.index(o); !ok || got != i {
			t.Errorf("index(%q) = %d, %v; want %d", o, got, ok, i)
		}
	}
	for _, o := range []string{"0997", "1002", "7999", "8002", "998", "08000"} {
		if _, ok := p.index(o); ok {
			t.Errorf("index(%q) found an orbit", o)
		}
	}
}

// FuzzOrbits checks that ValidateRanges and ParseOrbit never panic, that
// ParseOrbit agrees with numeric range membership, and that a store built
// from valid ranges parks exactly in the orbits ParseOrbit accepts.
func FuzzOrbits(f *testing.F) {
	f.Add("7000", "7099", "8000", "8009", "7005")
	f.Add("7000", "7099", "7050", "7150", "7100")
	f.Add("0100", "0199", "", "", "0100")
	f.Add("700", "7099", "1", "9", "9")
	f.Add("99999", "00000", "x", "y", "-1")
	f.Fuzz(func(t *testing.T, s1, e1, s2, e2, orbit string) {
		ranges := []OrbitRange{{s1, e1}}
		if s2 != "" || e2 != "" {
			ranges = append(ranges, OrbitRange{s2, e2})
		}
		err := ValidateRanges(ranges)
		got, ok := ParseOrbit(ranges, orbit)
		if ok {
			if got != orbit {
				t.Fatalf("ParseOrbit(%q) = %q", orbit, got)
			}
			if !isDigits(got) {
				t.Fatalf("ParseOrbit(%q) accepted non-digits", orbit)
			}
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidRange) || !strings.HasPrefix(err.Error(), "park: ") {
				t.Fatalf("bad error %v", err)
			}
			return
		}
		// Valid ranges: membership must agree with the numbers.
		in := false
		if n, perr := strconv.ParseUint(orbit, 10, 64); perr == nil && isDigits(orbit) && len(orbit) == len(s1) {
			for _, r := range ranges {
				s, _ := strconv.ParseUint(r.Start, 10, 64)
				e, _ := strconv.ParseUint(r.End, 10, 64)
				in = in || (s <= n && n <= e)
			}
		}
		if in != ok {
			t.Fatalf("ParseOrbit(%q) = %v, numeric membership %v", orbit, ok, in)
		}
		st, err := NewMemoryStore(ranges, NextFree)
		if err != nil {
			t.Fatal(err)
		}
		if orbit == "" {
			return // Not a directed park.
		}
		e, err := st.Allocate(orbit, Entry{CallID: "c"})
		if ok != (err == nil) || (ok && e.Orbit != got) {
			t.Fatalf("Allocate(%q) = %+v, %v; ParseOrbit %v", orbit, e, err, ok)
		}
		if !ok && !errors.Is(err, ErrNoSuchOrbit) {
			t.Fatalf("Allocate(%q): %v, want ErrNoSuchOrbit", orbit, err)
		}
	})
}
