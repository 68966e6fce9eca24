package kamailio_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/media/dsp"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

const musicHz = 523.25 // the marker tone of the embedded hold music

func toneFile(t *testing.T, hz float64) string {
	return peers.WriteWAV(t, dsp.Sine(8000, hz, 60*time.Second, 0.3), 8000)
}

func toneSeconds(rec []int16, rate int, hz float64) float64 {
	return dsp.ToneFraction(rec, rate, hz) * float64(len(rec)) / float64(rate)
}

// TestNodes runs issue 17's acceptance list on one cluster (Redis, three
// nodes, Kamailio), in order: the destructive steps (drain, Redis stopped,
// kill -9) come last.
func TestNodes(t *testing.T) {
	c := startCluster(t, 300)
	t.Run("ParkOnOneNodeRetrieveOnAnother", func(t *testing.T) { parkAcrossNodes(t, c) })
	t.Run("ThreeHundredParksOneRetriever", func(t *testing.T) { manyParks(t, c) })
	t.Run("ConferencePinnedToOneNode", func(t *testing.T) { conferencePinned(t, c) })
	// Before the watcher: a draining node waits for its subscriptions.
	t.Run("DrainingNodeLeavesTheSet", func(t *testing.T) { drainingNodeLeaves(t, c) })
	t.Run("WatcherOnNode3SeesParkOnNode1", func(t *testing.T) { watcherAcrossNodes(t, c) })
	t.Run("RedisStoppedTenSeconds", func(t *testing.T) { redisOutage(t, c) })
	t.Run("Kill9Node1UnderLoad", func(t *testing.T) { killNode1UnderLoad(t, c) })
}

// parkAcrossNodes: baresip A calls baresip B phone to phone and
// blind-transfers B to sip:park@ at Kamailio, which sends B's INVITE to one
// node; baresip C dials the orbit at Kamailio, which sends it to the next
// node (round-robin), which bridges C to the owner. B hears the music,
// then C; C hears B.
func parkAcrossNodes(t *testing.T, c *cluster) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := peers.StartBaresip(t, peers.BaresipOptions{User: "bob", AutoAnswer: true, AudioFile: toneFile(t, 900)})
	a := peers.StartBaresip(t, peers.BaresipOptions{User: "alice", AudioFile: toneFile(t, 500)})
	if err := a.Dial(b.URI()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WaitEvent(ctx, "CALL_ESTABLISHED"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.WaitEvent(ctx, "CALL_ESTABLISHED"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if _, err := a.Command("transfer", c.uri("park")); err != nil {
		t.Fatal(err)
	}
	var orbit string
	for deadline := time.Now().Add(15 * time.Second); orbit == ""; time.Sleep(50 * time.Millisecond) {
		if l := c.nodes[0].orbits(t); len(l) == 1 {
			orbit = l[0]
		} else if time.Now().After(deadline) {
			t.Fatalf("B was not parked: %v\n%s", l, b.Log())
		}
	}
	if _, err := a.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
		t.Fatalf("A's call did not end after the transfer: %v", err)
	}
	time.Sleep(2 * time.Second) // B hears the music
	cc := peers.StartBaresip(t, peers.BaresipOptions{User: "carol", AudioFile: toneFile(t, 1300)})
	if err := cc.Dial(c.uri(orbit)); err != nil {
		t.Fatal(err)
	}
	if _, err := cc.WaitEvent(ctx, "CALL_ESTABLISHED"); err != nil {
		t.Fatalf("C could not retrieve orbit %s: %v", orbit, err)
	}
	time.Sleep(3 * time.Second)
	if l := c.nodes[2].orbits(t); len(l) != 0 {
		t.Errorf("orbits after the retrieval: %v", l)
	}
	_ = cc.Hangup()
	if _, err := b.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
		t.Fatalf("B's call did not end when C hung up: %v", err)
	}
	if _, err := cc.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
		t.Fatal(err)
	}
	parkedOn, retrievedOn := c.landings("INVITE", c.uri("park")), c.landings("INVITE", c.uri(orbit))
	if len(parkedOn) != 1 || len(retrievedOn) != 1 {
		t.Fatalf("Kamailio sent the park to %d nodes and the retrieval to %d, want 1 each", len(parkedOn), len(retrievedOn))
	}
	if parkedOn[0] == retrievedOn[0] {
		t.Errorf("park and retrieval both landed on %s; want two nodes", parkedOn[0].id)
	}
	recB, rateB := b.RecordingSamples(t)
	recC, rateC := cc.RecordingSamples(t)
	mus, bc, cb := toneSeconds(recB, rateB, musicHz), toneSeconds(recB, rateB, 1300), toneSeconds(recC, rateC, 900)
	t.Logf("parked on %s, retrieved through %s: B heard %.1f s of music and %.1f s of C; C heard %.1f s of B",
		parkedOn[0].id, retrievedOn[0].id, mus, bc, cb)
	if mus < 1.2 {
		t.Errorf("B heard %.1f s of park music, want most of 2 s", mus)
	}
	if bc < 2 {
		t.Errorf("B heard C for %.1f s, want most of 3 s", bc)
	}
	if cb < 2 {
		t.Errorf("C heard B for %.1f s, want most of 3 s", cb)
	}
}

