package ivr_test

import (
	"context"
	"testing"
	"time"

	ivrapp "github.com/switchboard-sip/switchboard/apps/ivr"
	"github.com/switchboard-sip/switchboard/apps/park"
	"github.com/switchboard-sip/switchboard/conference"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/media/dsp"
	"github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestDemoMenuRetrievesParkedCall: bob is parked by the park app; alice
// dials the demo menu, presses 5, enters bob's orbit and #, and the two
// hear each other's tones.
func TestDemoMenuRetrievesParkedCall(t *testing.T) {
	srv := switchboardtest.NewServer(t)
	svc, err := park.New(srv.Platform, park.Config{Orbits: []park.OrbitRange{{Start: "7000", End: "7099"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	parked := make(chan park.Entry, 1)
	srv.Handle(t, "desk", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		if err := c.Accept(ctx); err != nil {
			return
		}
		if e, err := svc.Park(ctx, c, park.ParkOptions{Parker: "sip:parker@127.0.0.1"}); err == nil {
			parked <- e
		}
	}))
	confs, err := conference.New(srv.Platform, conference.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ivrapp.New(srv.Platform, ivrapp.Config{MessageDir: t.TempDir()},
		ivrapp.WithLogger(switchboardtest.Logger(t)), ivrapp.WithConferences(confs)); err != nil {
		t.Fatal(err)
	}

	bob := switchboardtest.NewPhone(t, "bob").Dial(t, srv.URI("desk"))
	defer bob.Hangup(t)
	var e park.Entry
	select {
	case e = <-parked:
	case <-time.After(3 * time.Second):
		t.Fatal("bob was not parked")
	}
	bob.StartTone(600)

	alice := switchboardtest.NewPhone(t, "alice").Dial(t, srv.URI("ivr"))
	defer alice.Hangup(t)
	// Typed ahead: 5 picks the orbit node, whose collection finds the
	// orbit's digits already pressed.
	if err := alice.SendDTMF(ctx5(t), "5"+e.Orbit+"#"); err != nil {
		t.Fatal(err)
	}
	alice.StartTone(700)
	alice.WaitTone(t, 600, 5*time.Second)
	bob.WaitTone(t, 700, 5*time.Second)
	if got := svc.List(); len(got) != 0 {
		t.Errorf("orbit still occupied after retrieval: %+v", got)
	}

	// An empty orbit: the park app refuses (404), the caller hears the
	// fallback ("invalid", "goodbye": 2.6 s of speech) and is hung up.
	carol := switchboardtest.NewPhone(t, "carol").Dial(t, srv.URI("ivr"))
	carol.Record()
	if err := carol.SendDTMF(ctx5(t), "57050#"); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	carol.WaitTerminated(t, 8*time.Second)
	if d := time.Since(sent); d < 2*time.Second {
		t.Errorf("hung up %v after the orbit: no fallback prompt", d)
	}
	rec := carol.Recording()
	if rms := dsp.RMS(rec[max(0, len(rec)-16000):]); rms < 0.01 {
		t.Errorf("the last 2 s before the hang-up are silent (rms %.4f): no fallback prompt", rms)
	}
}
