package redisstore_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/apps/park"
	"github.com/switchboard-sip/switchboard/apps/park/redisstore"
)

// addressed connects node to srv, publishing addr as its SIP address.
func addressed(t *testing.T, srv *server, node, addr string, release time.Duration) *redisstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := redisstore.New(ctx, srv.URL(), node, redisstore.Config{Orbits: []park.OrbitRange{{Start: "7000", End: "7009"}},
		ReleaseAfter: release, Timeout: time.Second, Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

// changes records what OnOrbitChange reports.
type changes struct {
	mu  sync.Mutex
	got []string
	ch  chan struct{}
}

func watchChanges(st *redisstore.Store) *changes {
	c := &changes{ch: make(chan struct{}, 100)}
	st.OnOrbitChange(func(orbit string) {
		c.mu.Lock()
		c.got = append(c.got, orbit)
		c.mu.Unlock()
		c.ch <- struct{}{}
	})
	return c
}

// waitFor waits until the changes reported include orbit.
func (c *changes) waitFor(t *testing.T, orbit string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := time.After(within)
	for {
		c.mu.Lock()
		for _, o := range c.got {
			if o == orbit {
				c.mu.Unlock()
				return time.Since(start)
			}
		}
		c.mu.Unlock()
		select {
		case <-c.ch:
		case <-deadline:
			c.mu.Lock()
			defer c.mu.Unlock()
			t.Fatalf("no change of %q reported within %v (got %q)", orbit, within, c.got)
		}
	}
}

func (c *changes) reset() {
	c.mu.Lock()
	c.got = nil
	c.mu.Unlock()
}

func (c *changes) list() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.got...)
}

