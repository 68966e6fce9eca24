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
	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/media/dsp"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// Phases of the linphone tests, long enough for a tone detector and short
// enough to keep each test near ten seconds.
const (
	listenMusic = 2 * time.Second // the parked party listens to the music
	talk        = 2 * time.Second // the parked party and the retriever talk
	minHeard    = 1.2             // seconds of a 2 s phase that must carry the tone
)

// The three linphone tests run in parallel with each other (and after
// every serial test of the package): each spends its ten seconds mostly
// waiting on real-time audio, so together they take about as long as the
// longest, which keeps the package's run near two minutes. They share no
// state; each has its own server, phones and proxy.

// parkRoute is how the phones reach the park service: directly, or through
// a record-routing Kamailio on 127.0.0.1 in front of Switchboard, as behind
// a load balancer.
type parkRoute struct {
	park  string              // the park address the transferors refer to
	orbit func(string) string // the address a phone dials to retrieve an orbit
	kam   *peers.Kamailio
}

// newParkRoute returns the direct route, or starts Kamailio in front of r.
func newParkRoute(t *testing.T, r *rig, viaKamailio bool) parkRoute {
	t.Helper()
	if !viaKamailio {
		return parkRoute{park: r.svc.URI(), orbit: r.svc.OrbitURI}
	}
	k := peers.StartKamailio(t, peers.KamailioOptions{Backend: fmt.Sprintf("127.0.0.1:%d", r.srv.Port())})
	return parkRoute{park: k.URI("park"), orbit: k.URI, kam: k}
}

// passedThrough fails the test unless, on the Kamailio route, the proxy saw
// a message containing each of wants (see peers.Kamailio.Trace).
func (pr parkRoute) passedThrough(t *testing.T, wants ...string) {
	t.Helper()
	if pr.kam == nil {
		return
	}
	trace := strings.Join(pr.kam.Trace(), "\n")
	for _, w := range wants {
		if !strings.Contains(trace, w) {
			t.Errorf("Kamailio saw no %q:\n%s", w, trace)
		}
	}
}

// noReferredBy fails the test unless, on the Kamailio route, every request
// the proxy saw that contains prefix came without a Referred-By header: the
// case of the self-park.
func (pr parkRoute) noReferredBy(t *testing.T, prefix string) {
	t.Helper()
	if pr.kam == nil {
		return
	}
	seen := 0
	for _, line := range pr.kam.Trace() {
		if !strings.Contains(line, prefix) {
			continue
		}
		seen++
		if !strings.HasSuffix(line, "Referred-By <null>") {
			t.Errorf("the transferee's request carried Referred-By: %s", line)
		}
	}
	if seen == 0 {
		t.Errorf("Kamailio saw no %q", prefix)
	}
}

// routes runs f directly and through Kamailio, as subtests.
func routes(t *testing.T, f func(t *testing.T, viaKamailio bool)) {
	t.Run("direct", func(t *testing.T) { f(t, false) })
	t.Run("kamailio", func(t *testing.T) { f(t, true) })
}

// quietRig is a rig whose self-parks skip the orbit announcement (about
// 5 s, covered by the baresip tests), so the music starts at once.
func quietRig(t *testing.T) *rig {
	no := false
	return newRig(t, park.Config{Announce: &no})
}

// toneFile writes a minute of a tone at 8 kHz for a phone's microphone.
func toneFile(t *testing.T, hz float64) string {
	return peers.WriteWAV(t, dsp.Sine(8000, hz, 60*time.Second, 0.3), 8000)
}

// toneSeconds is how many seconds of rec carry the tone hz.
func toneSeconds(rec []int16, rate int, hz float64) float64 {
	return dsp.ToneFraction(rec, rate, hz) * float64(len(rec)) / float64(rate)
}

