package park_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/apps/park"
	"github.com/switchboard-sip/switchboard/conference"
	"github.com/switchboard-sip/switchboard/endpoint"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestAPIParkStatesInOrder: an API park reports Parking, then Parked with
// the friendly orbit and the safe retrieve URI; the parker's own new
// conversation to that safe URI becomes established (UCMA: Active) and
// hears the parked party. With the pool full the park reports Parking,
// then ParkFailed, and the call stays connected: both sides still hear
// each other.
func TestAPIParkStatesInOrder(t *testing.T) {
	r := newRig(t, park.Config{Orbits: []park.OrbitRange{{Start: "7000", End: "7000"}}})
	type result struct {
		states []park.ParkStateChange
		err    error
		call   *endpoint.Call
	}
	results := make(chan result, 2)
	r.srv.Handle(t, "parkme", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		if err := c.Accept(ctx); err != nil {
			results <- result{err: err}
			return
		}
		if err := r.svc.CanPark(c); err != nil {
			results <- result{err: err}
			return
		}
		var states []park.ParkStateChange
		_, err := r.svc.Park(ctx, c, park.ParkOptions{Parker: "sip:parker@127.0.0.1",
			OnState: func(sc park.ParkStateChange) { states = append(states, sc) }})
		results <- result{states, err, c}
		if err != nil {
			<-ctx.Done() // the call stays up until the caller hangs up
		}
	}))
	parkee := sbt.NewPhone(t, "parkee").Dial(t, r.srv.URI("parkme"))
	res := <-results
	if res.err != nil {
		t.Fatal(res.err)
	}
	if len(res.states) != 2 || res.states[0].State != park.StateParking || res.states[1].State != park.StateParked ||
		res.states[1].Orbit != "7000" || res.states[1].SafeRetrieveURI == "" {
		t.Fatalf("states %+v, want Parking, then Parked on 7000 with a safe retrieve URI", res.states)
	}
	hears(t, parkee, musicHz, 0.8)

	// The pool is full now: the next park fails and the call stays.
	second := sbt.NewPhone(t, "second").Dial(t, r.srv.URI("parkme"))
	failed := <-results
	if !errors.Is(failed.err, park.ErrNoFreeOrbit) || len(failed.states) != 2 ||
		failed.states[0].State != park.StateParking || failed.states[1].State != park.StateParkFailed ||
		!errors.Is(failed.states[1].Err, park.ErrNoFreeOrbit) {
		t.Fatalf("park into a full pool: %v, states %+v; want Parking, then ParkFailed (no free orbit)", failed.err, failed.states)
	}
	if failed.call.State() != endpoint.StateEstablished || failed.call.Reason() != endpoint.ReasonParkFailed {
		t.Fatalf("after the failed park the call is %v (%v)", failed.call.State(), failed.call.Reason())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	kept := sbt.WrapCall(failed.call)
	second.StartTone(650)
	kept.StartTone(1250)
	hears(t, kept, 650, 0.7)
	hears(t, second, 1250, 0.7)
	second.Hangup(t)

	// The parker retrieves its own park with the safe URI.
	conv := r.srv.Handle(t, "parker", nil).NewConversation()
	back := conv.NewCall()
	if err := back.Establish(ctx, res.states[1].SafeRetrieveURI, endpoint.EstablishOptions{}); err != nil {
		t.Fatalf("safe retrieve: %v", err)
	}
	if conv.State() != endpoint.ConversationEstablished {
		t.Fatalf("the parker's new conversation is %v, want established", conv.State())
	}
	parkee.StartTone(720)
	hears(t, sbt.WrapCall(back), 720, 0.7)
	_ = back.Terminate(ctx)
}

// TestParkConferenceLegRefused: a call into a conference of this platform
// cannot be parked: CanPark says why, Park refuses it with
// ErrConferenceLeg, and the call stays in the conference.
func TestParkConferenceLegRefused(t *testing.T) {
	r := newRig(t, park.Config{})
	confs, err := conference.New(r.srv.Platform, conference.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { confs.Close() })
	conf, err := confs.Create("room", conference.Options{})
	if err != nil {
		t.Fatal(err)
	}
	member := sbt.NewPhone(t, "member").Dial(t, conf.URI())
	defer member.Hangup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	leg, err := conf.Join(ctx, r.srv.Handle(t, "app", nil).NewConversation(), conference.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer leg.Terminate(ctx)
	if err := r.svc.CanPark(leg); !errors.Is(err, park.ErrConferenceLeg) {
		t.Fatalf("CanPark(conference leg) = %v, want ErrConferenceLeg", err)
	}
	var states []park.ParkStateChange
	if _, err := r.svc.Park(ctx, leg, park.ParkOptions{OnState: func(sc park.ParkStateChange) { states = append(states, sc) }}); !errors.Is(err, park.ErrConferenceLeg) {
		t.Fatalf("Park(conference leg) = %v, want ErrConferenceLeg", err)
	}
	if len(states) != 0 || len(r.svc.List()) != 0 || leg.State() != endpoint.StateEstablished {
		t.Fatalf("a refused park changed something: states %+v, parked %+v, leg %v", states, r.svc.List(), leg.State())
	}
	sbt.WaitRoster(t, conf, 2, 5*time.Second)
}