// TestClaimHere: a node claims its own park with ClaimHere; another node's
// ClaimHere changes nothing and names the owner and its address; 20
// concurrent ClaimHere and Claim from two nodes: exactly one wins.
func TestClaimHere(t *testing.T) {
	srv := startRedis(t)
	a := addressed(t, srv, "node-a", "127.0.0.2:5060", 2*time.Second)
	b := addressed(t, srv, "node-b", "127.0.0.3:5060", 2*time.Second)
	e, err := a.Allocate("", park.Entry{CallID: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	var ew *park.ElsewhereError
	if _, err := b.ClaimHere(e.Orbit, ""); !errors.As(err, &ew) || ew.Node != "node-a" || ew.Address != "127.0.0.2:5060" || ew.Orbit != e.Orbit {
		t.Fatalf("ClaimHere at node-b: %v, want ElsewhereError naming node-a at 127.0.0.2:5060", err)
	}
	if _, ok := b.Get(e.Orbit); !ok {
		t.Fatal("ClaimHere of another node's park freed the orbit")
	}
	if _, err := a.ClaimHere(e.Orbit, "wrong"); !errors.Is(err, park.ErrSafeRetrieve) {
		t.Fatalf("ClaimHere with a wrong token: %v", err)
	}
	if got, err := a.ClaimHere(e.Orbit, e.Token); err != nil || got.CallID != "c1" {
		t.Fatalf("ClaimHere at the owner: %+v, %v", got, err)
	}

	e, err = a.Allocate("", park.Entry{CallID: "c2"})
	if err != nil {
		t.Fatal(err)
	}
	var wins, elsewhere, empty atomic.Int32
	var wg sync.WaitGroup
	for i := range 20 {
		st := a
		if i%2 == 1 {
			st = b
		}
		wg.Go(func() {
			_, err := st.ClaimHere(e.Orbit, "")
			switch {
			case err == nil:
				wins.Add(1)
			case errors.As(err, new(*park.ElsewhereError)):
				elsewhere.Add(1)
			case errors.Is(err, park.ErrOrbitEmpty):
				empty.Add(1)
			default:
				t.Errorf("ClaimHere: %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 || wins.Load()+elsewhere.Load()+empty.Load() != 20 {
		t.Fatalf("%d wins, %d elsewhere, %d empty; want exactly one win", wins.Load(), elsewhere.Load(), empty.Load())
	}
}

// TestOrbitChangesAcrossNodes: a node is told the orbits other nodes park,
// claim, release and replace (not its own), and those released when a
// node crashes (heartbeat expired, kill -9); after Redis restarts it is
// told "" (changes may have been missed). A second watcher of the same
// store is told too, and one removed is not.
func TestOrbitChangesAcrossNodes(t *testing.T) {
	const release = 2 * time.Second
	srv := startRedis(t)
	a := addressed(t, srv, "node-a", "127.0.0.2:5060", release)
	b := addressed(t, srv, "node-b", "127.0.0.3:5060", release)
	ca, cb := watchChanges(a), watchChanges(b)
	var removed atomic.Int32
	b.OnOrbitChange(func(string) { removed.Add(1) })()
	cb2 := watchChanges(b)

	e, err := a.Allocate("", park.Entry{CallID: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	cb.waitFor(t, e.Orbit, 2*time.Second)
	cb2.waitFor(t, e.Orbit, 2*time.Second)
	if n := removed.Load(); n != 0 {
		t.Errorf("removed watcher told %d changes", n)
	}
	cb.reset()
	if _, err := b.Replace(e.Orbit, e.Token, park.Entry{CallID: "c2"}); err != nil {
		t.Fatal(err)
	}
	ca.waitFor(t, e.Orbit, 2*time.Second)
	ca.reset()
	e2, err := b.Allocate("7005", park.Entry{CallID: "c3"})
	if err != nil {
		t.Fatal(err)
	}
	if ok := b.Release(e2.Orbit, e2.Token); !ok {
		t.Fatal("release failed")
	}
	ca.waitFor(t, "7005", 2*time.Second)
	if _, err := a.Claim(e.Orbit, ""); err != nil {
		t.Fatal(err)
	}
	cb.waitFor(t, e.Orbit, 2*time.Second)
	// Round trips are over; a's own operations were never reported to a.
	for _, o := range ca.list() {
		if o == e.Orbit {
			t.Errorf("node-a told about its own claim of %s: %q", e.Orbit, ca.list())
		}
	}

	// A node crashes holding a park: the sweep (run by b) releases it, and
	// b is told, as any other node would be.
	c := addressed(t, srv, "node-c", "127.0.0.4:5060", release)
	cb.reset()
	e3, err := c.Allocate("", park.Entry{CallID: "c4"})
	if err != nil {
		t.Fatal(err)
	}
	cb.waitFor(t, e3.Orbit, 2*time.Second)
	time.Sleep(100 * time.Millisecond) // no other report of the orbit is on its way
	cb.reset()
	crashed := time.Now()
	c.Crash()
	took := cb.waitFor(t, e3.Orbit, 2*release)
	t.Logf("crashed node's orbit %s released and reported %v after the crash", e3.Orbit, time.Since(crashed).Round(time.Millisecond))
	// The last heartbeat was at most ReleaseAfter/5 before the crash and
	// lives ReleaseAfter/2.
	if early := release/2 - release/5; took < early {
		t.Errorf("reported %v after the crash, before the heartbeat could expire (%v)", took, early)
	}
	if took > release {
		t.Errorf("reported %v after the crash, want within ReleaseAfter %v", took, release)
	}

	// Redis restarts (empty): the subscription comes back and b is told
	// that it may have missed changes.
	cb.reset()
	srv.stop()
	srv.start()
	cb.waitFor(t, "", 5*time.Second)
	e4, err := a.Allocate("", park.Entry{CallID: "after-restart"})
	for deadline := time.Now().Add(5 * time.Second); errors.Is(err, park.ErrStoreUnavailable) && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		e4, err = a.Allocate("", park.Entry{CallID: "after-restart"})
	}
	if err != nil {
		t.Fatal(err)
	}
	cb.waitFor(t, e4.Orbit, 2*time.Second)
}

// TestSilentSubscriptionReplaced: Redis stops answering without closing
// the connection (SIGSTOP, as a silent network path): the store's pings go
// unanswered, it subscribes again, and once Redis answers it reports ""
// (changes may have been missed) and then changes as before.
func TestSilentSubscriptionReplaced(t *testing.T) {
	const release = 2 * time.Second // pings after 400 ms of silence
	srv := startRedis(t)
	a := addressed(t, srv, "node-a", "127.0.0.2:5060", release)
	b := addressed(t, srv, "node-b", "127.0.0.3:5060", release)
	cb := watchChanges(b)
	pid := srv.cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // > ping interval + answer time
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	cb.waitFor(t, "", 5*time.Second)
	var e park.Entry
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if e, err = a.Allocate("", park.Entry{CallID: "after-silence"}); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	cb.waitFor(t, e.Orbit, 2*time.Second)
}