// waitParked returns the next Parked entry or fails the test.
func waitParked(t *testing.T, ctx context.Context, parked <-chan park.Entry, r *rig, logs ...interface{ Log() string }) park.Entry {
	t.Helper()
	select {
	case e := <-parked:
		return e
	case <-ctx.Done():
		var sb strings.Builder
		for _, l := range logs {
			sb.WriteString(l.Log())
		}
		t.Fatalf("not parked: %+v\n%s", r.svc.List(), sb.String())
	}
	return park.Entry{}
}

// retrieveWithBaresip has a baresip phone playing 1300 Hz dial the orbit,
// talk, and hang up; it returns what that phone heard, and checks that the
// orbit is empty afterwards.
func retrieveWithBaresip(t *testing.T, ctx context.Context, r *rig, route parkRoute, orbit string, parkedClosed func() error) ([]int16, int) {
	t.Helper()
	c := peers.StartBaresip(t, peers.BaresipOptions{User: "carol", AudioFile: toneFile(t, 1300)})
	if err := c.Dial(route.orbit(orbit)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitEvent(ctx, "CALL_ESTABLISHED"); err != nil {
		t.Fatalf("C could not retrieve orbit %s: %v", orbit, err)
	}
	time.Sleep(talk)
	if l := r.svc.List(); len(l) != 0 {
		t.Errorf("orbit not free after retrieval: %+v", l)
	}
	_ = c.Hangup()
	if err := parkedClosed(); err != nil {
		t.Fatalf("the parked party's call did not end when C hung up: %v", err)
	}
	if _, err := c.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
		t.Fatal(err)
	}
	var re *endpoint.ResponseError
	if _, err := sbt.NewPhone(t, "late").DialContext(ctx, r.svc.OrbitURI(orbit), endpoint.EstablishOptions{}); !errors.As(err, &re) || re.Code != 404 {
		t.Errorf("orbit %s after the hang-up: %v, want 404", orbit, err)
	}
	return c.RecordingSamples(t)
}

// TestLinphoneTransfereeDirectCallBlindPark: baresip A calls linphone B
// phone to phone and blind-transfers it to sip:park@ (directly, or at a
// Kamailio in front of Switchboard). linphone follows the REFER, which
// arrives without Referred-By (baresip does not send one), so B parks
// itself; it hears the music. baresip C dials the orbit; B and C hear each
// other's tones; afterwards the orbit answers 404.
func TestLinphoneTransfereeDirectCallBlindPark(t *testing.T) {
	t.Parallel() // see the note above parkRoute
	routes(t, func(t *testing.T, viaKamailio bool) {
		r := quietRig(t)
		route := newParkRoute(t, r, viaKamailio)
		parked := parkedEvents(t, r.svc)
		b := peers.StartLinphone(t, peers.LinphoneOptions{User: "bob", AutoAnswer: true, AudioFile: toneFile(t, 900)})
		a := peers.StartBaresip(t, peers.BaresipOptions{User: "alice", AudioFile: toneFile(t, 500)})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := a.Dial(b.URI()); err != nil {
			t.Fatal(err)
		}
		if _, err := b.WaitEvent(ctx, "CALL_ESTABLISHED"); err != nil {
			t.Fatal(err)
		}
		// Call 1 (with A) records to the first file; the call to the park
		// service, which linphone makes on the REFER, to this one.
		rec, err := b.NewRecording()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.WaitEvent(ctx, "CALL_ESTABLISHED"); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Command("transfer", route.park); err != nil {
			t.Fatal(err)
		}
		e := waitParked(t, ctx, parked, r, b, a)
		if !strings.Contains(e.Parked, "bob@") || e.Parker != "" {
			t.Errorf("parked %q by %q, want linphone B parked by an unknown parker", e.Parked, e.Parker)
		}
		if _, err := a.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
			t.Fatalf("A's call did not end after the transfer: %v", err)
		}
		time.Sleep(listenMusic)
		heardByC, rateC := retrieveWithBaresip(t, ctx, r, route, e.Orbit, func() error {
			for {
				ev, err := b.WaitEvent(ctx, "CALL_CLOSED")
				if err != nil || ev.ID != "1" {
					return err
				}
			}
		})
		heardByB, rateB := b.RecordingSamples(t, rec)
		if s := toneSeconds(heardByB, rateB, musicHz); s < minHeard {
			t.Errorf("B heard %.1f s of park music, want at least %.1f s", s, minHeard)
		}
		if s := toneSeconds(heardByB, rateB, 1300); s < minHeard {
			t.Errorf("B heard C for %.1f s after retrieval", s)
		}
		if s := toneSeconds(heardByC, rateC, 900); s < minHeard {
			t.Errorf("C heard B for %.1f s", s)
		}
		t.Logf("B heard %.1f s of music and %.1f s of C; C heard %.1f s of B",
			toneSeconds(heardByB, rateB, musicHz), toneSeconds(heardByB, rateB, 1300), toneSeconds(heardByC, rateC, 900))
		route.passedThrough(t, "INVITE "+route.park, "INVITE "+route.orbit(e.Orbit), "200 INVITE from", "BYE ")
		route.noReferredBy(t, "INVITE "+route.park)
	})
}

