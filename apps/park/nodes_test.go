package park_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/apps/park"
	"github.com/switchboard-sip/switchboard/apps/park/redisstore"
	"github.com/switchboard-sip/switchboard/endpoint"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// startParkRedis starts a redis-server without persistence on a free
// loopback port and kills it, by its PID, at cleanup. It returns its URL.
func startParkRedis(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal("redis-server not installed (scripts/test installs it): ", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			break
		}
		select {
		case <-done:
			t.Fatalf("redis-server exited: %v", cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s not up: %v", addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return "redis://" + addr + "/0"
}

// nodeRig is one Switchboard node: a rig (server, park service, desk app)
// whose park store is shared in Redis.
type nodeRig struct {
	*rig
	store *redisstore.Store
}

// newNodeRig starts node id on its own platform with a Redis store at url
// that publishes the platform's address.
func newNodeRig(t *testing.T, url, id string, cfg park.Config, releaseAfter time.Duration) *nodeRig {
	t.Helper()
	srv := sbt.NewServer(t, trustLoopback)
	if len(cfg.Orbits) == 0 {
		cfg.Orbits = []park.OrbitRange{{Start: "7000", End: "7009"}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := redisstore.New(ctx, url, id, redisstore.Config{Orbits: cfg.Orbits, ReleaseAfter: releaseAfter,
		Timeout: time.Second, Address: fmt.Sprintf("127.0.0.1:%d", srv.Port())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	r := &rig{srv: srv, desk: make(chan park.Entry, 64), errs: make(chan error, 64)}
	svc, err := park.New(srv.Platform, cfg, park.WithMusic(newMusic(t), ""), park.WithStore(st))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	r.svc = svc
	srv.Handle(t, "desk", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		if err := c.Accept(ctx); err != nil {
			r.errs <- err
			return
		}
		e, err := svc.Park(ctx, c, park.ParkOptions{Parker: "sip:parker@127.0.0.1"})
		if err != nil {
			r.errs <- err
			return
		}
		r.desk <- e
	}))
	return &nodeRig{rig: r, store: st}
}

// twoNodes starts node-1 and node-2 sharing one Redis, and checks at
// cleanup that their goroutines (pub/sub subscribers included) are gone.
func twoNodes(t *testing.T, releaseAfter time.Duration) (*nodeRig, *nodeRig) {
	sbt.CheckGoroutines(t) // first, so that it checks after every cleanup
	url := startParkRedis(t)
	return newNodeRig(t, url, "node-1", park.Config{}, releaseAfter), newNodeRig(t, url, "node-2", park.Config{}, releaseAfter)
}

const (
	parkedHz    = 440.0
	retrieverHz = 1300.0
)

// TestRetrieveFromOtherNode: a call parked on node 1 is retrieved by
// dialling its orbit at node 2 (which bridges to node 1): both parties
// hear each other's tones, the music stops and the orbit is free.
func TestRetrieveFromOtherNode(t *testing.T) {
	n1, n2 := twoNodes(t, 2*time.Second)
	parked, e := n1.parkPhone(t, sbt.NewPhone(t, "caller"))
	hears(t, parked, musicHz, 0.8)
	parked.StartTone(parkedHz)

	// Federation rules are unchanged at node 2: a federated user gets 403.
	bob := sbt.NewPhone(t, "bob")
	fed, err := endpoint.NewApplication(bob.Server.Platform, endpoint.Settings{OwnerURI: "sip:eve@partner.example"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var re *endpoint.ResponseError
	if err := fed.NewConversation().NewCall().Establish(ctx, n2.svc.OrbitURI(e.Orbit), endpoint.EstablishOptions{}); !errors.As(err, &re) || re.Code != 403 {
		t.Fatalf("federated retrieve at node 2: %v, want 403", err)
	}

	rc := bob.Dial(t, n2.svc.OrbitURI(e.Orbit))
	rc.StartTone(retrieverHz)
	hears(t, rc, parkedHz, 0.7)
	hears(t, parked, retrieverHz, 0.7)
	parked.WaitNoTone(t, musicHz, 5*time.Second)
	if l := n2.svc.List(); len(l) != 0 {
		t.Errorf("orbit still held after the retrieval: %+v", l)
	}
	rc.Hangup(t)
	parked.WaitTerminated(t, 10*time.Second)
}

// TestSafeRetrieveFromOtherNode: the safe retrieve URI of a park on node 1
// works at node 2 too, and a reused orbit is still refused there.
func TestSafeRetrieveFromOtherNode(t *testing.T) {
	n1, n2 := twoNodes(t, 2*time.Second)
	parked, e := n1.parkPhone(t, sbt.NewPhone(t, "caller"))
	parked.StartTone(parkedHz)
	safe := n2.svc.SafeRetrieveURI(e)
	rc := sbt.NewPhone(t, "bob").Dial(t, safe)
	rc.StartTone(retrieverHz)
	hears(t, rc, parkedHz, 0.7)
	hears(t, parked, retrieverHz, 0.7)
	rc.Hangup(t)
	parked.WaitTerminated(t, 10*time.Second)

	// The orbit now holds another park: the old safe URI gets 404.
	_, e2 := n1.parkPhone(t, sbt.NewPhone(t, "steven"))
	if e2.Orbit != e.Orbit {
		t.Fatalf("second park on %s, want %s", e2.Orbit, e.Orbit)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var re *endpoint.ResponseError
	if _, err := sbt.NewPhone(t, "mallory").DialContext(ctx, safe, endpoint.EstablishOptions{}); !errors.As(err, &re) || re.Code != 404 {
		t.Fatalf("stale safe retrieve at node 2: %v, want 404", err)
	}
}

// TestOneRetrieverWinsAcrossNodes: ten phones dial the orbit of a call
// parked on node 1 at once, five at node 1 and five at node 2: exactly one
// is connected (and hears the parked party), the nine others get a 4xx.
// Then again with all ten at node 2, so that every retrieval is bridged
// and the owner's claim alone decides.
func TestOneRetrieverWinsAcrossNodes(t *testing.T) {
	n1, n2 := twoNodes(t, 2*time.Second)
	t.Run("both nodes", func(t *testing.T) { oneWins(t, n1, []*nodeRig{n1, n2}) })
	t.Run("all bridged", func(t *testing.T) { oneWins(t, n1, []*nodeRig{n2}) })
}

// oneWins parks a call on owner and has ten phones retrieve it at once,
// phone i at nodes[i%len(nodes)].
func oneWins(t *testing.T, owner *nodeRig, nodes []*nodeRig) {
	parked, e := owner.parkPhone(t, sbt.NewPhone(t, "caller"))
	parked.StartTone(parkedHz)
	const n = 10
	phones := make([]*sbt.Phone, n)
	for i := range phones {
		phones[i] = sbt.NewPhone(t, fmt.Sprint("r", i))
	}
	type result struct {
		pc  *sbt.PhoneCall
		err error
	}
	res := make([]result, n)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, ph := range phones {
		node := nodes[i%len(nodes)]
		wg.Go(func() {
			<-start
			pc, err := ph.DialContext(ctx, node.svc.OrbitURI(e.Orbit), endpoint.EstablishOptions{})
			res[i] = result{pc, err}
		})
	}
	close(start)
	wg.Wait()
	var winner *sbt.PhoneCall
	codes := map[int]int{}
	for i, r := range res {
		var re *endpoint.ResponseError
		node := nodes[i%len(nodes)].store.Node()
		switch {
		case r.err == nil:
			if winner != nil {
				t.Fatalf("two retrievers won (phone %d via %s too)", i, node)
			}
			winner = r.pc
			t.Logf("winner: phone %d via %s", i, node)
		case errors.As(r.err, &re) && re.Code >= 400 && re.Code < 500:
			codes[re.Code]++
		default:
			t.Errorf("phone %d via %s: %v, want success or a 4xx", i, node, r.err)
		}
	}
	if winner == nil {
		t.Fatal("nobody retrieved the call")
	}
	t.Logf("losers' responses: %v", codes)
	winner.StartTone(retrieverHz)
	hears(t, winner, parkedHz, 0.7)
	hears(t, parked, retrieverHz, 0.7)
	winner.Hangup(t)
	parked.WaitTerminated(t, 10*time.Second)
}

// TestBusyLampAcrossNodes: watchers subscribed to orbit 7000 through node 1
// and through node 2 both see a call parked on node 1 make it occupied,
// then free when the parked party hangs up, with versions 0, 1, 2.
func TestBusyLampAcrossNodes(t *testing.T) {
	n1, n2 := twoNodes(t, 2*time.Second)
	watchers := []*lampWatcher{
		newLampWatcher(t, n1.srv.Addr("udp"), "7000"),
		newLampWatcher(t, n2.srv.Addr("udp"), "7000"),
	}
	for _, w := range watchers {
		w.wait(t, "initial NOTIFY", func() bool { return len(w.got) >= 1 })
	}
	parked, e := n1.parkPhone(t, sbt.NewPhone(t, "caller"))
	if e.Orbit != "7000" {
		t.Fatalf("parked on %s", e.Orbit)
	}
	for i, w := range watchers {
		w.wait(t, fmt.Sprintf("watcher %d: occupied", i+1), func() bool { return len(w.got) >= 2 && w.got[len(w.got)-1].state == "confirmed" })
	}
	parked.Hangup(t)
	for i, w := range watchers {
		w.wait(t, fmt.Sprintf("watcher %d: free", i+1), func() bool { return len(w.got) >= 3 && w.got[len(w.got)-1].state == "terminated" })
	}
	// Let any late or duplicate NOTIFY arrive before checking.
	time.Sleep(300 * time.Millisecond)
	for i, w := range watchers {
		got := w.states()
		for j, s := range got {
			if s.version != j {
				t.Errorf("watcher %d: versions %v, want 0, 1, 2", i+1, versions(got))
				break
			}
		}
		if len(got) != 3 {
			t.Errorf("watcher %d: %d NOTIFYs %+v, want 3", i+1, len(got), got)
		}
	}
}

// TestDeadNodeOrbitsReleasedAndLampsNotified: node 1 parks a call and
// then stops (its store's heartbeat goes away); node 2's liveness sweep
// releases the orbit within ReleaseAfter, and a watcher subscribed through
// node 2 sees it free.
func TestDeadNodeOrbitsReleasedAndLampsNotified(t *testing.T) {
	const releaseAfter = 2 * time.Second
	n1, n2 := twoNodes(t, releaseAfter)
	w := newLampWatcher(t, n2.srv.Addr("udp"), "7000")
	w.wait(t, "initial NOTIFY", func() bool { return len(w.got) >= 1 })
	_, e := n1.parkPhone(t, sbt.NewPhone(t, "caller"))
	if e.Orbit != "7000" {
		t.Fatalf("parked on %s", e.Orbit)
	}
	w.wait(t, "occupied", func() bool { return len(w.got) >= 2 && w.got[len(w.got)-1].state == "confirmed" })
	stopped := time.Now()
	_ = n1.store.Close() // node 1 leaves: no heartbeat any more
	w.wait(t, "free after node 1 died", func() bool { return w.got[len(w.got)-1].state == "terminated" })
	took := time.Since(stopped)
	t.Logf("orbit released and watcher notified %v after node 1 stopped", took.Round(time.Millisecond))
	if took > releaseAfter {
		t.Errorf("released after %v, want within %v", took, releaseAfter)
	}
	if _, ok := n2.store.Get("7000"); ok {
		t.Error("orbit 7000 still held")
	}
	got := w.states()
	for j, s := range got {
		if s.version != j {
			t.Errorf("versions %v, want 0, 1, 2, ...", versions(got))
			break
		}
	}
}
