package park_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/apps/park"
	"github.com/switchboard-sip/switchboard/b2b"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/media/dsp"
)

// TestBaresipBlindTransferToParkAndRetrieve: baresip A talks to baresip B
// through Switchboard (a back-to-back app); A blind-transfers B to park; B
// hears the music; baresip C dials the orbit; C and B hear each other; the
// orbit is free again.
func TestBaresipBlindTransferToParkAndRetrieve(t *testing.T) {
	r := newRig(t, park.Config{})
	tone := func(hz float64) string { return peers.WriteWAV(t, dsp.Sine(8000, hz, 60*time.Second, 0.3), 8000) }
	bBob := peers.StartBaresip(t, peers.BaresipOptions{User: "bob", AutoAnswer: true, AudioFile: tone(900)})
	ep := r.srv.Handle(t, "bridge", nil)
	ep.HandleCalls(endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		bc, err := b2b.New(b2b.Leg{Call: c}, b2b.Leg{Call: ep.NewConversation().NewCall(), Destination: bBob.URI()}, b2b.Options{ImpersonateCaller: true})
		if err == nil && bc.Establish(ctx) == nil {
			c.HandOff()
		}
	}))
	aAlice := peers.StartBaresip(t, peers.BaresipOptions{User: "alice", AudioFile: tone(500)})
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	if err := aAlice.Dial(r.srv.URI("bridge")); err != nil {
		t.Fatal(err)
	}
	if _, err := bBob.WaitEvent(ctx, "CALL_ESTABLISHED"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if _, err := aAlice.Command("transfer", r.svc.URI()); err != nil {
		t.Fatal(err)
	}
	var orbit string
	for deadline := time.Now().Add(10 * time.Second); orbit == ""; {
		if l := r.svc.List(); len(l) == 1 {
			orbit = l[0].Orbit
		} else if time.Now().After(deadline) {
			t.Fatalf("B was not parked\n%s", aAlice.Log())
		} else {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if _, err := aAlice.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
		t.Fatalf("A's call did not end after the transfer: %v", err)
	}
	time.Sleep(2 * time.Second) // B listens to the music
	cCarol := peers.StartBaresip(t, peers.BaresipOptions{User: "carol", AudioFile: tone(1300)})
	if err := cCarol.Dial(r.svc.OrbitURI(orbit)); err != nil {
		t.Fatal(err)
	}
	if _, err := cCarol.WaitEvent(ctx, "CALL_ESTABLISHED"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if n := len(r.svc.List()); n != 0 {
		t.Fatalf("orbit not free after retrieval: %+v", r.svc.List())
	}
	_ = cCarol.Hangup()
	if _, err := bBob.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
		t.Fatalf("B's call did not end when C hung up: %v", err)
	}
	if _, err := cCarol.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
		t.Fatal(err)
	}
	recB, rate := bBob.RecordingSamples(t)
	secs := func(rec []int16, hz float64) float64 {
		return dsp.ToneFraction(rec, rate, hz) * float64(len(rec)) / float64(rate)
	}
	if s := secs(recB, musicHz); s < 1.2 {
		t.Errorf("B heard %.1fs of park music, want most of the 2 s", s)
	}
	if s := secs(recB, 1300); s < 1.2 {
		t.Errorf("B heard C for %.1fs after retrieval", s)
	}
	recC, rateC := cCarol.RecordingSamples(t)
	if s := dsp.ToneFraction(recC, rateC, 900) * float64(len(recC)) / float64(rateC); s < 1.2 {
		t.Errorf("C heard B for %.1fs", s)
	}
}
