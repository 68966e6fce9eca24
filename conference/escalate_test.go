package conference_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/conference"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/media/dsp"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

func escalationRig(t *testing.T) (*sbt.Server, *conference.Service, *sbt.PhoneCall, *endpoint.Call) {
	srv, svc := newService(t, conference.Config{})
	desk := make(chan *endpoint.Call, 1)
	srv.Handle(t, "desk", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		if c.Accept(ctx) == nil {
			c.HandOff()
			desk <- c
		}
	}))
	a := sbt.NewPhone(t, "alice").Dial(t, srv.URI("desk"))
	return srv, svc, a, <-desk
}

func TestEscalationKeepsTheCallAndAddsThirdParty(t *testing.T) {
	_, svc, alice, deskCall := escalationRig(t)
	carolPhone := sbt.NewPhone(t, "carol")
	callID := alice.CallID()
	var steps []conference.EscalationProgress
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conf, err := svc.Escalate(ctx, deskCall, conference.EscalateOptions{
		Invite:     []string{carolPhone.URI()},
		OnProgress: func(p conference.EscalationProgress) { steps = append(steps, p) },
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []conference.EscalationStep{conference.ConnectingToConference, conference.JoiningLocalMedia, conference.WaitingForPeer, conference.EscalationCompleted}
	if len(steps) != len(want) {
		t.Fatalf("progress %+v", steps)
	}
	for i, w := range want {
		if steps[i].Step != w || steps[i].ConferenceURI != conf.URI() {
			t.Fatalf("step %d = %+v, want %v with the conference URI", i, steps[i], w)
		}
	}
	carol := carolPhone.NextCall(t)
	if alice.State() != endpoint.StateEstablished || alice.CallID() != callID {
		t.Fatalf("alice's call was torn down: %v", alice.State())
	}
	alice.StartTone(650)
	carol.StartTone(1250)
	// Wait for the tones, then 1.5 s of received audio each (counted
	// rather than slept).
	carol.WaitTone(t, 650, 5*time.Second)
	alice.WaitTone(t, 1250, 5*time.Second)
	if f := dsp.ToneFraction(carol.Listen(t, 1500*time.Millisecond), 8000, 650); f < 0.7 {
		t.Errorf("carol hears alice in %.0f%%", f*100)
	}
	if f := dsp.ToneFraction(alice.Listen(t, 1500*time.Millisecond), 8000, 1250); f < 0.7 {
		t.Errorf("alice hears carol in %.0f%%", f*100)
	}
	if n := len(conf.Roster()); n != 2 {
		t.Errorf("roster has %d", n)
	}
	alice.Hangup(t)
	carol.Hangup(t)
}

func TestFailedEscalationStaysTwoParty(t *testing.T) {
	_, svc, alice, deskCall := escalationRig(t)
	busy := sbt.NewPhone(t, "busy", sbt.PhoneOptions{Answer: func(ctx context.Context, c *endpoint.Call) error {
		_ = c.Decline(ctx, 486)
		return errors.New("declined")
	}})
	var last conference.EscalationProgress
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_, err := svc.Escalate(ctx, deskCall, conference.EscalateOptions{
		Invite:     []string{busy.URI()},
		OnProgress: func(p conference.EscalationProgress) { last = p },
	})
	if err == nil || last.Step != conference.EscalationFailed {
		t.Fatalf("Escalate = %v, last progress %+v; want failure", err, last)
	}
	if alice.State() != endpoint.StateEstablished || deskCall.State() != endpoint.StateEstablished {
		t.Fatalf("two-party call did not survive: %v / %v", alice.State(), deskCall.State())
	}
	// The two parties still talk directly.
	deskPC := sbt.WrapCall(deskCall)
	alice.StartTone(800)
	deskPC.WaitTone(t, 800, 5*time.Second)
	if f := dsp.ToneFraction(deskPC.Listen(t, time.Second), 8000, 800); f < 0.7 {
		t.Fatalf("after the failed escalation the desk hears alice in %.0f%%", f*100)
	}
	alice.Hangup(t)
}
