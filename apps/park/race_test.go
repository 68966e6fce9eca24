package park_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/apps/park"
	"github.com/switchboard-sip/switchboard/endpoint"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// latencyStore is a store with the round-trip time of a shared store
// (Redis, SQL) after every operation: what one operation does is visible
// to the others at once, but the caller learns of it a little later.
type latencyStore struct {
	park.Store
	rtt time.Duration
}

func (s latencyStore) wait() { time.Sleep(s.rtt) }

func (s latencyStore) Allocate(directed string, e park.Entry) (park.Entry, error) {
	defer s.wait()
	return s.Store.Allocate(directed, e)
}

func (s latencyStore) Release(orbit, token string) bool {
	defer s.wait()
	return s.Store.Release(orbit, token)
}

func (s latencyStore) Claim(orbit, token string) (park.Entry, error) {
	defer s.wait()
	return s.Store.Claim(orbit, token)
}

func (s latencyStore) Replace(orbit, token string, e park.Entry) (park.Entry, error) {
	defer s.wait()
	return s.Store.Replace(orbit, token, e)
}

// TestAttendedCompletionsRaceBlindParks: 200 attended parks are in
// progress (each parker's call to the park address holds an orbit) on a
// pool with 5 orbits to spare; then 200 attended completions (INVITEs with
// Replaces, sent by the parked parties on their parkers' REFERs) race 200
// blind parks. Every completion keeps its orbit (one store operation, no
// window in which a blind park can take it), no orbit holds two calls, no
// parked call is lost, exactly 5 blind parks get an orbit and every other
// one is refused with a clean 486 No Free Orbit. Before the fix a
// completion released the orbit and allocated it again, and blind parks
// took orbits in between. The store has a shared store's latency (2 ms).
func TestAttendedCompletionsRaceBlindParks(t *testing.T) {
	const n, spare = 200, 5
	orbits := []park.OrbitRange{{Start: "7000", End: fmt.Sprint(7000 + n + spare - 1)}}
	mem, err := park.NewMemoryStore(orbits, park.FirstFree)
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, park.Config{Orbits: orbits}, park.WithStore(latencyStore{mem, 2 * time.Millisecond}))
	parker, other, blind := sbt.NewPhone(t, "parker"), sbt.NewPhone(t, "other"), sbt.NewPhone(t, "blind")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	type attended struct{ withOther, consult *sbt.PhoneCall }
	parks := make([]attended, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 40)
	for i := range parks {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			wo, err := parker.DialContext(ctx, other.URI(), endpoint.EstablishOptions{})
			if err != nil {
				t.Errorf("parker to other: %v", err)
				return
			}
			consult, err := parker.DialContext(ctx, r.svc.URI(), endpoint.EstablishOptions{})
			if err != nil {
				t.Errorf("parker to the park address: %v", err)
				return
			}
			parks[i] = attended{wo, consult}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if l := r.svc.List(); len(l) != n {
		t.Fatalf("%d orbits held by attended parks, want %d", len(l), n)
	}

	start := make(chan struct{})
	var mu sync.Mutex
	var completionErrs []error
	blindOK, refused := 0, map[string]int{}
	for _, p := range parks {
		wg.Go(func() {
			<-start
			if err := p.withOther.TransferReplacing(ctx, p.consult.Call, endpoint.TransferOptions{}); err != nil {
				mu.Lock()
				completionErrs = append(completionErrs, err)
				mu.Unlock()
			}
		})
	}
	for range n {
		wg.Go(func() {
			<-start
			_, err := blind.DialContext(ctx, r.svc.URI(), endpoint.EstablishOptions{
				Headers: []endpoint.Header{{Name: "Referred-By", Value: "<sip:someone@127.0.0.1>"}}})
			mu.Lock()
			defer mu.Unlock()
			var re *endpoint.ResponseError
			switch {
			case err == nil:
				blindOK++
			case errors.As(err, &re):
				refused[fmt.Sprintf("%d %s", re.Code, re.Reason)]++
			default:
				t.Errorf("blind park: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()

	if len(completionErrs) > 0 {
		t.Errorf("%d of %d attended completions failed, first: %v", len(completionErrs), n, completionErrs[0])
	}
	if blindOK != spare || refused["486 No Free Orbit"] != n-spare || len(refused) != 1 {
		t.Errorf("blind parks: %d parked, refusals %v; want %d parked and %d × 486 No Free Orbit", blindOK, refused, spare, n-spare)
	}
	l := r.svc.List()
	seen := map[string]bool{}
	completed := 0
	for _, e := range l {
		if seen[e.Orbit] {
			t.Errorf("orbit %s holds two calls", e.Orbit)
		}
		seen[e.Orbit] = true
		if strings.Contains(e.Parked, "other@") {
			completed++
		}
	}
	if completed != n || len(l) != n+spare {
		t.Errorf("%d orbits held, %d of them by completed attended parks; want %d and %d", len(l), completed, n+spare, n)
	}
}