// sippAt runs a SIPp scenario against addr (service user) and returns the
// process; args are added.
func sippAt(t *testing.T, ctx context.Context, addr, service, scenario string, args ...string) *peers.SIPpProcess {
	t.Helper()
	full := append([]string{"-sf", peers.WriteScenario(t, scenario), "-s", service,
		"-p", fmt.Sprint(peers.FreeSIPPort(t)), "-mp", fmt.Sprint(peers.FreeUDPPort(t)), "-trace_logs"}, args...)
	return peers.StartSIPp(t, ctx, append(full, addr)...)
}

// manyParks: 300 SIPp calls park at once through Kamailio, which spreads
// them over the three nodes; they get 300 distinct orbits of the pool of
// 300 and every node lists all 300. A 301st is refused with 486. Then 50
// SIPp calls retrieve one orbit at once through Kamailio (so from all three
// nodes): exactly one is connected, the other 49 refused.
func manyParks(t *testing.T, c *cluster) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	const n = 300
	from := c.kamLogLen()
	parkers := sippAt(t, ctx, c.kamAddr(), "park", parkScenario(25000), "-m", fmt.Sprint(n), "-l", fmt.Sprint(n), "-r", "150")
	var listed []string
	for deadline := time.Now().Add(40 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		listed = c.nodes[1].orbits(t)
		if len(listed) == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls parked after 40 s, want %d", len(listed), n)
		}
	}
	for _, nd := range c.nodes {
		if got := len(nd.orbits(t)); got != n {
			t.Errorf("%s lists %d parked calls, want %d", nd.id, got, n)
		}
	}
	perNode := c.landedSince(from, "INVITE", c.uri("park"))
	t.Logf("300 parks landed: %v", perNode)
	if len(perNode) != 3 {
		t.Errorf("the parks reached %d nodes, want 3: %v", len(perNode), perNode)
	}
	// The 301st.
	res := sippAt(t, ctx, c.kamAddr(), "park", refusedScenario(486), "-m", "1").Wait()
	if res.Successful != 1 {
		t.Errorf("301st park: %d successful (486 expected), exit %d\n%s", res.Successful, res.ExitCode, res.ErrorLog)
	} else {
		logs := peers.ReadLogs(t, res.Dir)
		t.Logf("301st park: %s", strings.TrimSpace(logs))
		if !strings.Contains(logs, "No Free Orbit") {
			t.Errorf("301st park refused without the reason: %s", logs)
		}
	}
	// 50 retrievers of one orbit, spread over the three nodes.
	target := listed[137]
	ret := sippAt(t, ctx, c.kamAddr(), target, callScenario(1000), "-m", "50", "-l", "50", "-r", "500").Wait()
	if ret.Successful != 1 || ret.Failed != 49 {
		t.Errorf("50 retrievals of orbit %s: %d won, %d refused; want 1 and 49\n%s", target, ret.Successful, ret.Failed, tail(ret.ErrorLog, 2000))
	}
	retrNodes := c.landedSince(from, "INVITE", c.uri(target))
	t.Logf("50 retrievals of %s landed %v: %d won, %d refused", target, retrNodes, ret.Successful, ret.Failed)
	if len(retrNodes) != 3 {
		t.Errorf("the retrievals reached %d nodes, want 3", len(retrNodes))
	}
	pres := parkers.Wait()
	// Each parked call logged its orbit: 300 distinct.
	seen := map[string]bool{}
	for _, line := range strings.Split(peers.ReadLogs(t, pres.Dir), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "orbit" {
			if seen[f[1]] {
				t.Errorf("orbit %s given twice", f[1])
			}
			seen[f[1]] = true
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct orbits logged by the parked calls, want %d", len(seen), n)
	}
	// The retrieved one was hung up by its retriever (a BYE the parker's
	// scenario does not expect); the other 299 hung up themselves.
	if pres.Successful < n-1 {
		t.Errorf("parked calls: %d ended as scripted, %d failed; want at least %d\n%s", pres.Successful, pres.Failed, n-1, tail(pres.ErrorLog, 2000))
	}
	for deadline := time.Now().Add(15 * time.Second); len(c.nodes[0].orbits(t)) != 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("orbits still held after every call ended: %d", len(c.nodes[0].orbits(t)))
		}
	}
}

