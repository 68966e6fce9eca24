package endpoint

import (
	"time"

	"github.com/switchboard-sip/switchboard/internal/ua"
	"github.com/switchboard-sip/switchboard/platform"
)

// CallInfo is a snapshot of a call, taken at once under the call's lock.
type CallInfo struct {
	// CallID is the dialog's Call-ID.
	CallID string
	// App is the user part of the owner URI of the call's endpoint (the
	// app serving it: "echo", "park", "conf-", ...).
	App string
	// Incoming is true for a call we received.
	Incoming bool
	// Local and Remote are the URIs of both sides (Remote is the From of
	// an incoming call, the To of an outgoing one).
	Local, Remote string
	// State and Reason are the call's state and its last transition's
	// reason.
	State  State
	Reason Reason
	// Since is when the call was created; Established when its
	// offer/answer completed (zero before).
	Since, Established time.Time
	// Codec is the negotiated audio codec's name ("" before an answer).
	Codec string
}

// CallEvent is one change in the life of a call of a platform, as Watch
// delivers it: the call's creation (Previous is StateIdle and State the
// first state it was registered in) and every state change after.
type CallEvent struct {
	Call *Call
	StateChange
	Info CallInfo
	At   time.Time
}

// Info returns a snapshot of the call.
func (c *Call) Info() CallInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.infoLocked()
}

func (c *Call) infoLocked() CallInfo {
	ci := CallInfo{
		CallID: c.dlg.callID, App: c.ep.owner.User, Incoming: c.incoming,
		Local: formatURI(c.dlg.local), Remote: formatURI(c.dlg.remote),
		State: c.state, Reason: c.reason, Since: c.created, Established: c.negotiatedAt,
	}
	if c.negotiate {
		ci.Codec = c.neg.Codec.Name
	}
	return ci
}

// Calls returns the live calls of p: those registered in its dialog table
// (an incoming call from its answer on, an outgoing call from its INVITE
// until it terminates), in no particular order.
func Calls(p *platform.Platform) []*Call {
	hs := ua.Of(p).Snapshot()
	out := make([]*Call, 0, len(hs))
	for _, h := range hs {
		if c, ok := callOf(h); ok {
			out = append(out, c)
		}
	}
	return out
}

// FindCall returns the live call of p with this Call-ID.
func FindCall(p *platform.Platform, callID string) (*Call, bool) {
	for _, c := range Calls(p) {
		if c.CallID() == callID {
			return c, true
		}
	}
	return nil, false
}

// Watch adds f as an observer of every call of p, of every endpoint, and
// returns the function that removes it. f sees each call's creation and
// state changes in order, on that call's event goroutine (so the events of
// two calls may interleave), never under a lock; it must not block. Calls
// that already exist when Watch is called are seen from their next change.
func Watch(p *platform.Platform, f func(CallEvent)) (remove func()) {
	return ua.Of(p).Watchers.Add(func(v any) {
		if ev, ok := v.(CallEvent); ok {
			f(ev)
		}
	})
}

// watchLocked posts a call event to the platform's watchers on the call's
// event queue; c.mu is held.
func (c *Call) watchLocked(prev, s State, r Reason) {
	w := &ua.Of(c.p).Watchers
	if w.Len() == 0 {
		return
	}
	w.Post(&c.events, CallEvent{Call: c, StateChange: StateChange{Previous: prev, State: s, Reason: r}, Info: c.infoLocked(), At: time.Now()})
}
