package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboard-sip/switchboard/apps/park"
)

// TestRedisOutage: with redis-server killed, every operation fails at once
// with park.ErrStoreUnavailable; after it restarts (empty: no persistence)
// parks are refused until the nodes have put back the calls they hold,
// then work again, and no orbit is held twice.
func TestRedisOutage(t *testing.T) {
	const release = 2 * time.Second
	srv := startRedis(t)
	nodes := cluster(t, srv, 2, park.FirstFree, release, park.OrbitRange{Start: "7000", End: "7009"})
	a, b := nodes[0], nodes[1]
	a1 := mustAllocate(t, a, "", "a1")
	a2 := mustAllocate(t, a, "", "a2")
	a3 := mustAllocate(t, a, "", "a3")
	b1 := mustAllocate(t, b, "", "b1")

	srv.stop()
	start := time.Now()
	ops := map[string]error{}
	_, ops["allocate"] = b.Allocate("", park.Entry{CallID: "during"})
	_, ops["directed allocate"] = a.Allocate("7009", park.Entry{CallID: "during"})
	_, ops["claim"] = b.Claim(a1.Orbit, "") // its reply is lost: a1 stays a's
	_, ops["replace"] = a.Replace(a3.Orbit, a3.Token, park.Entry{CallID: "successor"})
	_, _, ops["get"] = b.GetContext(context.Background(), a1.Orbit)
	_, ops["list"] = a.ListContext(context.Background())
	var released bool
	released, ops["release"] = a.ReleaseContext(context.Background(), a2.Orbit, a2.Token) // a2 hung up
	for op, err := range ops {
		if !errors.Is(err, park.ErrStoreUnavailable) {
			t.Errorf("%s while Redis is down: %v, want ErrStoreUnavailable", op, err)
		}
	}
	t.Logf("7 operations refused in %v; e.g. %v", time.Since(start).Round(time.Millisecond), ops["allocate"])
	if released || a.Release(a2.Orbit, a2.Token) {
		t.Error("Release reported success while Redis is down")
	}
	if _, ok := b.Get(a1.Orbit); ok {
		t.Error("Get found an entry while Redis is down")
	}
	if l := b.List(); len(l) != 0 {
		t.Errorf("List while Redis is down: %+v", l)
	}

	srv.start() // empty
	up := time.Now()
	var first park.Entry
	refused := 0
	for {
		e, err := b.Allocate("", park.Entry{CallID: "after"})
		if err == nil {
			first = e
			break
		}
		if !errors.Is(err, park.ErrStoreUnavailable) {
			t.Fatalf("Allocate after Redis restarted: %v", err)
		}
		refused++
		if time.Since(up) > 3*release {
			t.Fatalf("parks still refused %v after Redis restarted: %v", time.Since(up), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("parks refused %d times for %v after Redis restarted empty, then accepted", refused, time.Since(up).Round(time.Millisecond))

	// The calls the nodes still hold are back, with their tokens and
	// owners; a2, released during the outage, is not.
	for _, want := range []struct {
		e    park.Entry
		node string
	}{{a1, "node-1"}, {a3, "node-1"}, {b1, "node-2"}} {
		e, node, ok, err := b.Owner(context.Background(), want.e.Orbit)
		if err != nil || !ok || !same(e, want.e) || node != want.node {
			t.Errorf("orbit %s after restart: %+v on %q, %v, %v; want %+v on %s", want.e.Orbit, e, node, ok, err, want.e, want.node)
		}
	}
	if e, ok := a.Get(a2.Orbit); ok && e.CallID == "a2" {
		t.Errorf("a2, released during the outage, is parked again: %+v", e)
	}
	// Fill the pool: no orbit is handed out twice.
	held := map[string]string{a1.Orbit: "a1", a3.Orbit: "a3", b1.Orbit: "b1", first.Orbit: "after"}
	if len(held) != 4 {
		t.Fatalf("orbit held twice right after restart: %v", held)
	}
	for i := 0; ; i++ {
		st := nodes[i%2]
		e, err := st.Allocate("", park.Entry{CallID: fmt.Sprint("fill-", i)})
		if errors.Is(err, park.ErrNoFreeOrbit) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if c, dup := held[e.Orbit]; dup {
			t.Fatalf("orbit %s given to fill-%d while %s holds it", e.Orbit, i, c)
		}
		held[e.Orbit] = e.CallID
	}
	if len(held) != 10 {
		t.Errorf("%d orbits held when the pool is full, want 10", len(held))
	}
	// The old tokens still work after the outage.
	if _, err := b.Claim(a1.Orbit, a1.Token); err != nil {
		t.Errorf("safe retrieve of a1 after the outage: %v", err)
	}
}

// TestRedisHung: with redis-server stopped (SIGSTOP), operations time out
// with park.ErrStoreUnavailable after Config.Timeout. The scripts may still
// run when it resumes: the node then releases the park whose reply it
// lost, and puts back the call whose claim it lost.
func TestRedisHung(t *testing.T) {
	const release = 2 * time.Second
	srv := startRedis(t)
	st := newRedisStore(t, srv, "node-1", "", park.FirstFree, release, park.OrbitRange{Start: "7000", End: "7009"})
	a1 := mustAllocate(t, st, "", "a1")
	if err := srv.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, errAlloc := st.Allocate("", park.Entry{CallID: "lost-reply"})
	_, errClaim := st.Claim(a1.Orbit, a1.Token)
	took := time.Since(start)
	if err := srv.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{errAlloc, errClaim} {
		if !errors.Is(err, park.ErrStoreUnavailable) {
			t.Errorf("operation on a hung Redis: %v, want ErrStoreUnavailable", err)
		}
	}
	t.Logf("2 operations on a hung Redis failed in %v (timeout 1s each): %v", took.Round(time.Millisecond), errAlloc)
	deadline := time.Now().Add(release)
	for {
		l := st.List()
		if len(l) == 1 && same(l[0], a1) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after Redis resumed: %+v; want only a1", l)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRedisDownPastTTL: Redis down for longer than the heartbeat TTL and
// restarted with its data (a snapshot), so every heartbeat has expired,
// must not make the nodes release each other's orbits, even for a moment
// (node 2 keeps parking to catch one): a node judges others dead only
// after a whole TTL back in touch.
func TestRedisDownPastTTL(t *testing.T) {
	const release = 2 * time.Second
	srv := startRedis(t)
	nodes := cluster(t, srv, 2, park.FirstFree, release, park.OrbitRange{Start: "7000", End: "7009"})
	var want []park.Entry
	for i := range 4 {
		want = append(want, mustAllocate(t, nodes[i%2], "", fmt.Sprint("call-", i)))
	}
	c := redis.NewClient(&redis.Options{Addr: strings.TrimSuffix(strings.TrimPrefix(srv.URL(), "redis://"), "/0")})
	if err := c.Save(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	srv.stop()
	time.Sleep(release) // twice the TTL
	srv.start()         // loads the snapshot
	for end := time.Now().Add(2 * release); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		_, err := nodes[1].Allocate("", park.Entry{CallID: fmt.Sprint("probe-", time.Now().UnixNano())})
		if err != nil && !errors.Is(err, park.ErrNoFreeOrbit) && !errors.Is(err, park.ErrStoreUnavailable) {
			t.Fatal(err)
		}
	}
	for _, w := range want {
		if e, ok := nodes[1].Get(w.Orbit); !ok || !same(e, w) {
			t.Errorf("after the outage orbit %s holds %+v, want %+v", w.Orbit, e, w)
		}
	}
}
