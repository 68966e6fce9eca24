package redisstore_test

import (
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/apps/park"
)

// TestRestartReleasesOwnLeftovers: a node killed with calls parked (Crash:
// no Close, its heartbeat left to expire) and started again under the same
// id, at once (its old heartbeat still alive) and as the only node (no
// other node would ever reap its id), releases the orbits its previous run
// held: they are free again, and a node watching is told.
func TestRestartReleasesOwnLeftovers(t *testing.T) {
	const release = 10 * time.Second // a TTL far longer than the restart takes
	srv := startRedis(t)
	a := addressed(t, srv, "node-a", "127.0.0.2:5060", release)
	var held []park.Entry
	for _, c := range []string{"c1", "c2", "c3"} {
		e, err := a.Allocate("", park.Entry{CallID: c})
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, e)
	}
	a.Crash()
	w := addressed(t, srv, "watcher", "127.0.0.3:5060", release)
	cw := watchChanges(w)
	if l, err := w.ListContext(t.Context()); err != nil || len(l) != 3 {
		t.Fatalf("before the restart Redis holds %+v, %v; want the 3 parks", l, err)
	}
	start := time.Now()
	a2 := addressed(t, srv, "node-a", "127.0.0.2:5060", release)
	for _, e := range held {
		cw.waitFor(t, e.Orbit, 2*time.Second)
	}
	if l, err := w.ListContext(t.Context()); err != nil || len(l) != 0 {
		t.Fatalf("after the restart Redis still holds %+v, %v", l, err)
	}
	e, err := a2.Allocate("", park.Entry{CallID: "c4"})
	if err != nil || e.Orbit != held[0].Orbit {
		t.Fatalf("first park after the restart: %+v, %v; want orbit %s", e, err, held[0].Orbit)
	}
	t.Logf("the restarted node released its previous run's %d orbits %v after starting", len(held), time.Since(start).Round(time.Millisecond))
}
