package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/apps/park"
	"github.com/switchboard-sip/switchboard/apps/park/redisstore"
)

// cluster connects n nodes ("node-1"...) to one pool in srv.
func cluster(t *testing.T, srv *server, n int, policy park.Allocation, release time.Duration, r park.OrbitRange) []*redisstore.Store {
	t.Helper()
	var l []*redisstore.Store
	for i := range n {
		l = append(l, newRedisStore(t, srv, fmt.Sprintf("node-%d", i+1), "", policy, release, r))
	}
	return l
}

// TestNodesAllocate: three nodes (separate clients) park 30 calls at once
// on a pool of 10: 10 distinct orbits, each owned by the node that parked
// it, and 20 refusals.
func TestNodesAllocate(t *testing.T) {
	for _, policy := range []park.Allocation{park.FirstFree, park.NextFree} {
		t.Run(string(policy), func(t *testing.T) {
			srv := startRedis(t)
			nodes := cluster(t, srv, 3, policy, 2*time.Second, park.OrbitRange{Start: "7000", End: "7009"})
			type result struct {
				e    park.Entry
				node string
				err  error
			}
			res := make([]result, 30)
			var wg sync.WaitGroup
			for i := range res {
				st := nodes[i%3]
				wg.Go(func() {
					e, err := st.Allocate("", park.Entry{CallID: fmt.Sprint("call-", i)})
					res[i] = result{e, st.Node(), err}
				})
			}
			wg.Wait()
			seen := map[string]bool{}
			full := 0
			for _, r := range res {
				switch {
				case r.err == nil:
					if seen[r.e.Orbit] {
						t.Fatalf("orbit %s allocated twice", r.e.Orbit)
					}
					seen[r.e.Orbit] = true
					_, owner, ok, err := nodes[0].Owner(context.Background(), r.e.Orbit)
					if err != nil || !ok || owner != r.node {
						t.Errorf("Owner(%s) = %q, %v, %v; want %s", r.e.Orbit, owner, ok, err, r.node)
					}
				case errors.Is(r.err, park.ErrNoFreeOrbit):
					full++
				default:
					t.Errorf("Allocate: %v", r.err)
				}
			}
			if len(seen) != 10 || full != 20 {
				t.Errorf("%d parked, %d refused; want 10 and 20", len(seen), full)
			}
			l, err := nodes[2].ListContext(context.Background())
			if err != nil || len(l) != 10 {
				t.Errorf("ListContext: %d entries, %v", len(l), err)
			}
		})
	}
}

// TestNodesReplaceOrRetrieve: 50 concurrent operations on one orbit from
// three nodes, half safe retrieves and half Replace with the parker's
// token: exactly one wins, and the orbit then holds what the winner says.
func TestNodesReplaceOrRetrieve(t *testing.T) {
	srv := startRedis(t)
	nodes := cluster(t, srv, 3, park.FirstFree, 2*time.Second, park.OrbitRange{Start: "7000", End: "7009"})
	a := mustAllocate(t, nodes[0], "", "parker")
	var wins atomic.Int32
	var replaced atomic.Value
	var wg sync.WaitGroup
	for i := range 50 {
		st := nodes[i%3]
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				_, err = st.Claim(a.Orbit, a.Token)
			} else {
				var n park.Entry
				if n, err = st.Replace(a.Orbit, a.Token, park.Entry{CallID: fmt.Sprint("successor-", i)}); err == nil {
					replaced.Store(n)
				}
			}
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, park.ErrOrbitEmpty), errors.Is(err, park.ErrSafeRetrieve):
			default:
				t.Errorf("op %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d winners, want 1", wins.Load())
	}
	got, ok := nodes[1].Get(a.Orbit)
	if n, isReplace := replaced.Load().(park.Entry); isReplace {
		if !ok || !same(got, n) {
			t.Errorf("after Replace won: orbit holds %+v, %v; want %+v", got, ok, n)
		}
	} else if ok {
		t.Errorf("after a retrieve won: orbit holds %+v", got)
	}
	// And 50 friendly retrieves of one orbit from three nodes.
	nodes[0].Release(a.Orbit, a.Token)
	if n, ok := replaced.Load().(park.Entry); ok {
		nodes[0].Release(n.Orbit, n.Token)
	}
	b := mustAllocate(t, nodes[2], "", "parked")
	wins.Store(0)
	for i := range 50 {
		wg.Go(func() {
			if _, err := nodes[i%3].Claim(b.Orbit, ""); err == nil {
				wins.Add(1)
			} else if !errors.Is(err, park.ErrOrbitEmpty) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d retrievers won, want 1", wins.Load())
	}
}

// TestNodeDeath: the orbits of a node that stops heartbeating are released
// by the survivors within ReleaseAfter; a live node's are not.
func TestNodeDeath(t *testing.T) {
	const release = 2 * time.Second
	srv := startRedis(t)
	nodes := cluster(t, srv, 2, park.FirstFree, release, park.OrbitRange{Start: "7000", End: "7009"})
	dead, survivor := nodes[0], nodes[1]
	for i := range 3 {
		mustAllocate(t, dead, "", fmt.Sprint("dead-", i))
	}
	kept := mustAllocate(t, survivor, "", "kept")
	// Both alive for longer than ReleaseAfter: nothing is released.
	time.Sleep(release * 3 / 2)
	if n := len(survivor.List()); n != 4 {
		t.Fatalf("%d parked while both nodes live, want 4", n)
	}
	dead.Crash()
	died := time.Now()
	for {
		l := survivor.List()
		if len(l) == 1 && same(l[0], kept) {
			break
		}
		if time.Since(died) > release {
			t.Fatalf("after %v the dead node's orbits are still held: %+v", time.Since(died), l)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("dead node's orbits released %v after it died (bound %v)", time.Since(died).Round(time.Millisecond), release)
	if got := mustAllocate(t, survivor, "", "new").Orbit; got != "7000" {
		t.Errorf("freed orbit not reusable: got %s", got)
	}
}

// TestNodeDeathDefault: with the default ReleaseAfter, a dead node's
// orbits are free within 10 s.
func TestNodeDeathDefault(t *testing.T) {
	srv := startRedis(t)
	nodes := cluster(t, srv, 2, park.FirstFree, 0, park.OrbitRange{Start: "7000", End: "7009"})
	mustAllocate(t, nodes[0], "", "dead")
	nodes[0].Crash()
	died := time.Now()
	for len(nodes[1].List()) != 0 {
		if time.Since(died) > 10*time.Second {
			t.Fatalf("orbit still held 10s after its node died")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("released %v after the node died (default bound 10s)", time.Since(died).Round(time.Millisecond))
}
