package park_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/apps/park"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/media/dsp"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// parkedEvents returns a channel of the service's Parked events.
func parkedEvents(t *testing.T, svc *park.Service) <-chan park.Entry {
	ch := make(chan park.Entry, 16)
	remove := svc.OnEvent(func(e park.Event) {
		if e.Type == park.Parked {
			select {
			case ch <- e.Entry:
			default:
			}
		}
	})
	t.Cleanup(remove)
	return ch
}

// TestBaresipDirectCallBlindTransferToPark: baresip A and B talk phone to
// phone (not through Switchboard); A blind-transfers B to sip:park@, and
// B's baresip follows the REFER without Referred-By. B parks itself: it is
// announced the orbit, hears the music, and the orbit is occupied; C dials
// the orbit and C and B hear each other's tones; after the hang-up the
// orbit answers 404 again. Before the fix B was taken for a parker
// starting an attended park: it heard silence and C got 404 Orbit Empty.
func TestBaresipDirectCallBlindTransferToPark(t *testing.T) {
	r := newRig(t, park.Config{})
	parked := parkedEvents(t, r.svc)
	tone := func(hz float64) string { return peers.WriteWAV(t, dsp.Sine(8000, hz, 60*time.Second, 0.3), 8000) }
	bBob := peers.StartBaresip(t, peers.BaresipOptions{User: "bob", AutoAnswer: true, AudioFile: tone(900)})
	aAlice := peers.StartBaresip(t, peers.BaresipOptions{User: "alice", AudioFile: tone(500)})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := aAlice.Dial(bBob.URI()); err != nil {
		t.Fatal(err)
	}
	if _, err := aAlice.WaitEvent(ctx, "CALL_ESTABLISHED"); err != nil {
		t.Fatal(err)
	}
	if _, err := aAlice.Command("transfer", r.svc.URI()); err != nil {
		t.Fatal(err)
	}
	var e park.Entry
	select {
	case e = <-parked:
	case <-ctx.Done():
		t.Fatalf("B was not parked: %+v\n%s", r.svc.List(), bBob.Log())
	}
	if _, err := aAlice.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
		t.Fatalf("A's call did not end after the transfer: %v", err)
	}
	// B listens: the orbit announcement (about 5 s for "parked 7 0 0 0"),
	// then the music.
	time.Sleep(8 * time.Second)
	cCarol := peers.StartBaresip(t, peers.BaresipOptions{User: "carol", AudioFile: tone(1300)})
	if err := cCarol.Dial(r.svc.OrbitURI(e.Orbit)); err != nil {
		t.Fatal(err)
	}
	if _, err := cCarol.WaitEvent(ctx, "CALL_ESTABLISHED"); err != nil {
		t.Fatalf("C could not retrieve orbit %s: %v", e.Orbit, err)
	}
	time.Sleep(3 * time.Second) // C and B talk
	_ = cCarol.Hangup()
	if _, err := bBob.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
		t.Fatalf("B's call did not end when C hung up: %v", err)
	}
	if _, err := cCarol.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
		t.Fatal(err)
	}
	recB, rate := bBob.RecordingSamples(t)
	recC, rateC := cCarol.RecordingSamples(t)
	secs := func(rec []int16, rate int, hz float64) float64 {
		return dsp.ToneFraction(rec, rate, hz) * float64(len(rec)) / float64(rate)
	}
	if s := secs(recB, rate, musicHz); s < 1.5 {
		t.Errorf("B heard %.1fs of park music, want at least 1.5 s", s)
	}
	if s := secs(recB, rate, 1300); s < 1.5 {
		t.Errorf("B heard C for %.1fs after retrieval", s)
	}
	if s := secs(recC, rateC, 900); s < 1.5 {
		t.Errorf("C heard B for %.1fs", s)
	}
	var re *endpoint.ResponseError
	if _, err := sbt.NewPhone(t, "late").DialContext(ctx, r.svc.OrbitURI(e.Orbit), endpoint.EstablishOptions{}); !errors.As(err, &re) || re.Code != 404 {
		t.Fatalf("orbit %s after the hang-up: %v, want 404", e.Orbit, err)
	}
}