// watcherAcrossNodes: a SIPp busy-lamp watcher subscribed to orbit 7000 at
// node-3 sees a call parked on node-1 make it occupied, then free when the
// call hangs up (RFC 4235 NOTIFYs: terminated, confirmed, terminated).
func watcherAcrossNodes(t *testing.T, c *cluster) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	w := sippAt(t, ctx, c.nodes[2].addr(), "7000", lampScenario("terminated", "confirmed", "terminated"), "-m", "1", "-trace_msg")
	time.Sleep(time.Second) // the first NOTIFY: free
	pc := sbt.NewPhone(t, "parked").Dial(t, "sip:park-7000@"+c.nodes[0].addr())
	pc.Record()
	pc.WaitTone(t, musicHz, 5*time.Second)
	time.Sleep(500 * time.Millisecond)
	pc.Hangup(t)
	res := w.Wait()
	if res.ExitCode != 0 {
		msgs := peers.ReadMessages(t, res.Dir)
		t.Fatalf("watcher at node-3: sipp exit %d\n%s\n%s", res.ExitCode, res.ErrorLog, tail(msgs, 3000))
	}
	t.Logf("watcher at node-3: %s", strings.Join(strings.Fields(peers.ReadLogs(t, res.Dir)), " "))
}

// landedSince counts, per node id, the requests with Request-URI ru
// Kamailio dispatched after its first from log bytes.
func (c *cluster) landedSince(from int, method, ru string) map[string]int {
	out := map[string]int{}
	for _, m := range frontLine.FindAllStringSubmatch(c.kam.log.String()[from:], -1) {
		if m[1] == method && m[2] == ru {
			if n := c.byAddr(m[3]); n != nil {
				out[n.id]++
			}
		}
	}
	return out
}

// drainingNodeLeaves: node-3, holding a call, is sent SIGTERM: it drains,
// answering OPTIONS with 503, and Kamailio takes it out of the set at its
// next ping; 40 SIPp calls through Kamailio all succeed on node-1 and
// node-2. When its last dialog ends (or at its drain_timeout) node-3 exits; restarted on the same
// address it answers 200 again and Kamailio puts it back.
func drainingNodeLeaves(t *testing.T, c *cluster) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	n3 := c.nodes[2]
	held := sbt.NewPhone(t, "held").Dial(t, "sip:echo@"+n3.addr())
	from := c.kamLogLen()
	n3.signal(syscall.SIGTERM)
	took := c.waitKamLog(t, from, 10*time.Second, "node down: sip:"+n3.addr())
	t.Logf("Kamailio took node-3 out of the set %v after its SIGTERM (pings every 1 s)", took.Round(time.Millisecond))
	if code := options(n3.addr(), time.Second); code != 503 {
		t.Errorf("draining node-3 answers OPTIONS with %d, want 503", code)
	}
	from = c.kamLogLen()
	res := sippAt(t, ctx, c.kamAddr(), "echo", callScenario(500), "-m", "40", "-r", "20").Wait()
	landed := c.landedSince(from, "INVITE", c.uri("echo"))
	t.Logf("40 calls while node-3 drains: %d ok, %d failed, landed %v", res.Successful, res.Failed, landed)
	if res.Successful != 40 || landed["node-3"] != 0 {
		t.Errorf("while node-3 drains: %d of 40 calls ok, %d sent to node-3\n%s", res.Successful, landed["node-3"], tail(res.ErrorLog, 2000))
	}
	held.Hangup(t)
	// It exits when its last dialog ends, or at its drain_timeout (8 s):
	// a busy-lamp subscription from an earlier step may still be open.
	select {
	case <-n3.exited:
	case <-time.After(15 * time.Second):
		t.Fatal("node-3 did not exit within its drain_timeout")
	}
	from = c.kamLogLen()
	c.launch(t, n3)
	took = c.waitKamLog(t, from, 10*time.Second, "node up: sip:"+n3.addr())
	t.Logf("restarted node-3 back in the set %v after it answered", took.Round(time.Millisecond))
	from = c.kamLogLen()
	res = sippAt(t, ctx, c.kamAddr(), "echo", callScenario(200), "-m", "9", "-r", "20").Wait()
	if landed := c.landedSince(from, "INVITE", c.uri("echo")); res.Successful != 9 || landed["node-3"] != 3 {
		t.Errorf("after node-3's return: %d of 9 calls ok, landed %v (want 3 per node)", res.Successful, landed)
	}
}

