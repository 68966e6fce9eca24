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
	"github.com/switchboard-sip/switchboard/platform"
	"github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestDemoMenuRetrievesParkedCall: bob is parked by the park app; alice
// dials the demo menu, presses 5, enters bob's orbit and #, and the two
// hear each other's tones.
func TestDemoMenuRetrievesParkedCall(t *testing.T) {
	// Loopback is a trusted peer, as in the embedded default config: the
	// callers' From hosts are believed.
	srv := switchboardtest.NewServer(t, platform.Config{TrustedPeers: []string{"127.0.0.1/32"}})
	svc, parked := parkDesk(t, srv)
	confs, err := conference.New(srv.Platform, conference.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ivrapp.New(srv.Platform, ivrapp.Config{MessageDir: t.TempDir()},
		ivrapp.WithLogger(switchboardtest.Logger(t)), ivrapp.WithConferences(confs), ivrapp.WithPark(svc)); err != nil {
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

	alicePhone := switchboardtest.NewPhone(t, "alice")
	before := switchboardtest.OpenSockets(t)
	alice := alicePhone.Dial(t, srv.URI("ivr"))
	defer alice.Hangup(t)
	// Typed ahead: 5 picks the orbit node, whose collection finds the
	// orbit's digits already pressed.
	if err := alice.SendDTMF(ctx5(t), "5"+e.Orbit+"#"); err != nil {
		t.Fatal(err)
	}
	alice.StartTone(700)
	alice.WaitTone(t, 600, 5*time.Second)
	bob.WaitTone(t, 700, 5*time.Second)
	// In process: alice's call added her phone's RTP/RTCP pair and the
	// server's for her call, not two more pairs for a SIP leg from the IVR
	// to the park address and back.
	if n := switchboardtest.OpenSockets(t) - before; n != 4 {
		t.Errorf("alice's retrieval opened %d sockets, want 4 (her phone's and her call's RTP/RTCP)", n)
	}
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

// TestUntrustedCallerCannotRetrieveThroughTheMenu: with no trusted peers,
// a caller claiming an internal From host is refused by the menu's
// retrieve action exactly as when dialling the orbit (the IVR does not
// lend the caller its own local-application trust): the fallback plays,
// the call ends, and the parked call stays in its orbit.
func TestUntrustedCallerCannotRetrieveThroughTheMenu(t *testing.T) {
	srv := switchboardtest.NewServer(t) // trusts nothing
	svc, parked := parkDesk(t, srv)
	if _, err := ivrapp.New(srv.Platform, ivrapp.Config{MessageDir: t.TempDir()},
		ivrapp.WithLogger(switchboardtest.Logger(t)), ivrapp.WithPark(svc)); err != nil {
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
	mallory := switchboardtest.NewPhone(t, "mallory").Dial(t, srv.URI("ivr"))
	if err := mallory.SendDTMF(ctx5(t), "5"+e.Orbit+"#"); err != nil {
		t.Fatal(err)
	}
	mallory.WaitTerminated(t, 10*time.Second)
	if got := svc.List(); len(got) != 1 || got[0].Orbit != e.Orbit {
		t.Fatalf("the parked call left its orbit for an untrusted caller: %+v", got)
	}
}

// parkDesk starts a park service (orbits 7000-7099) on srv and an app at
// sip:desk@ that parks every caller with it; each parked call's entry
// arrives on the channel.
func parkDesk(t *testing.T, srv *switchboardtest.Server) (*park.Service, <-chan park.Entry) {
	t.Helper()
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
	return svc, parked
}
