package conference

import (
	"context"
	"errors"
	"fmt"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-sip/switchboard/endpoint"
)

// EscalationStep is a step of escalating a two-party call to a conference.
// The numbers are UCMA's conference escalation progress values.
type EscalationStep int

// Escalation steps, in the order they are reported.
const (
	EscalationFailed       EscalationStep = -1
	ConnectingToConference EscalationStep = 2
	JoiningLocalMedia      EscalationStep = 4
	WaitingForPeer         EscalationStep = 6
	EscalationCompleted    EscalationStep = 7
)

func (s EscalationStep) String() string {
	switch s {
	case ConnectingToConference:
		return "connecting to conference"
	case JoiningLocalMedia:
		return "joining local media"
	case WaitingForPeer:
		return "waiting for peer"
	case EscalationCompleted:
		return "completed"
	}
	return "failed"
}

// EscalationProgress is reported at each step. ConferenceURI is known from
// the first step on.
type EscalationProgress struct {
	Step          EscalationStep
	ConferenceURI string
	Err           error
}

// EscalateOptions configure Escalate.
type EscalateOptions struct {
	// ID names the new conference (default: a generated one).
	ID string
	// Invite lists the parties the conference calls once the existing call
	// is in it (the third party that caused the escalation).
	Invite []string
	// OnProgress is called on the escalating goroutine at each step.
	OnProgress func(EscalationProgress)
}

// Escalate turns an established two-party call that terminates here into
// a conference: it creates a conference, moves the call's media into the
// mixer without tearing the call down (the call is refreshed with a
// re-INVITE), and calls the parties in opts.Invite. On failure the
// conference is ended and the call is left as it was: two-party.
func (s *Service) Escalate(ctx context.Context, call *endpoint.Call, opts EscalateOptions) (*Conference, error) {
	report := func(step EscalationStep, uri string, err error) {
		if opts.OnProgress != nil {
			opts.OnProgress(EscalationProgress{Step: step, ConferenceURI: uri, Err: err})
		}
	}
	fail := func(c *Conference, err error) (*Conference, error) {
		uri := ""
		if c != nil {
			uri = c.uri
			c.End(context.WithoutCancel(ctx))
		}
		report(EscalationFailed, uri, err)
		return nil, fmt.Errorf("conference: escalate: %w", err)
	}
	if call.State() != endpoint.StateEstablished || call.Flow() == nil {
		return fail(nil, endpoint.ErrState)
	}
	id := opts.ID
	if id == "" {
		id = "esc-" + sip.GenerateTagN(10)
	}
	c, err := s.Create(id, Options{})
	if err != nil {
		return fail(nil, err)
	}
	report(ConnectingToConference, c.uri, nil)

	p, ref := c.reserve(call.RemoteURI(), call, false)
	if ref != nil {
		return fail(c, ref)
	}
	if err := c.mix(p); err != nil {
		c.release(p, false)
		return fail(c, err)
	}
	// The call moves into the mixer in place; a re-INVITE refreshes the
	// session so both sides agree it continues (nothing is torn down).
	if err := call.Hold(ctx, endpoint.HoldNone); err != nil {
		c.detach(p)
		return fail(c, err)
	}
	c.joined(p)
	go c.watch(p)
	report(JoiningLocalMedia, c.uri, nil)

	for _, target := range opts.Invite {
		report(WaitingForPeer, c.uri, nil)
		if _, err := c.Invite(ctx, target); err != nil {
			// Take the original call back out before ending the
			// conference: it must survive, two-party.
			c.detach(p)
			return fail(c, err)
		}
	}
	report(EscalationCompleted, c.uri, nil)
	return c, nil
}

// watch removes a participant whose call the conference does not serve
// on a handler goroutine (escalated or dialled-out calls) when it ends.
func (c *Conference) watch(p *participant) {
	select {
	case <-p.call.Done():
	case <-c.done:
		return
	}
	c.unmix(p)
	c.release(p, true)
}

// detach takes a participant out of the conference without ending its
// call, and gives its session back as it was (jitter buffer off).
func (c *Conference) detach(p *participant) {
	c.unmix(p)
	c.mu.Lock()
	delete(c.parts, p.info.ID)
	if k := rosterKey(p.info.URI); c.byURI[k] == p {
		delete(c.byURI, k)
	}
	c.mu.Unlock()
}

// Invite has the conference call target (dial-out) and adds the answered
// call as an ordinary participant.
func (c *Conference) Invite(ctx context.Context, target string) (ParticipantInfo, error) {
	c.mu.Lock()
	ended := c.ended
	c.mu.Unlock()
	if ended {
		return ParticipantInfo{}, ErrEnded
	}
	conv := c.s.ep.NewConversation()
	if err := conv.Impersonate(endpoint.Identity{URI: c.uri, DisplayName: "Conference"}); err != nil {
		return ParticipantInfo{}, err
	}
	call := conv.NewCall()
	if err := call.Establish(ctx, target, endpoint.EstablishOptions{}); err != nil {
		return ParticipantInfo{}, err
	}
	p, ref := c.reserve(call.RemoteURI(), call, false)
	if ref != nil {
		_ = call.Terminate(ctx)
		return ParticipantInfo{}, errors.New(ref.reason)
	}
	if err := c.mix(p); err != nil {
		_ = call.Terminate(ctx)
		c.release(p, false)
		return ParticipantInfo{}, err
	}
	c.joined(p)
	go c.watch(p)
	return p.info, nil
}
