package park_test

import (
	"errors"
	"testing"

	"github.com/switchboard-sip/switchboard/apps/park"
)

// TestStoreReplace: Replace keeps the orbit, gives the successor a new
// token (the old one releases and retrieves nothing), and changes nothing
// when the orbit no longer holds the park it names or the successor is
// parked elsewhere.
func TestStoreReplace(t *testing.T) {
	s, err := park.NewMemoryStore([]park.OrbitRange{{Start: "10", End: "11"}}, park.FirstFree)
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Allocate("", park.Entry{CallID: "parker-call"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Allocate("", park.Entry{CallID: "other"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Replace(a.Orbit, "forged", park.Entry{CallID: "x"}); !errors.Is(err, park.ErrOrbitEmpty) {
		t.Fatalf("Replace with a forged token: %v, want ErrOrbitEmpty", err)
	}
	if _, err := s.Replace(a.Orbit, a.Token, park.Entry{CallID: "other"}); !errors.Is(err, park.ErrDoublePark) {
		t.Fatalf("Replace with a call parked in %s: %v, want ErrDoublePark", b.Orbit, err)
	}
	n, err := s.Replace(a.Orbit, a.Token, park.Entry{CallID: "parked-party", Parked: "sip:p@x"})
	if err != nil {
		t.Fatal(err)
	}
	if n.Orbit != a.Orbit || n.Token == a.Token || n.Token == "" {
		t.Fatalf("replaced entry %+v, want orbit %s and a new token", n, a.Orbit)
	}
	if s.Release(a.Orbit, a.Token) {
		t.Fatal("the replaced park's token still releases the orbit")
	}
	if _, err := s.Claim(a.Orbit, a.Token); !errors.Is(err, park.ErrSafeRetrieve) {
		t.Fatalf("safe retrieve with the replaced token: %v", err)
	}
	if e, ok := s.Get(a.Orbit); !ok || e.CallID != "parked-party" {
		t.Fatalf("orbit %s holds %+v", a.Orbit, e)
	}
	if _, ok := s.ByToken(a.Token); ok {
		t.Fatal("the old token still finds the park")
	}
	if _, err := s.Allocate("", park.Entry{CallID: "parker-call"}); !errors.Is(err, park.ErrNoFreeOrbit) {
		t.Fatalf("the replaced Call-ID's orbit is not free to reuse: %v", err)
	}
}
