package park

import (
	"errors"
	"fmt"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newStore(t testing.TB, policy Allocation, ranges ...OrbitRange) *MemoryStore {
	t.Helper()
	s, err := NewMemoryStore(ranges, policy)
	if err != nil {
		t.Fatalf("NewMemoryStore: %v", err)
	}
	return s
}

func mustAllocate(t testing.TB, s Store, directed, callID string) Entry {
	t.Helper()
	e, err := s.Allocate(directed, Entry{CallID: callID, Parker: "sip:bob@example.com", Parked: "sip:" + callID + "@example.com"})
	if err != nil {
		t.Fatalf("Allocate(%q, %s): %v", directed, callID, err)
	}
	return e
}

func TestNewMemoryStorePolicy(t *testing.T) {
	r := OrbitRange{"7000", "7009"}
	if s := newStore(t, "", r); s.policy != FirstFree {
		t.Errorf("default policy %q, want %q", s.policy, FirstFree)
	}
	if _, err := NewMemoryStore([]OrbitRange{r}, "random"); err == nil {
		t.Error("unknown policy accepted")
	}
	if s := newStore(t, FirstFree, r, OrbitRange{"8000", "8004"}); s.Capacity() != 15 {
		t.Errorf("Capacity = %d, want 15", s.Capacity())
	}
}

func TestAllocateEntry(t *testing.T) {
	s := newStore(t, FirstFree, OrbitRange{"7000", "7009"})
	before := time.Now()
	e := mustAllocate(t, s, "", "call-1")
	if e.Orbit != "7000" || e.CallID != "call-1" || e.Parker != "sip:bob@example.com" || e.Parked != "sip:call-1@example.com" {
		t.Errorf("entry %+v", e)
	}
	if e.Since.Before(before) {
		t.Errorf("Since %v not set", e.Since)
	}
	// Tokens: 128 bits or more, URL-safe.
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{22,}$`).MatchString(e.Token) {
		t.Errorf("token %q is not a long URL-safe string", e.Token)
	}
	since := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	e2, err := s.Allocate("", Entry{CallID: "call-2", Since: since})
	if err != nil || !e2.Since.Equal(since) {
		t.Errorf("Allocate with Since: %+v, %v", e2, err)
	}
	if got, ok := s.Get("7000"); !ok || got != e {
		t.Errorf("Get(7000) = %+v, %v; want %+v", got, ok, e)
	}
	if got, ok := s.ByToken(e.Token); !ok || got != e {
		t.Errorf("ByToken = %+v, %v", got, ok)
	}
	if _, ok := s.Get("7002"); ok {
		t.Error("Get(7002) found an entry")
	}
	if _, ok := s.Get("9000"); ok {
		t.Error("Get(9000) found an entry")
	}
	if _, ok := s.ByToken(""); ok {
		t.Error("ByToken(\"\") found an entry")
	}
	if _, err := s.Allocate("", Entry{}); !errors.Is(err, ErrNoCallID) {
		t.Errorf("Allocate without Call-ID: %v, want ErrNoCallID", err)
	}
}

func orbits(t testing.TB, s Store, n int, prefix string) []string {
	t.Helper()
	var got []string
	for i := range n {
		got = append(got, mustAllocate(t, s, "", fmt.Sprintf("%s-%d", prefix, i)).Orbit)
	}
	return got
}

func claim(t testing.TB, s Store, orbit string) {
	t.Helper()
	if _, err := s.Claim(orbit, ""); err != nil {
		t.Fatalf("Claim(%s): %v", orbit, err)
	}
}

func TestAllocateFirstFree(t *testing.T) {
	// Ranges out of order: the lowest orbit comes first.
	s := newStore(t, FirstFree, OrbitRange{"8000", "8001"}, OrbitRange{"7000", "7001"})
	if got := fmt.Sprint(orbits(t, s, 3, "a")); got != "[7000 7001 8000]" {
		t.Fatalf("orbits %s", got)
	}
	claim(t, s, "7001")
	claim(t, s, "7000")
	if got := fmt.Sprint(orbits(t, s, 3, "b")); got != "[7000 7001 8001]" {
		t.Fatalf("after claims: orbits %s", got)
	}
}

func TestAllocateNext(t *testing.T) {
	s := newStore(t, NextFree, OrbitRange{"7000", "7003"})
	if got := fmt.Sprint(orbits(t, s, 4, "a")); got != "[7000 7001 7002 7003]" {
		t.Fatalf("orbits %s", got)
	}
	// Wraps around and skips the busy 7000.
	claim(t, s, "7001")
	if got := mustAllocate(t, s, "", "b").Orbit; got != "7001" {
		t.Errorf("after wrap: %s, want 7001", got)
	}
	// Continues after 7001, skipping busy 7002, not back at the lower 7000.
	claim(t, s, "7000")
	claim(t, s, "7003")
	if got := fmt.Sprint(orbits(t, s, 2, "c")); got != "[7003 7000]" {
		t.Errorf("orbits %s, want [7003 7000]", got)
	}
	// A directed park does not move the rotation.
	claim(t, s, "7002")
	claim(t, s, "7001")
	claim(t, s, "7003")
	mustAllocate(t, s, "7002", "d")
	if got := mustAllocate(t, s, "", "e").Orbit; got != "7001" {
		t.Errorf("after directed park: %s, want 7001", got)
	}
}

func TestDirectedPark(t *testing.T) {
	s := newStore(t, FirstFree, OrbitRange{"7000", "7009"})
	if e := mustAllocate(t, s, "7005", "a"); e.Orbit != "7005" {
		t.Errorf("directed park in %s", e.Orbit)
	}
	_, err := s.Allocate("7005", Entry{CallID: "b"})
	if !errors.Is(err, ErrOrbitBusy) || err.Error() != "park: orbit busy: 7005" {
		t.Errorf("busy orbit: %v", err)
	}
	for _, o := range []string{"7010", "705", "x", "07005"} {
		if _, err := s.Allocate(o, Entry{CallID: "b"}); !errors.Is(err, ErrNoSuchOrbit) {
			t.Errorf("Allocate(%q): %v, want ErrNoSuchOrbit", o, err)
		}
	}
	// Non-directed parks go around the directed one.
	if got := fmt.Sprint(orbits(t, s, 6, "c")); got != "[7000 7001 7002 7003 7004 7006]" {
		t.Errorf("orbits %s", got)
	}
}

func TestDoublePark(t *testing.T) {
	s := newStore(t, FirstFree, OrbitRange{"7000", "7009"})
	a := mustAllocate(t, s, "", "same-call")
	for _, directed := range []string{"", "7003"} {
		if _, err := s.Allocate(directed, Entry{CallID: "same-call"}); !errors.Is(err, ErrDoublePark) {
			t.Errorf("Allocate(%q) again: %v, want ErrDoublePark", directed, err)
		}
	}
	if n := len(s.List()); n != 1 {
		t.Errorf("%d parked, want 1", n)
	}
	// Once retrieved, the same call may be parked again.
	if _, err := s.Claim(a.Orbit, a.Token); err != nil {
		t.Fatal(err)
	}
	mustAllocate(t, s, "", "same-call")
}

func TestFullPool(t *testing.T) {
	for _, policy := range []Allocation{FirstFree, NextFree} {
		s := newStore(t, policy, OrbitRange{"7000", "7001"})
		orbits(t, s, 2, "a")
		if _, err := s.Allocate("", Entry{CallID: "third"}); !errors.Is(err, ErrNoFreeOrbit) {
			t.Errorf("%s: third park: %v, want ErrNoFreeOrbit", policy, err)
		}
		claim(t, s, "7001")
		if got := mustAllocate(t, s, "", "fourth").Orbit; got != "7001" {
			t.Errorf("%s: after a claim: %s", policy, got)
		}
	}
}

func TestClaim(t *testing.T) {
	s := newStore(t, FirstFree, OrbitRange{"7000", "7009"})
	a := mustAllocate(t, s, "", "a")
	if _, err := s.Claim("7001", ""); !errors.Is(err, ErrOrbitEmpty) {
		t.Errorf("Claim(empty orbit): %v", err)
	}
	if _, err := s.Claim("9999", ""); !errors.Is(err, ErrNoSuchOrbit) {
		t.Errorf("Claim(9999): %v", err)
	}
	got, err := s.Claim("7000", "")
	if err != nil || got != a {
		t.Fatalf("Claim = %+v, %v; want %+v", got, err, a)
	}
	if _, ok := s.Get("7000"); ok {
		t.Error("claimed orbit still occupied")
	}
	if _, ok := s.ByToken(a.Token); ok {
		t.Error("claimed token still found")
	}
	if _, err := s.Claim("7000", ""); !errors.Is(err, ErrOrbitEmpty) {
		t.Errorf("second Claim: %v", err)
	}
}

func TestRelease(t *testing.T) {
	s := newStore(t, FirstFree, OrbitRange{"7000", "7009"})
	a := mustAllocate(t, s, "", "a")
	b := mustAllocate(t, s, "", "b")
	for _, tok := range []string{"", b.Token, "nope"} {
		if s.Release(a.Orbit, tok) {
			t.Errorf("Release(%s, %q) released", a.Orbit, tok)
		}
	}
	if s.Release("9999", a.Token) {
		t.Error("Release(9999) released")
	}
	if !s.Release(a.Orbit, a.Token) {
		t.Fatal("Release with the right token failed")
	}
	if s.Release(a.Orbit, a.Token) {
		t.Error("second Release released")
	}
	if l := s.List(); len(l) != 1 || l[0] != b {
		t.Errorf("List = %+v", l)
	}
	// The released call may be parked again.
	mustAllocate(t, s, "", "a")
}

// TestSafeRetrieve is the "Bob gets Steven instead of Mary" case: a safe
// retrieve token must not connect to another call parked later in the same
// orbit.
func TestSafeRetrieve(t *testing.T) {
	s := newStore(t, FirstFree, OrbitRange{"7000", "7009"})
	a := mustAllocate(t, s, "", "mary")
	if a.Orbit != "7000" {
		t.Fatalf("A in %s", a.Orbit)
	}
	if !s.Release("7000", a.Token) { // Mary hung up.
		t.Fatal("Release A failed")
	}
	b := mustAllocate(t, s, "", "steven")
	if b.Orbit != "7000" || b.Token == a.Token {
		t.Fatalf("B = %+v", b)
	}
	if _, err := s.Claim("7000", a.Token); !errors.Is(err, ErrSafeRetrieve) {
		t.Fatalf("Claim with A's token: %v, want ErrSafeRetrieve", err)
	}
	if got, ok := s.Get("7000"); !ok || got != b {
		t.Fatalf("B no longer parked: %+v, %v", got, ok)
	}
	if _, ok := s.ByToken(a.Token); ok {
		t.Error("ByToken(A) found an entry")
	}
	if s.Release("7000", a.Token) {
		t.Error("Release with A's token freed B")
	}
	got, err := s.Claim("7000", b.Token)
	if err != nil || got != b {
		t.Fatalf("Claim with B's token = %+v, %v", got, err)
	}
}

func TestList(t *testing.T) {
	s := newStore(t, FirstFree, OrbitRange{"8000", "8009"}, OrbitRange{"7000", "7009"})
	if l := s.List(); len(l) != 0 {
		t.Fatalf("List = %+v", l)
	}
	for _, o := range []string{"8003", "7005", "8000", "7009"} {
		mustAllocate(t, s, o, "call-"+o)
	}
	var got []string
	for _, e := range s.List() {
		got = append(got, e.Orbit)
	}
	if fmt.Sprint(got) != "[7005 7009 8000 8003]" {
		t.Errorf("List orbits %v", got)
	}
}

// TestConcurrentAllocate guards against the valet_park slot race: callers
// parked at the same instant must never share an orbit.
func TestConcurrentAllocate(t *testing.T) {
	for _, policy := range []Allocation{FirstFree, NextFree} {
		s := newStore(t, policy, OrbitRange{"7000", "7099"})
		const n = 50
		entries := make([]Entry, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				entries[i], errs[i] = s.Allocate("", Entry{CallID: fmt.Sprintf("call-%d", i)})
			})
		}
		wg.Wait()
		orbitSeen := map[string]bool{}
		tokenSeen := map[string]bool{}
		for i, e := range entries {
			if errs[i] != nil {
				t.Fatalf("%s: Allocate %d: %v", policy, i, errs[i])
			}
			if orbitSeen[e.Orbit] || tokenSeen[e.Token] {
				t.Fatalf("%s: orbit %s or token shared", policy, e.Orbit)
			}
			orbitSeen[e.Orbit], tokenSeen[e.Token] = true, true
		}
		if len(s.List()) != n {
			t.Errorf("%s: %d parked, want %d", policy, len(s.List()), n)
		}
	}
}

func TestConcurrentAllocateFull(t *testing.T) {
	s := newStore(t, FirstFree, OrbitRange{"7000", "7009"})
	var ok, full atomic.Int32
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			_, err := s.Allocate("", Entry{CallID: fmt.Sprint(i)})
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrNoFreeOrbit):
				full.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 10 || full.Load() != 40 {
		t.Errorf("%d parked, %d refused; want 10 and 40", ok.Load(), full.Load())
	}
}

func TestConcurrentClaim(t *testing.T) {
	for _, token := range []string{"", "token"} {
		s := newStore(t, FirstFree, OrbitRange{"7000", "7009"})
		e := mustAllocate(t, s, "", "a")
		if token != "" {
			token = e.Token
		}
		var wins, empty atomic.Int32
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				got, err := s.Claim(e.Orbit, token)
				switch {
				case err == nil && got == e:
					wins.Add(1)
				case errors.Is(err, ErrOrbitEmpty):
					empty.Add(1)
				default:
					t.Errorf("Claim = %+v, %v", got, err)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 || empty.Load() != 49 {
			t.Errorf("token %q: %d winners, %d empty; want 1 and 49", token, wins.Load(), empty.Load())
		}
	}
}

func BenchmarkAllocateClaim(b *testing.B) {
	s := newStore(b, NextFree, OrbitRange{"7000", "7099"})
	for i := range 90 {
		mustAllocate(b, s, "", fmt.Sprint("busy-", i))
	}
	b.ReportAllocs()
	for b.Loop() {
		e, err := s.Allocate("", Entry{CallID: "c"})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Claim(e.Orbit, e.Token); err != nil {
			b.Fatal(err)
		}
	}
}
