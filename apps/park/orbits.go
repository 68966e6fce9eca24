package park

import (
	"errors"
	"fmt"
	"strconv"
)

// Limits on orbit ranges, checked by ValidateRanges.
const (
	// maxOrbitsPerRange bounds the size of one range, so that a typo such as
	// 7000-79999 cannot create a pool nobody can monitor.
	maxOrbitsPerRange = 10000
	// maxOrbitDigits keeps every orbit number inside a uint64.
	maxOrbitDigits = 18
)

// ErrInvalidRange is matched (with errors.Is) by every error of
// ValidateRanges and NewMemoryStore about the orbit ranges.
var ErrInvalidRange = errors.New("park: invalid orbit ranges")

// OrbitRange is a range of orbit numbers, e.g. {Start: "7000", End: "7099"}.
// Both ends are included and written with the same number of digits;
// leading zeros are significant ("0100".."0199" are four-digit orbits).
type OrbitRange struct {
	// Start is the first orbit of the range.
	Start string `yaml:"start"`
	// End is the last orbit of the range.
	End string `yaml:"end"`
}

// String returns the range as "Start-End".
func (r OrbitRange) String() string {
	if isDigits(r.Start) && isDigits(r.End) {
		return r.Start + "-" + r.End
	}
	return strconv.Quote(r.Start) + "-" + strconv.Quote(r.End)
}

// RangeError describes an invalid orbit range. Index and Other count from 1,
// in configuration order; Other is 0 when the problem concerns one range
// only.
type RangeError struct {
	Index      int
	Range      OrbitRange
	Other      int
	OtherRange OrbitRange
	// Reason says what is wrong, e.g. "start is after end" or "overlaps".
	Reason string
}

// Error returns e.g. "park: range 2 (7050-7150) overlaps range 1 (7000-7099)".
func (e *RangeError) Error() string {
	if e.Other == 0 {
		return fmt.Sprintf("park: range %d (%s): %s", e.Index, e.Range, e.Reason)
	}
	return fmt.Sprintf("park: range %d (%s) %s range %d (%s)", e.Index, e.Range, e.Reason, e.Other, e.OtherRange)
}

// Unwrap returns ErrInvalidRange.
func (e *RangeError) Unwrap() error { return ErrInvalidRange }

// ValidateRanges checks a pool of orbit ranges: at least one range; numeric
// digits only; Start and End of the same length in each range (so
// "7000".."7099" is valid, "700".."7099" is not); Start <= End; at most
// 10,000 orbits and 18 digits per range; all ranges of the same length
// (friendly orbits are dialled, so they all have one length); and no overlap
// between ranges. Errors are *RangeError values naming the offending ranges,
// e.g. "park: range 2 (7050-7150) overlaps range 1 (7000-7099)".
func ValidateRanges(r []OrbitRange) error {
	if len(r) == 0 {
		return fmt.Errorf("%w: no range configured", ErrInvalidRange)
	}
	for i, x := range r {
		bad := func(format string, a ...any) error {
			return &RangeError{Index: i + 1, Range: x, Reason: fmt.Sprintf(format, a...)}
		}
		switch {
		case !isDigits(x.Start):
			return bad("start %q is not a number (digits 0-9 only)", x.Start)
		case !isDigits(x.End):
			return bad("end %q is not a number (digits 0-9 only)", x.End)
		case len(x.Start) != len(x.End):
			return bad("start and end have different lengths (%d and %d digits)", len(x.Start), len(x.End))
		case len(x.Start) > maxOrbitDigits:
			return bad("orbits longer than %d digits", maxOrbitDigits)
		case x.Start > x.End: // Same length: string order is numeric order.
			return bad("start is after end")
		}
		s, _ := strconv.ParseUint(x.Start, 10, 64)
		e, _ := strconv.ParseUint(x.End, 10, 64)
		if e-s >= maxOrbitsPerRange {
			return bad("%d orbits, more than %d", e-s+1, maxOrbitsPerRange)
		}
		for j, y := range r[:i] {
			if len(y.Start) != len(x.Start) {
				return &RangeError{Index: i + 1, Range: x, Other: j + 1, OtherRange: y,
					Reason: fmt.Sprintf("has %d-digit orbits, unlike the %d-digit orbits of", len(x.Start), len(y.Start))}
			}
			if x.Start <= y.End && y.Start <= x.End {
				return &RangeError{Index: i + 1, Range: x, Other: j + 1, OtherRange: y, Reason: "overlaps"}
			}
		}
	}
	return nil
}

// ParseOrbit reports whether s is an orbit number inside one of the ranges
// and returns it in canonical form. Only the canonical spelling is accepted
// (ASCII digits, exactly as many as the range ends, no sign or spaces), so
// each orbit has one name. The result does not alias s. ParseOrbit does not
// validate r; invalid ranges simply match less.
func ParseOrbit(r []OrbitRange, s string) (string, bool) {
	if !isDigits(s) {
		return "", false
	}
	for _, x := range r {
		if len(s) == len(x.Start) && len(s) == len(x.End) && x.Start <= s && s <= x.End {
			return string([]byte(s)), true
		}
	}
	return "", false
}

// isDigits reports whether s is a non-empty string of ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// pool numbers the orbits of validated ranges 0..size-1 in numeric order.
type pool struct {
	width int
	spans []span // sorted by start
	size  int
}

// span is one range of a pool.
type span struct {
	start  uint64
	count  int
	offset int // index of the first orbit of the span in the pool
}

// newPool builds the pool of ranges that passed ValidateRanges.
func newPool(r []OrbitRange) pool {
	p := pool{width: len(r[0].Start)}
	for _, x := range r {
		s, _ := strconv.ParseUint(x.Start, 10, 64)
		e, _ := strconv.ParseUint(x.End, 10, 64)
		p.spans = append(p.spans, span{start: s, count: int(e-s) + 1})
	}
	// Insertion sort: pools have a handful of ranges.
	for i := 1; i < len(p.spans); i++ {
		for j := i; j > 0 && p.spans[j].start < p.spans[j-1].start; j-- {
			p.spans[j], p.spans[j-1] = p.spans[j-1], p.spans[j]
		}
	}
	for i := range p.spans {
		p.spans[i].offset = p.size
		p.size += p.spans[i].count
	}
	return p
}

// index returns the pool index of a canonical orbit number.
func (p *pool) index(orbit string) (int, bool) {
	if len(orbit) != p.width || !isDigits(orbit) {
		return 0, false
	}
	n, err := strconv.ParseUint(orbit, 10, 64)
	if err != nil {
		return 0, false
	}
	for _, s := range p.spans {
		if n >= s.start && n-s.start < uint64(s.count) {
			return s.offset + int(n-s.start), true
		}
	}
	return 0, false
}

// orbit returns the canonical orbit number at pool index i (0 <= i < size).
func (p *pool) orbit(i int) string {
	for _, s := range p.spans {
		if i < s.offset+s.count {
			b := make([]byte, 0, p.width)
			d := strconv.AppendUint(nil, s.start+uint64(i-s.offset), 10)
			for range p.width - len(d) {
				b = append(b, '0')
			}
			return string(append(b, d...))
		}
	}
	return ""
}
