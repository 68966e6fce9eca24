package redisstore_test

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/apps/park"
)

// factory makes an empty store of one kind.
type factory func(t *testing.T, policy park.Allocation, ranges ...park.OrbitRange) park.Store

// stores are the Store implementations the contract runs against: the
// memory store and the Redis store (each on its own keys of one
// redis-server started for the test).
func stores(t *testing.T) map[string]factory {
	srv := startRedis(t)
	var n atomic.Int32
	return map[string]factory{
		"memory": func(t *testing.T, policy park.Allocation, ranges ...park.OrbitRange) park.Store {
			s, err := park.NewMemoryStore(ranges, policy)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"redis": func(t *testing.T, policy park.Allocation, ranges ...park.OrbitRange) park.Store {
			prefix := fmt.Sprintf("test:{%s-%d}:", strings.ReplaceAll(t.Name(), "/", "-"), n.Add(1))
			return newRedisStore(t, srv, "node-1", prefix, policy, 400*time.Millisecond, ranges...)
		},
	}
}

// contract runs f against every store kind.
func contract(t *testing.T, f func(t *testing.T, mk factory)) {
	for name, mk := range stores(t) {
		t.Run(name, func(t *testing.T) { f(t, mk) })
	}
}

func mustAllocate(t testing.TB, s park.Store, directed, callID string) park.Entry {
	t.Helper()
	e, err := s.Allocate(directed, park.Entry{CallID: callID, Parker: "sip:bob@example.com", Parked: "sip:" + callID + "@example.com"})
	if err != nil {
		t.Fatalf("Allocate(%q, %s): %v", directed, callID, err)
	}
	return e
}

// same compares entries; Since by instant (a store may drop the monotonic
// reading).
func same(a, b park.Entry) bool {
	return a.Orbit == b.Orbit && a.Token == b.Token && a.CallID == b.CallID && a.Parker == b.Parker &&
		a.Parked == b.Parked && a.Since.Equal(b.Since)
}

func orbits(t testing.TB, s park.Store, n int, prefix string) string {
	t.Helper()
	var got []string
	for i := range n {
		got = append(got, mustAllocate(t, s, "", fmt.Sprintf("%s-%d", prefix, i)).Orbit)
	}
	return fmt.Sprint(got)
}

func claim(t testing.TB, s park.Store, orbit string) {
	t.Helper()
	if _, err := s.Claim(orbit, ""); err != nil {
		t.Fatalf("Claim(%s): %v", orbit, err)
	}
}

func TestContractAllocateEntry(t *testing.T) {
	contract(t, func(t *testing.T, mk factory) {
		s := mk(t, park.FirstFree, park.OrbitRange{Start: "7000", End: "7009"})
		before := time.Now()
		e := mustAllocate(t, s, "", "call-1")
		if e.Orbit != "7000" || e.CallID != "call-1" || e.Parker != "sip:bob@example.com" || e.Parked != "sip:call-1@example.com" {
			t.Errorf("entry %+v", e)
		}
		if e.Since.Before(before.Truncate(time.Microsecond)) {
			t.Errorf("Since %v not set", e.Since)
		}
		if !regexp.MustCompile(`^[A-Za-z0-9_-]{22,}$`).MatchString(e.Token) {
			t.Errorf("token %q is not a long URL-safe string", e.Token)
		}
		since := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
		e2, err := s.Allocate("", park.Entry{CallID: "call-2", Since: since})
		if err != nil || !e2.Since.Equal(since) {
			t.Errorf("Allocate with Since: %+v, %v", e2, err)
		}
		if got, ok := s.Get("7000"); !ok || !same(got, e) {
			t.Errorf("Get(7000) = %+v, %v; want %+v", got, ok, e)
		}
		if got, ok := s.ByToken(e.Token); !ok || !same(got, e) {
			t.Errorf("ByToken = %+v, %v", got, ok)
		}
		for _, o := range []string{"7002", "9000", "x"} {
			if _, ok := s.Get(o); ok {
				t.Errorf("Get(%s) found an entry", o)
			}
		}
		if _, ok := s.ByToken(""); ok {
			t.Error(`ByToken("") found an entry`)
		}
		if _, err := s.Allocate("", park.Entry{}); !errors.Is(err, park.ErrNoCallID) {
			t.Errorf("Allocate without Call-ID: %v, want ErrNoCallID", err)
		}
	})
}

func TestContractAllocateFirstFree(t *testing.T) {
	contract(t, func(t *testing.T, mk factory) {
		s := mk(t, park.FirstFree, park.OrbitRange{Start: "8000", End: "8001"}, park.OrbitRange{Start: "7000", End: "7001"})
		if got := orbits(t, s, 3, "a"); got != "[7000 7001 8000]" {
			t.Fatalf("orbits %s", got)
		}
		claim(t, s, "7001")
		claim(t, s, "7000")
		if got := orbits(t, s, 3, "b"); got != "[7000 7001 8001]" {
			t.Fatalf("after claims: orbits %s", got)
		}
	})
}

func TestContractAllocateNext(t *testing.T) {
	contract(t, func(t *testing.T, mk factory) {
		s := mk(t, park.NextFree, park.OrbitRange{Start: "7000", End: "7003"})
		if got := orbits(t, s, 4, "a"); got != "[7000 7001 7002 7003]" {
			t.Fatalf("orbits %s", got)
		}
		claim(t, s, "7001")
		if got := mustAllocate(t, s, "", "b").Orbit; got != "7001" {
			t.Errorf("after wrap: %s, want 7001", got)
		}
		claim(t, s, "7000")
		claim(t, s, "7003")
		if got := orbits(t, s, 2, "c"); got != "[7003 7000]" {
			t.Errorf("orbits %s, want [7003 7000]", got)
		}
		claim(t, s, "7002")
		claim(t, s, "7001")
		claim(t, s, "7003")
		mustAllocate(t, s, "7002", "d")
		if got := mustAllocate(t, s, "", "e").Orbit; got != "7001" {
			t.Errorf("after directed park: %s, want 7001", got)
		}
	})
}

func TestContractDirectedPark(t *testing.T) {
	contract(t, func(t *testing.T, mk factory) {
		s := mk(t, park.FirstFree, park.OrbitRange{Start: "7000", End: "7009"})
		if e := mustAllocate(t, s, "7005", "a"); e.Orbit != "7005" {
			t.Errorf("directed park in %s", e.Orbit)
		}
		_, err := s.Allocate("7005", park.Entry{CallID: "b"})
		if !errors.Is(err, park.ErrOrbitBusy) || err.Error() != "park: orbit busy: 7005" {
			t.Errorf("busy orbit: %v", err)
		}
		for _, o := range []string{"7010", "705", "x", "07005"} {
			if _, err := s.Allocate(o, park.Entry{CallID: "b"}); !errors.Is(err, park.ErrNoSuchOrbit) {
				t.Errorf("Allocate(%q): %v, want ErrNoSuchOrbit", o, err)
			}
		}
		if got := orbits(t, s, 6, "c"); got != "[7000 7001 7002 7003 7004 7006]" {
			t.Errorf("orbits %s", got)
		}
	})
}

func TestContractDoublePark(t *testing.T) {
	contract(t, func(t *testing.T, mk factory) {
		s := mk(t, park.FirstFree, park.OrbitRange{Start: "7000", End: "7009"})
		a := mustAllocate(t, s, "", "same-call")
		for _, directed := range []string{"", "7003"} {
			_, err := s.Allocate(directed, park.Entry{CallID: "same-call"})
			if !errors.Is(err, park.ErrDoublePark) || !strings.Contains(err.Error(), "in orbit 7000") {
				t.Errorf("Allocate(%q) again: %v, want ErrDoublePark in orbit 7000", directed, err)
			}
		}
		if n := len(s.List()); n != 1 {
			t.Errorf("%d parked, want 1", n)
		}
		if _, err := s.Claim(a.Orbit, a.Token); err != nil {
			t.Fatal(err)
		}
		mustAllocate(t, s, "", "same-call")
	})
}

func TestContractFullPool(t *testing.T) {
	contract(t, func(t *testing.T, mk factory) {
		for _, policy := range []park.Allocation{park.FirstFree, park.NextFree} {
			s := mk(t, policy, park.OrbitRange{Start: "7000", End: "7001"})
			orbits(t, s, 2, "a")
			if _, err := s.Allocate("", park.Entry{CallID: "third"}); !errors.Is(err, park.ErrNoFreeOrbit) {
				t.Errorf("%s: third park: %v, want ErrNoFreeOrbit", policy, err)
			}
			claim(t, s, "7001")
			if got := mustAllocate(t, s, "", "fourth").Orbit; got != "7001" {
				t.Errorf("%s: after a claim: %s", policy, got)
			}
		}
	})
}

func TestContractClaim(t *testing.T) {
	contract(t, func(t *testing.T, mk factory) {
		s := mk(t, park.FirstFree, park.OrbitRange{Start: "7000", End: "7009"})
		a := mustAllocate(t, s, "", "a")
		if _, err := s.Claim("7001", ""); !errors.Is(err, park.ErrOrbitEmpty) {
			t.Errorf("Claim(empty orbit): %v", err)
		}
		if _, err := s.Claim("9999", ""); !errors.Is(err, park.ErrNoSuchOrbit) {
			t.Errorf("Claim(9999): %v", err)
		}
		got, err := s.Claim("7000", "")
		if err != nil || !same(got, a) {
			t.Fatalf("Claim = %+v, %v; want %+v", got, err, a)
		}
		if _, ok := s.Get("7000"); ok {
			t.Error("claimed orbit still occupied")
		}
		if _, ok := s.ByToken(a.Token); ok {
			t.Error("claimed token still found")
		}
		if _, err := s.Claim("7000", ""); !errors.Is(err, park.ErrOrbitEmpty) {
			t.Errorf("second Claim: %v", err)
		}
	})
}

func TestContractRelease(t *testing.T) {
	contract(t, func(t *testing.T, mk factory) {
		s := mk(t, park.FirstFree, park.OrbitRange{Start: "7000", End: "7009"})
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
		if l := s.List(); len(l) != 1 || !same(l[0], b) {
			t.Errorf("List = %+v", l)
		}
		mustAllocate(t, s, "", "a")
	})
}

// TestContractSafeRetrieve: a safe-retrieve token must not connect to
// another call parked later in the same orbit.
func TestContractSafeRetrieve(t *testing.T) {
	contract(t, func(t *testing.T, mk factory) {
		s := mk(t, park.FirstFree, park.OrbitRange{Start: "7000", End: "7009"})
		a := mustAllocate(t, s, "", "mary")
		if !s.Release("7000", a.Token) {
			t.Fatal("Release A failed")
		}
		b := mustAllocate(t, s, "", "steven")
		if b.Orbit != "7000" || b.Token == a.Token {
			t.Fatalf("B = %+v", b)
		}
		if _, err := s.Claim("7000", a.Token); !errors.Is(err, park.ErrSafeRetrieve) {
			t.Fatalf("Claim with A's token: %v, want ErrSafeRetrieve", err)
		}
		if got, ok := s.Get("7000"); !ok || !same(got, b) {
			t.Fatalf("B no longer parked: %+v, %v", got, ok)
		}
		if _, ok := s.ByToken(a.Token); ok {
			t.Error("ByToken(A) found an entry")
		}
		if s.Release("7000", a.Token) {
			t.Error("Release with A's token freed B")
		}
		if got, err := s.Claim("7000", b.Token); err != nil || !same(got, b) {
			t.Fatalf("Claim with B's token = %+v, %v", got, err)
		}
	})
}

func TestContractList(t *testing.T) {
	contract(t, func(t *testing.T, mk factory) {
		s := mk(t, park.FirstFree, park.OrbitRange{Start: "8000", End: "8009"}, park.OrbitRange{Start: "7000", End: "7009"})
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
	})
}

func TestContractReplace(t *testing.T) {
	contract(t, func(t *testing.T, mk factory) {
		s := mk(t, park.FirstFree, park.OrbitRange{Start: "10", End: "11"})
		a := mustAllocate(t, s, "", "parker-call")
		b := mustAllocate(t, s, "", "other")
		if _, err := s.Replace(a.Orbit, "forged", park.Entry{CallID: "x"}); !errors.Is(err, park.ErrOrbitEmpty) {
			t.Fatalf("Replace with a forged token: %v, want ErrOrbitEmpty", err)
		}
		if _, err := s.Replace(a.Orbit, a.Token, park.Entry{CallID: "other"}); !errors.Is(err, park.ErrDoublePark) {
			t.Fatalf("Replace with a call parked in %s: %v, want ErrDoublePark", b.Orbit, err)
		}
		if _, err := s.Replace(a.Orbit, a.Token, park.Entry{}); !errors.Is(err, park.ErrNoCallID) {
			t.Fatalf("Replace without Call-ID: %v", err)
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
		if e, ok := s.Get(a.Orbit); !ok || !same(e, n) {
			t.Fatalf("orbit %s holds %+v", a.Orbit, e)
		}
		if _, ok := s.ByToken(a.Token); ok {
			t.Fatal("the old token still finds the park")
		}
		if e, ok := s.ByToken(n.Token); !ok || !same(e, n) {
			t.Fatalf("the new token finds %+v, %v", e, ok)
		}
		if _, err := s.Allocate("", park.Entry{CallID: "parker-call2"}); !errors.Is(err, park.ErrNoFreeOrbit) {
			t.Fatalf("the replaced orbit is free to reuse: %v", err)
		}
		// The replaced Call-ID is no longer parked.
		if _, err := s.Claim(b.Orbit, ""); err != nil {
			t.Fatal(err)
		}
		mustAllocate(t, s, "", "parker-call")
	})
}

// TestContractConcurrentAllocate: callers parked at the same instant never
// share an orbit.
func TestContractConcurrentAllocate(t *testing.T) {
	contract(t, func(t *testing.T, mk factory) {
		for _, policy := range []park.Allocation{park.FirstFree, park.NextFree} {
			s := mk(t, policy, park.OrbitRange{Start: "7000", End: "7099"})
			const n = 50
			entries := make([]park.Entry, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					entries[i], errs[i] = s.Allocate("", park.Entry{CallID: fmt.Sprintf("call-%d", i)})
				})
			}
			wg.Wait()
			orbitSeen, tokenSeen := map[string]bool{}, map[string]bool{}
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
	})
}

func TestContractConcurrentClaim(t *testing.T) {
	contract(t, func(t *testing.T, mk factory) {
		for _, token := range []string{"", "token"} {
			s := mk(t, park.FirstFree, park.OrbitRange{Start: "7000", End: "7009"})
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
					case err == nil && same(got, e):
						wins.Add(1)
					case errors.Is(err, park.ErrOrbitEmpty):
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
	})
}