// parkVia parks a new test phone at uri and returns its call (recording)
// and orbit: the one node-2 lists with the call's Call-ID.
func parkVia(t *testing.T, ctx context.Context, c *cluster, name, uri string) (*sbt.PhoneCall, string, error) {
	t.Helper()
	pc, err := sbt.NewPhone(t, name).DialContext(ctx, uri, endpoint.EstablishOptions{})
	if err != nil {
		return nil, "", err
	}
	pc.Record()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for o, id := range c.nodes[1].parked(t) {
			if id == pc.CallID() {
				return pc, o, nil
			}
		}
	}
	t.Fatalf("%s was answered but no orbit lists its Call-ID %s: %v", name, pc.CallID(), c.nodes[1].parked(t))
	return nil, "", nil
}

// redisOutage: redis-server is stopped (SIGSTOP) for 10 s. Parks through
// Kamailio are refused with 503 and the nodes' reason; a call parked
// before keeps hearing the music; when Redis runs again parks work, and no
// orbit is held by two calls.
func redisOutage(t *testing.T, c *cluster) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	before, orbit, err := parkVia(t, ctx, c, "before", c.uri("park"))
	if err != nil {
		t.Fatal(err)
	}
	before.WaitTone(t, musicHz, 5*time.Second)
	c.redis.signal(syscall.SIGSTOP)
	stopped := time.Now()
	resumed := false
	defer func() {
		if !resumed {
			c.redis.signal(syscall.SIGCONT)
		}
	}()
	start := time.Now()
	from := c.kamLogLen()
	_, _, err = parkVia(t, ctx, c, "refused", c.uri("park"))
	var re *endpoint.ResponseError
	if !errors.As(err, &re) || re.Code != 503 || !strings.Contains(re.Reason, "Park Store Unavailable") {
		t.Errorf("park while Redis is stopped: %v, want 503 Park Store Unavailable", err)
	} else {
		t.Logf("park while Redis is stopped: %d %s after %v", re.Code, re.Reason, time.Since(start).Round(time.Millisecond))
	}
	// Kamailio failed over on each node's 503 before giving up.
	if n := strings.Count(c.kam.log.String()[from:], "INVITE "+c.uri("park")+" failed over to"); n != 2 {
		t.Errorf("Kamailio failed the refused park over %d times, want 2 (three nodes)", n)
	}
	before.ResetRecording()
	heard := before.Listen(t, 2*time.Second)
	if s := toneSeconds(heard, before.SampleRate(), musicHz); s < 1.5 {
		t.Errorf("the call parked before the outage heard %.1f s of music in 2 s during it", s)
	}
	time.Sleep(time.Until(stopped.Add(10 * time.Second)))
	c.redis.signal(syscall.SIGCONT)
	resumed = true
	back := time.Now()
	var calls []*sbt.PhoneCall
	orbits := map[string]bool{orbit: true}
	for i := 0; len(calls) < 6; i++ {
		pc, o, err := parkVia(t, ctx, c, fmt.Sprintf("after-%d", i), c.uri("park"))
		if err != nil {
			if time.Since(back) > 20*time.Second {
				t.Fatalf("parks still refused 20 s after Redis returned: %v", err)
			}
			time.Sleep(200 * time.Millisecond)
			continue
		}
		if len(calls) == 0 {
			// A park refused during the outage may have run in Redis when
			// it resumed (its request was queued): the node that gave up on
			// it releases it at its next heartbeat (checked below).
			t.Logf("first park accepted %v after Redis returned; listed then: %v", time.Since(back).Round(time.Millisecond), c.nodes[1].orbits(t))
		}
		if orbits[o] {
			t.Errorf("orbit %s given to a second call", o)
		}
		orbits[o] = true
		calls = append(calls, pc)
	}
	time.Sleep(3 * time.Second) // a few heartbeats and reconciliations
	for _, n := range c.nodes {
		got := n.orbits(t)
		seen := map[string]bool{}
		for _, o := range got {
			if seen[o] || !orbits[o] {
				t.Errorf("%s lists %v; parked: %v", n.id, got, orbits)
				break
			}
			seen[o] = true
		}
		if len(got) != len(orbits) {
			t.Errorf("%s lists %d parked calls, want %d: %v", n.id, len(got), len(orbits), got)
		}
	}
	before.ResetRecording()
	if s := toneSeconds(before.Listen(t, time.Second), before.SampleRate(), musicHz); s < 0.7 {
		t.Errorf("the call parked before the outage hears %.1f s of music in 1 s after it", s)
	}
	for _, pc := range append(calls, before) {
		pc.Hangup(t)
	}
	for deadline := time.Now().Add(10 * time.Second); len(c.nodes[0].orbits(t)) != 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("orbits held after the hang-ups: %v", c.nodes[0].orbits(t))
		}
	}
}