// TestLinphoneTransferorDirectCallBlindPark: linphone A calls baresip B
// phone to phone and blind-transfers it to sip:park@ (directly, or at a
// Kamailio in front). baresip drops the Referred-By linphone's REFER
// carries, so B parks itself and hears the music; baresip C retrieves the
// orbit, B and C hear each other; afterwards the orbit answers 404.
func TestLinphoneTransferorDirectCallBlindPark(t *testing.T) {
	t.Parallel() // see the note above parkRoute
	routes(t, func(t *testing.T, viaKamailio bool) {
		r := quietRig(t)
		route := newParkRoute(t, r, viaKamailio)
		parked := parkedEvents(t, r.svc)
		b := peers.StartBaresip(t, peers.BaresipOptions{User: "bob", AutoAnswer: true, AudioFile: toneFile(t, 900)})
		a := peers.StartLinphone(t, peers.LinphoneOptions{User: "alice", AudioFile: toneFile(t, 500)})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := a.Dial(b.URI()); err != nil {
			t.Fatal(err)
		}
		if _, err := a.WaitEvent(ctx, "CALL_RTPESTAB"); err != nil {
			t.Fatal(err)
		}
		if err := a.Transfer(route.park); err != nil {
			t.Fatal(err)
		}
		e := waitParked(t, ctx, parked, r, a, b)
		if !strings.Contains(e.Parked, "bob@") {
			t.Errorf("parked %q, want baresip B", e.Parked)
		}
		if _, err := a.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
			t.Fatalf("A's call did not end after the transfer: %v", err)
		}
		time.Sleep(listenMusic)
		heardByC, rateC := retrieveWithBaresip(t, ctx, r, route, e.Orbit, func() error {
			_, err := b.WaitEvent(ctx, "CALL_CLOSED") // The call with A ends with a BYE from A, not here.
			if err == nil {
				_, err = b.WaitEvent(ctx, "CALL_CLOSED")
			}
			return err
		})
		heardByB, rateB := b.RecordingSamples(t)
		if s := toneSeconds(heardByB, rateB, musicHz); s < minHeard {
			t.Errorf("B heard %.1f s of park music, want at least %.1f s", s, minHeard)
		}
		if s := toneSeconds(heardByB, rateB, 1300); s < minHeard {
			t.Errorf("B heard C for %.1f s after retrieval", s)
		}
		if s := toneSeconds(heardByC, rateC, 900); s < minHeard {
			t.Errorf("C heard B for %.1f s", s)
		}
		t.Logf("B heard %.1f s of music and %.1f s of C; C heard %.1f s of B",
			toneSeconds(heardByB, rateB, musicHz), toneSeconds(heardByB, rateB, 1300), toneSeconds(heardByC, rateC, 900))
		route.passedThrough(t, "INVITE "+route.park, "INVITE "+route.orbit(e.Orbit), "200 INVITE from", "BYE ")
		route.noReferredBy(t, "INVITE "+route.park)
	})
}

