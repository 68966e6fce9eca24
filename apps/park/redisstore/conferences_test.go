package redisstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/apps/park/redisstore"
)

// TestConferenceDirectory: of nodes claiming one conference at once,
// exactly one becomes its owner and the others are told its address; a
// released entry can be claimed by another node; the entry of a node that
// is gone (its heartbeat deleted by Close, or expired) is taken over by
// the next claim, and a live owner's entry outlives its TTL while its
// heartbeat refreshes it.
func TestConferenceDirectory(t *testing.T) {
	srv := startRedis(t)
	const release = 2 * time.Second
	a := addressed(t, srv, "node-a", "127.0.0.2:5060", release)
	b := addressed(t, srv, "node-b", "127.0.0.3:5060", release)
	c := addressed(t, srv, "node-c", "127.0.0.4:5060", release)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Concurrent claims: one owner.
	for round := range 20 {
		id := fmt.Sprintf("race-%d", round)
		var wg sync.WaitGroup
		owners := make([]string, 3)
		for i, d := range []*redisstore.Conferences{a.Conferences(), b.Conferences(), c.Conferences()} {
			wg.Go(func() {
				var err error
				if owners[i], err = d.Claim(ctx, id); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		local, addr := 0, ""
		for _, o := range owners {
			if o == "" {
				local++
			} else if addr == "" {
				addr = o
			} else if o != addr {
				t.Errorf("%s: told two owners, %q and %q", id, addr, o)
			}
		}
		if local != 1 {
			t.Fatalf("%s: %d nodes think they own it (%q)", id, local, owners)
		}
	}

	// Release, then another node may claim it.
	if o, err := a.Conferences().Claim(ctx, "x"); err != nil || o != "" {
		t.Fatalf("a claims x: %q %v", o, err)
	}
	if o, _ := b.Conferences().Claim(ctx, "x"); o != "127.0.0.2:5060" {
		t.Fatalf("b is told x is at %q, want node-a's address", o)
	}
	// The heartbeat keeps a's entry past its TTL.
	time.Sleep(release + release/2)
	if o, _ := c.Conferences().Claim(ctx, "x"); o != "127.0.0.2:5060" {
		t.Fatalf("after a TTL, c is told x is at %q, want node-a's (refreshed)", o)
	}
	a.Conferences().Release("x")
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		o, err := b.Conferences().Claim(ctx, "x")
		if err == nil && o == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b cannot claim x after a released it: %q %v", o, err)
		}
	}
	// b goes away: its entry is taken over at once.
	_ = b.Close()
	if o, err := c.Conferences().Claim(ctx, "x"); err != nil || o != "" {
		t.Fatalf("c claims x of the closed node-b: %q %v, want it", o, err)
	}
	if o, _ := a.Conferences().Claim(ctx, "x"); o != "127.0.0.4:5060" {
		t.Fatalf("a is told x is at %q, want node-c's address", o)
	}
}