// killNode1UnderLoad: SIPp places a steady 20 calls/s (1 s echo calls)
// through Kamailio; node-1, holding a parked call watched from node-2, is
// killed with SIGKILL. Kamailio marks it down (the time is logged); the
// orbit it held is released by the survivors within 10 s and the watcher
// is told; from the moment Kamailio noticed, 200 new calls at 20/s all
// succeed.
func killNode1UnderLoad(t *testing.T, c *cluster) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	n1 := c.nodes[0]
	parked := sbt.NewPhone(t, "parked-on-1").Dial(t, "sip:park@"+n1.addr())
	var orbit string
	for deadline := time.Now().Add(5 * time.Second); orbit == ""; time.Sleep(20 * time.Millisecond) {
		if l := c.nodes[1].orbits(t); len(l) == 1 {
			orbit = l[0]
		} else if time.Now().After(deadline) {
			t.Fatalf("not parked on node-1: %v", l)
		}
	}
	_ = parked
	watcher := sippAt(t, ctx, c.nodes[1].addr(), orbit, lampScenario("confirmed", "terminated"), "-m", "1")
	time.Sleep(time.Second)
	load := sippAt(t, ctx, c.kamAddr(), "echo", callScenario(1000), "-m", "100000", "-r", "20")
	time.Sleep(3 * time.Second)
	from := c.kamLogLen()
	n1.signal(syscall.SIGKILL)
	killed := time.Now()
	<-n1.exited
	noticed := c.waitKamLog(t, from, 15*time.Second, "node down: sip:"+n1.addr(), "node sip:"+n1.addr()+" silent")
	after := sippAt(t, ctx, c.kamAddr(), "echo", callScenario(1000), "-m", "200", "-r", "20")
	var freed time.Duration
	for {
		if l := c.nodes[1].orbits(t); len(l) == 0 {
			freed = time.Since(killed)
			break
		}
		if time.Since(killed) > 15*time.Second {
			t.Fatalf("orbit %s of the killed node-1 still held after 15 s", orbit)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if freed > 10*time.Second {
		t.Errorf("orbit %s of node-1 freed %v after the kill, want within 10 s", orbit, freed)
	}
	wres := watcher.Wait()
	if wres.ExitCode != 0 {
		t.Errorf("watcher at node-2 not told the orbit is free: exit %d\n%s", wres.ExitCode, wres.ErrorLog)
	}
	ares := after.Wait()
	lres := load.Stop()
	t.Logf("kill -9 of node-1: Kamailio marked it down %v after the kill (pings 1 s, fr_timer 1 s); orbit %s freed after %v, watcher notified; "+
		"load running across the kill: %d ok, %d failed; the 200 calls started once Kamailio noticed: %d ok, %d failed",
		noticed.Round(time.Millisecond), orbit, freed.Round(time.Millisecond), lres.Successful, lres.Failed, ares.Successful, ares.Failed)
	if ares.Successful != 200 || ares.Failed != 0 {
		t.Errorf("after Kamailio noticed: %d of 200 calls ok, %d failed\n%s", ares.Successful, ares.Failed, tail(ares.ErrorLog, 2000))
	}
	// The first INVITE sent to the dead node timed out and went on to
	// another node.
	var silent, over string
	for _, l := range strings.Split(c.kam.log.String()[from:], "\n") {
		if i := strings.Index(l, "switchboard-front: "); i >= 0 {
			if silent == "" && strings.Contains(l, "sip:"+n1.addr()+" silent") {
				silent = l[i:]
			} else if silent != "" && over == "" && strings.Contains(l, "failed over to") {
				over = l[i:]
			}
		}
	}
	t.Logf("kamailio: %s / %s", silent, over)
	if silent == "" || over == "" {
		t.Errorf("Kamailio did not fail a silent INVITE over to another node: %q %q", silent, over)
	}
}

// conferencePinned: three baresip phones dial conf-x through Kamailio,
// which sends their INVITEs to the three nodes in turn; the first node to
// see conf-x claims it in the directory, the other two redirect their
// caller to it (302), Kamailio follows the redirects, and all three are in
// one mix: each hears the other two and not itself.
func conferencePinned(t *testing.T, c *cluster) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	from := c.kamLogLen()
	hz := []float64{500, 900, 1300}
	var phones []*peers.Baresip
	for i, f := range hz {
		p := peers.StartBaresip(t, peers.BaresipOptions{User: fmt.Sprintf("member%d", i+1), AudioFile: toneFile(t, f)})
		if err := p.Dial(c.uri("conf-x")); err != nil {
			t.Fatal(err)
		}
		if _, err := p.WaitEvent(ctx, "CALL_ESTABLISHED"); err != nil {
			t.Fatalf("member %d not in conf-x: %v\n%s", i+1, err, p.Log())
		}
		phones = append(phones, p)
	}
	time.Sleep(3 * time.Second)
	for _, p := range phones {
		_ = p.Hangup()
	}
	for _, p := range phones {
		if _, err := p.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
			t.Fatal(err)
		}
	}
	// The conference ended with its last member: its entry is gone.
	rdb := redis.NewClient(&redis.Options{Addr: strings.TrimSuffix(strings.TrimPrefix(c.redisURL, "redis://"), "/0")})
	defer rdb.Close()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		n, err := rdb.Exists(ctx, "switchboard:park:{default}:conf:x").Result()
		if err == nil && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("conf-x's directory entry still in Redis 5 s after the conference ended (%d, %v)", n, err)
		}
	}
	landed := c.landedSince(from, "INVITE", c.uri("conf-x"))
	redirects := strings.Count(c.kam.log.String()[from:], "INVITE redirected to sip:conf-x@")
	t.Logf("conf-x INVITEs landed %v; Kamailio followed %d redirects to the owner", landed, redirects)
	if len(landed) != 3 || redirects != 2 {
		t.Errorf("conf-x: landed %v with %d redirects; want one INVITE per node and 2 redirects", landed, redirects)
	}
	owners := 0
	for _, n := range c.nodes {
		if strings.Contains(n.log.String(), `msg="conference created" conference=x`) {
			owners++
		}
	}
	if owners != 1 {
		t.Errorf("conf-x was created on %d nodes, want 1", owners)
	}
	for i, p := range phones {
		rec, rate := p.RecordingSamples(t)
		var heard []string
		for j, f := range hz {
			s := toneSeconds(rec, rate, f)
			heard = append(heard, fmt.Sprintf("%.0f Hz %.1f s", f, s))
			if j != i && s < 1.5 {
				t.Errorf("member %d heard member %d (%.0f Hz) for %.1f s, want most of the last 3 s", i+1, j+1, f, s)
			}
		}
		t.Logf("member %d heard %s", i+1, strings.Join(heard, ", "))
	}
}