// TestLinphoneRetrieveAndRepark: linphone retrieves a parked call and at
// once blind-transfers it back to sip:park@ (directly, or through
// Kamailio). linphone sends its BYE about 1 ms after answering the final
// NOTIFY, which used to make the park service log "parked" and then
// "abandoned". The call must be parked again under the parked party's own
// URI, never abandoned, hear the music, and be retrievable: the retriever
// hears its tone.
func TestLinphoneRetrieveAndRepark(t *testing.T) {
	t.Parallel() // see the note above parkRoute
	routes(t, func(t *testing.T, viaKamailio bool) {
		r := quietRig(t)
		route := newParkRoute(t, r, viaKamailio)
		var mu sync.Mutex
		var events []park.Event
		parked := make(chan park.Entry, 4)
		r.svc.OnEvent(func(e park.Event) {
			mu.Lock()
			events = append(events, e)
			mu.Unlock()
			if e.Type == park.Parked {
				parked <- e.Entry
			}
		})
		pc, e := r.parkPhone(t, sbt.NewPhone(t, "parkee"))
		pc.StartTone(800)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		waitParked(t, ctx, parked, r)
		l := peers.StartLinphone(t, peers.LinphoneOptions{User: "linda", AudioFile: toneFile(t, 1100)})
		if err := l.Dial(route.orbit(e.Orbit)); err != nil {
			t.Fatal(err)
		}
		if _, err := l.WaitEvent(ctx, "CALL_ESTABLISHED"); err != nil {
			t.Fatal(err)
		}
		if err := l.Transfer(route.park); err != nil {
			t.Fatal(err)
		}
		again := waitParked(t, ctx, parked, r, l)
		if _, err := l.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
			t.Fatalf("linphone's call did not end after the transfer: %v", err)
		}
		if !strings.Contains(again.Parked, "parkee@") {
			t.Errorf("re-parked as %q, want the parkee's own URI", again.Parked)
		}
		hears(t, pc, musicHz, 0.8)
		mu.Lock()
		for _, ev := range events {
			if ev.Type == park.Abandoned || ev.Type == park.Disconnected {
				t.Errorf("event %s on orbit %s (parked %s)", ev.Type, ev.Entry.Orbit, ev.Entry.Parked)
			}
		}
		mu.Unlock()
		if ls := r.svc.List(); len(ls) != 1 || ls[0].Orbit != again.Orbit {
			t.Fatalf("after the re-park: %+v, want orbit %s held", ls, again.Orbit)
		}
		rc := sbt.NewPhone(t, "retriever").Dial(t, r.svc.OrbitURI(again.Orbit))
		hears(t, rc, 800, 0.7)
		rc.Hangup(t)
		route.passedThrough(t, "INVITE "+route.orbit(e.Orbit), "REFER ", "NOTIFY ", "200 NOTIFY from", "BYE ")
		if route.kam != nil {
			t.Logf("linphone's BYE came %s after its answer to the last NOTIFY", byeGap(route.kam.Trace(), l.SIPPort()))
		}
	})
}

// byeGap returns, from a Kamailio trace, the time between the last 200 to a
// NOTIFY sent from port and the next BYE from that port, or "no BYE".
func byeGap(trace []string, port int) string {
	from := fmt.Sprintf(" from 127.0.0.1:%d ", port)
	var last float64
	for _, line := range trace {
		var at float64
		if !strings.Contains(line, from) {
			continue
		}
		if _, err := fmt.Sscanf(line, "%f", &at); err != nil {
			continue
		}
		f := strings.Fields(line)
		switch {
		case len(f) > 2 && f[1] == "200" && f[2] == "NOTIFY":
			last = at
		case len(f) > 1 && f[1] == "BYE" && last != 0:
			return (time.Duration((at - last) * float64(time.Second))).Round(100 * time.Microsecond).String()
		}
	}
	return "no BYE"
}
