package b2b

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/callsession"
	"github.com/switchboard-sip/switchboard/internal/serial"
	"github.com/switchboard-sip/switchboard/media"
	"github.com/switchboard-sip/switchboard/media/sdp"
)

// Leg is one side of a back-to-back call.
type Leg struct {
	// Call is the leg's call: for leg 1 usually an incoming call not yet
	// answered; for leg 2 an idle call, or an established call (for example
	// one joined to a conference) when Destination is empty.
	Call *endpoint.Call
	// Destination is where leg 2 is placed.
	Destination string
	// Establish carries per-leg establish options (leg 2).
	Establish endpoint.EstablishOptions
}

// Options configure a back-to-back call.
type Options struct {
	// PassHeaders names headers copied from leg 1's INVITE to leg 2's. The
	// dialog's own headers are never copied: Call-ID, From, To, CSeq, Via,
	// Contact, P-Asserted-Identity, Refer-To, Replaces and the like.
	PassHeaders []string
	// RingTimeout bounds how long leg 2 may ring; leg 1 then gets 480.
	// Default 60s.
	RingTimeout time.Duration
	// ImpersonateCaller makes leg 2 present leg 1's caller (From and
	// P-Asserted-Identity), so the far end sees the original caller. Leg
	// 2's endpoint must be an application endpoint.
	ImpersonateCaller bool
	// ConferencePrefix is the user-part prefix that marks conference URIs
	// (default "conf-"): such a destination is refused with
	// ErrConferenceDestination.
	ConferencePrefix string
	// NoLocalSplice keeps relaying RTP through leg 2 when leg 2 is joined
	// to a conference of this platform. By default such a call is spliced:
	// the conference takes leg 1's flow directly (see Call.Spliced), which
	// saves two RTP sessions and a jitter of loopback per caller.
	NoLocalSplice bool
	// Failover lists destinations tried in order after leg 2's, each on a
	// new call of leg 2's conversation, when the one before fails with a
	// 5xx or 408, cannot be reached, or sends no response at all within
	// FailoverTimeout. Any other failure (486 Busy, 404, 603) is the
	// callee's answer and goes to leg 1 at once. RingTimeout bounds the
	// whole attempt.
	Failover []string
	// FailoverTimeout is how long a destination with another after it may
	// stay silent (no provisional response) before the next is tried.
	// Default 5s, as Kamailio's fr_timer.
	FailoverTimeout time.Duration
	// TransferInProcess, when set, is asked about each REFER a leg
	// receives before the call carries it out itself. A non-nil result
	// takes the transfer in process: it is given the other leg (the party
	// being transferred) and carries the transfer out on it, with no new
	// call to the target, while the referrer is told the outcome (see
	// endpoint.TransferRequest.AcceptInProcess). A park service does so
	// for a REFER to its own address (park.Service.TransferInProcess): the
	// parked party is parked directly instead of through a loopback call
	// to the park address, which would add a relay and a dialog to its
	// media path on every retrieve-and-re-park. A nil result lets the
	// call carry the transfer out as usual.
	TransferInProcess func(tr *endpoint.TransferRequest, referrer *endpoint.Call) func(ctx context.Context, transferee *endpoint.Call) error
}

// State is the state of a back-to-back call, derived from its legs.
type State int

// States.
const (
	Idle State = iota
	Establishing
	Established
	Terminating
	Terminated
)

func (s State) String() string {
	return [...]string{"idle", "establishing", "established", "terminating", "terminated"}[s]
}

// Errors.
var (
	ErrConferenceDestination = errors.New("b2b: a conference URI is not a two-party destination: join the conference first " +
		"(conference.Join, impersonating the caller or with a generated identity) and pass that joined call as leg 2 with no destination")
	ErrLegState = errors.New("b2b: leg 1 must be an incoming call (answered by Establish) or an established one, " +
		"and leg 2 idle with a destination or established without one")
)

// neverPass lists headers that belong to a dialog or an identity and are
// never copied between legs.
var neverPass = map[string]bool{
	"call-id": true, "from": true, "to": true, "cseq": true, "via": true, "contact": true,
	"p-asserted-identity": true, "p-preferred-identity": true, "refer-to": true, "replaces": true,
	"referred-by": true, "route": true, "record-route": true, "max-forwards": true,
	"content-length": true, "content-type": true, "authorization": true, "proxy-authorization": true,
}

// Call is a back-to-back call. Methods are safe for concurrent use;
// OnStateChanged handlers run on the b2b call's own goroutine, one at a
// time. The b2b call adds handlers of its own to its legs' events (hold,
// DTMF, REFER) next to the application's, and removes them when the legs
// are re-paired or the b2b call ends.
type Call struct {
	leg1, leg2 Leg
	opts       Options

	mu      sync.Mutex
	state   State
	relay   *media.Relay
	spliced callsession.Splicer // leg 1's media joined in process instead of relayed
	last    *media.RelayStats
	onState serial.Handlers[State]
	events  serial.Queue
	unwire  []func() // removes the handlers wire added to the legs
	done    chan struct{}
	once    sync.Once

	// transfers counts REFERs being carried out (wireTransfer);
	// transferred is closed when it drops back to zero. The leg that
	// referred ends before it is replaced, and watch waits on this.
	transfers   int
	handedOver  bool // a transfer carried out in process took a leg (TransferInProcess)
	transferred chan struct{}
	// ready is closed when Establish has finished, bridged or not: a REFER
	// that arrives just after leg 1 is answered waits for it (see
	// wireTransfers).
	ready     chan struct{}
	readyOnce sync.Once
}

// New pairs two legs. It checks the legs and the destination but sends
// nothing; Establish does.
func New(leg1, leg2 Leg, opts Options) (*Call, error) {
	if leg1.Call == nil || leg2.Call == nil {
		return nil, errors.New("b2b: both legs need a call")
	}
	if opts.RingTimeout == 0 {
		opts.RingTimeout = 60 * time.Second
	}
	if opts.ConferencePrefix == "" {
		opts.ConferencePrefix = "conf-"
	}
	if opts.FailoverTimeout <= 0 {
		opts.FailoverTimeout = 5 * time.Second
	}
	if len(opts.Failover) > 0 && leg2.Destination == "" {
		return nil, errors.New("b2b: failover destinations need a leg 2 destination")
	}
	if leg2.Destination != "" {
		for _, d := range append([]string{leg2.Destination}, opts.Failover...) {
			u, err := endpoint.ParseURI(d)
			if err != nil {
				return nil, fmt.Errorf("b2b: leg 2 destination: %w", err)
			}
			if strings.HasPrefix(u.User, opts.ConferencePrefix) {
				return nil, ErrConferenceDestination
			}
		}
		if leg2.Call.State() != endpoint.StateIdle {
			return nil, ErrLegState
		}
	} else if leg2.Call.State() != endpoint.StateEstablished {
		return nil, fmt.Errorf("%w: leg 2 has no destination and is not established", ErrLegState)
	}
	if s := leg1.Call.State(); s != endpoint.StateIncoming && s != endpoint.StateEstablished {
		return nil, ErrLegState
	}
	return &Call{leg1: leg1, leg2: leg2, opts: opts, done: make(chan struct{}), ready: make(chan struct{})}, nil
}

// Leg1 returns leg 1's call.
func (b *Call) Leg1() *endpoint.Call { return b.leg1.Call }

// Leg2 returns leg 2's call.
func (b *Call) Leg2() *endpoint.Call {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.leg2.Call
}

// State returns the state.
func (b *Call) State() State {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

// Done is closed when both legs have ended.
func (b *Call) Done() <-chan struct{} { return b.done }

// OnStateChanged adds a state handler and returns the function that
// removes it. Every handler added runs, in the order added, on the b2b
// call's event goroutine, one state at a time, never under a lock; it must
// not block. Remove is idempotent and safe inside a handler.
func (b *Call) OnStateChanged(f func(State)) (remove func()) {
	return b.onState.Add(f)
}

func (b *Call) setState(s State) {
	b.mu.Lock()
	if b.state == s || b.state == Terminated {
		b.mu.Unlock()
		return
	}
	b.state = s
	// Posted under b.mu, so concurrent changes reach handlers in order.
	b.onState.Post(&b.events, s)
	b.mu.Unlock()
}

// passHeaders copies the allow-listed headers of leg 1's INVITE.
func (b *Call) passHeaders() []endpoint.Header {
	req := b.leg1.Call.Request()
	if req == nil {
		return nil
	}
	var out []endpoint.Header
	for _, name := range b.opts.PassHeaders {
		if neverPass[strings.ToLower(name)] {
			continue
		}
		for _, h := range req.GetHeaders(name) {
			out = append(out, endpoint.Header{Name: h.Name(), Value: h.Value()})
		}
	}
	return out
}

// Establish places leg 2 (unless it is already established), passes its
// progress to leg 1, answers leg 1 when leg 2 answers and starts the media
// relay. A failure of leg 2 is mapped onto leg 1 and returned.
func (b *Call) Establish(ctx context.Context) error {
	b.setState(Establishing)
	l1, l2 := b.leg1.Call, b.leg2.Call
	if b.leg2.Destination != "" {
		if b.opts.ImpersonateCaller {
			if err := l2.Conversation().Impersonate(endpoint.Identity{URI: l1.RemoteURI(), DisplayName: l1.RemoteDisplayName()}); err != nil {
				if errors.Is(err, endpoint.ErrNotApplication) || errors.Is(err, endpoint.ErrImpersonateState) {
					b.fail(ctx, sip.StatusInternalServerError, "Server Internal Error")
				} else {
					// The caller's From cannot be presented (control
					// characters, a quote, an oversized value).
					b.fail(ctx, sip.StatusBadRequest, "Bad Request")
				}
				return fmt.Errorf("b2b: impersonate caller: %w", err)
			}
		}
		eo := b.leg2.Establish
		pass := b.passHeaders()
		if err := endpoint.CheckHeaders(pass); err != nil {
			// A header the caller sent could not be passed on as it is.
			b.fail(ctx, sip.StatusBadRequest, "Bad Request")
			return fmt.Errorf("b2b: pass headers: %w", err)
		}
		eo.Headers = append(append([]endpoint.Header(nil), eo.Headers...), pass...)
		if mf := l1.Request(); mf != nil && mf.MaxForwards() != nil {
			// Loops are stopped by Max-Forwards (RFC 3261 section 16.6).
			n := int(mf.MaxForwards().Val())
			if n <= 1 {
				b.fail(ctx, 483, "Too Many Hops")
				return errors.New("b2b: too many hops")
			}
			eo.MaxForwards = n - 1
		}
		userProv := eo.OnProvisional
		eo.OnProvisional = func(code int, reason string, early bool) {
			switch {
			case early:
				if l1.EarlyMedia(ctx) == nil {
					_ = b.startRelay() // failure surfaces when the call is answered
				}
			case code == 180:
				_ = l1.Ring(ctx)
			}
			if userProv != nil {
				userProv(code, reason, early)
			}
		}
		rctx, cancel := context.WithTimeout(ctx, b.opts.RingTimeout)
		defer cancel()
		// CANCEL from the caller cancels leg 2.
		stop := context.AfterFunc(l1.Context(), cancel)
		defer stop()
		err := b.establishLeg2(rctx, l1, eo)
		l2 = b.Leg2()
		if err != nil {
			var re *endpoint.ResponseError
			var rd *endpoint.RedirectError
			switch {
			case l1.State() == endpoint.StateTerminated:
				// The caller gave up (CANCEL); leg 2 was cancelled.
			case errors.As(err, &re):
				b.fail(ctx, re.Code, re.Reason)
			case errors.As(err, &rd):
				b.fail(ctx, sip.StatusTemporarilyUnavailable, "Temporarily Unavailable")
			case errors.Is(err, context.DeadlineExceeded):
				b.fail(ctx, sip.StatusTemporarilyUnavailable, "No Answer")
			default:
				b.fail(ctx, sip.StatusServiceUnavailable, "Service Unavailable")
			}
			b.finish()
			return fmt.Errorf("b2b: leg 2: %w", err)
		}
	}
	// A REFER may follow leg 1's answer at once (a phone that retrieves a
	// parked call and transfers it straight on): the transfer handlers are
	// in place before the answer, and wait until the legs are bridged.
	b.wireTransfers()
	defer b.readyOnce.Do(func() { close(b.ready) })
	if l1.State() == endpoint.StateIncoming {
		if err := l1.Accept(ctx); err != nil {
			_ = l2.Terminate(context.WithoutCancel(ctx))
			b.finish()
			return fmt.Errorf("b2b: leg 1: %w", err)
		}
	}
	if l1.State() != endpoint.StateEstablished || l2.State() != endpoint.StateEstablished {
		b.hangupBoth(context.WithoutCancel(ctx))
		b.finish()
		return errors.New("b2b: a leg ended while establishing")
	}
	if err := b.startRelay(); err != nil {
		// A leg's media is already taken by someone else (an app's
		// Receive or Pull): the legs cannot be bridged.
		b.hangupBoth(context.WithoutCancel(ctx))
		b.finish()
		return fmt.Errorf("b2b: bridge media: %w", err)
	}
	b.wire()
	b.setState(Established)
	b.readyOnce.Do(func() { close(b.ready) })
	go b.watch()
	return nil
}

// establishLeg2 places leg 2 at its destination and then, while the
// failure is one that Options.Failover covers, at each failover
// destination on a new call of the same conversation (so an impersonated
// identity carries over), which becomes leg 2.
func (b *Call) establishLeg2(ctx context.Context, l1 *endpoint.Call, eo endpoint.EstablishOptions) error {
	targets := append([]string{b.leg2.Destination}, b.opts.Failover...)
	log := l1.Conversation().Endpoint().Platform().Logger()
	for i, dest := range targets {
		last := i == len(targets)-1
		l2 := b.Leg2()
		if i > 0 {
			l2 = l2.Conversation().NewCall()
			b.mu.Lock()
			b.leg2.Call = l2
			b.mu.Unlock()
		}
		actx, cancel := context.WithCancel(ctx)
		silent := make(chan struct{})
		timer := time.AfterFunc(b.opts.FailoverTimeout, func() {
			if !last {
				close(silent)
			}
		})
		ao := eo
		ao.OnProvisional = func(code int, reason string, early bool) {
			timer.Stop() // it answers: ringing is bounded by RingTimeout only
			if eo.OnProvisional != nil {
				eo.OnProvisional(code, reason, early)
			}
		}
		result := make(chan error, 1)
		go func() { result <- l2.Establish(actx, dest, ao) }()
		// abandon leaves the attempt to finish on its own; a late answer
		// is hung up at once.
		abandon := func() {
			go func() {
				if <-result == nil {
					_ = l2.Terminate(context.Background())
				}
			}()
		}
		var err error
		gaveUp := false
		select {
		case err = <-result:
		case <-ctx.Done():
			// The caller gave up (CANCEL) or the ring timeout passed:
			// answer leg 1 now, even if leg 2's INVITE, unanswered,
			// cannot be cancelled yet; a late answer is hung up.
			abandon()
			timer.Stop()
			cancel()
			return ctx.Err()
		case <-silent:
			// Give up on it as Kamailio does when fr_timer fires: the
			// INVITE may still be answered (RFC 3261 lets no CANCEL go
			// before a provisional response), and a late answer is hung
			// up at once.
			gaveUp = true
			cancel()
			abandon()
		}
		timer.Stop()
		cancel()
		if !gaveUp && (err == nil || last || l1.State() == endpoint.StateTerminated || ctx.Err() != nil) {
			return err
		}
		if gaveUp && (l1.State() == endpoint.StateTerminated || ctx.Err() != nil) {
			return ctx.Err()
		}
		var re *endpoint.ResponseError
		switch {
		case gaveUp:
			log.Warn("b2b: no response; failing over", "destination", dest, "after", b.opts.FailoverTimeout.String(), "next", targets[i+1], "call_id", l1.CallID())
		case errors.As(err, &re) && (re.Code >= 500 && re.Code < 600 || re.Code == 408):
			log.Warn("b2b: destination failed; failing over", "destination", dest, "code", re.Code, "next", targets[i+1], "call_id", l1.CallID())
		case errors.As(err, &re), errors.As(err, new(*endpoint.RedirectError)):
			return err // the callee's answer
		default:
			log.Warn("b2b: destination unreachable; failing over", "destination", dest, "error", err, "next", targets[i+1], "call_id", l1.CallID())
		}
	}
	return nil // not reached: the last target returns
}

// fail refuses leg 1 with the code leg 2 got (486 stays 486).
func (b *Call) fail(ctx context.Context, code int, reason string) {
	if code < 300 || code > 699 {
		code, reason = sip.StatusServiceUnavailable, "Service Unavailable"
	}
	if err := b.leg1.Call.DeclineWithReason(context.WithoutCancel(ctx), code, reason); err != nil && reason != "" {
		// A far end's reason phrase that cannot be relayed (oversized):
		// leg 1 gets the standard phrase instead.
		_ = b.leg1.Call.DeclineWithReason(context.WithoutCancel(ctx), code, "")
	}
}

func (b *Call) startRelay() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.relay != nil {
		return nil
	}
	if done, err := b.spliceLocked(); done || err != nil {
		return err
	}
	r, err := media.NewRelay(b.leg1.Call.Flow(), b.leg2.Call.Flow(), media.RelayOptions{})
	if err != nil {
		return nil // a leg without media (yet): nothing to relay
	}
	if err := r.Start(); err != nil {
		return err
	}
	b.relay = r
	return nil
}

// spliceLocked joins leg 1's media in process when leg 2 is a call into
// a service of this platform that can take it (a conference: see
// internal/callsession): leg 1's flow then feeds the conference's mixer
// directly and the RTP sessions of leg 2 and of its far end close, so the
// caller's audio crosses one socket instead of three. It reports whether
// it spliced. b.mu is held.
func (b *Call) spliceLocked() (bool, error) {
	l1, l2 := b.leg1.Call, b.leg2.Call
	if b.spliced != nil {
		// A transfer re-paired leg 1: move the conference to the new one.
		if err := b.spliced.Splice(l1.Flow()); err != nil {
			return true, err
		}
		return true, nil
	}
	if b.opts.NoLocalSplice || b.leg2.Destination != "" || l1.Flow() == nil {
		return false, nil
	}
	peer := callsession.LocalPeer(l2)
	if peer == nil {
		return false, nil
	}
	sp := callsession.SpliceOf(peer)
	if sp == nil {
		return false, nil
	}
	if err := sp.Splice(l1.Flow()); err != nil {
		return false, nil // not spliced: relay as usual
	}
	callsession.MediaElsewhere(l2, l1.Flow())
	callsession.MediaElsewhere(peer, l1.Flow())
	b.spliced = sp
	return true, nil
}

// Spliced reports whether the call's media is joined in process (leg 2
// is a call into a conference of this platform, which takes leg 1's flow
// directly); Relay is then nil.
func (b *Call) Spliced() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.spliced != nil
}

// Relay returns the media relay (nil before media flows).
func (b *Call) Relay() *media.Relay {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.relay
}

// LastRelayStats returns the media relay's counters as they were when the
// call ended (nil before that).
func (b *Call) LastRelayStats() *media.RelayStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last
}

// wire passes hold/retrieve, DTMF and transfers between the legs. Its
// handlers are added next to the application's; unwireLegs removes them.
func (b *Call) wire() {
	b.mu.Lock()
	l1, l2 := b.leg1.Call, b.leg2.Call
	b.mu.Unlock()
	stop := make(chan struct{}) // closed by unwireLegs: ends the DTMF senders
	removes := []func(){sync.OnceFunc(func() { close(stop) })}
	pass := func(from, to *endpoint.Call) {
		removes = append(removes, from.OnMediaChanged(func(n sdp.Negotiated) {
			if from.HoldType() != endpoint.HoldNone {
				// from is on hold because this b2b call held it, to mirror
				// the other leg: n is its party's answer to that hold, not
				// a hold of its own. Mirroring it back would hold the leg
				// that began it, which would then answer its own retrieve
				// with inactive.
				return
			}
			want := endpoint.HoldNone
			switch n.RemoteDirection {
			case sdp.SendOnly:
				want = endpoint.HoldRemote
			case sdp.Inactive:
				want = endpoint.HoldBoth
			}
			if to.HoldType() == want || to.State() != endpoint.StateEstablished {
				return
			}
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = to.Hold(ctx, want)
			}()
		}))
	}
	pass(l1, l2)
	pass(l2, l1)
	// RFC 4733 DTMF crosses in the media relay; DTMF that arrives as SIP
	// INFO (or in-band, without relay) is re-sent on the other leg as
	// RFC 4733 (in-band when that leg has no telephone-event).
	dtmf := func(from, to *endpoint.Call) {
		// One sender per direction keeps the keys in order.
		keys := make(chan rune, 32)
		go func() {
			for {
				select {
				case d := <-keys:
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					_ = to.SendDTMF(ctx, string(d))
					cancel()
				case <-to.Done():
					return
				case <-from.Done():
					return
				case <-stop:
					return
				}
			}
		}()
		removes = append(removes, callsession.OnSignalledDTMF(from, func(ev media.DTMFEvent) {
			if ev.Source != media.DTMFInfo {
				return // RFC 4733 is relayed with the media; in-band tones are audio
			}
			select {
			case keys <- ev.Digit:
			default: // a flood: drop
			}
		}))
	}
	dtmf(l1, l2)
	dtmf(l2, l1)
	b.mu.Lock()
	b.unwire = append(b.unwire, removes...)
	b.mu.Unlock()
}

// wireTransfers adds the handlers that carry out REFERs received on the
// legs (wireTransfer); unwireLegs removes them.
func (b *Call) wireTransfers() {
	b.mu.Lock()
	l1, l2 := b.leg1.Call, b.leg2.Call
	b.mu.Unlock()
	removes := []func(){b.wireTransfer(l1, true), b.wireTransfer(l2, false)}
	b.mu.Lock()
	b.unwire = append(b.unwire, removes...)
	b.mu.Unlock()
}

// unwireLegs removes the handlers wire added to the legs; the
// application's own handlers stay.
func (b *Call) unwireLegs() {
	b.mu.Lock()
	removes := b.unwire
	b.unwire = nil
	b.mu.Unlock()
	for _, remove := range removes {
		remove()
	}
}

// wireTransfer carries out a REFER received on a leg inside the
// back-to-back call: the referred party is called, and the other leg is
// re-paired with the new call, so the far end need not support Replaces.
// It takes only REFERs that no earlier handler (the application's, say)
// has decided.
func (b *Call) wireTransfer(c *endpoint.Call, isLeg1 bool) (remove func()) {
	return c.OnTransferRequested(func(tr *endpoint.TransferRequest) {
		if !tr.Take() {
			return
		}
		// Counted before Accept can end the referring leg.
		b.mu.Lock()
		if b.transfers == 0 {
			b.transferred = make(chan struct{})
		}
		b.transfers++
		b.mu.Unlock()
		go func() {
			defer func() {
				b.mu.Lock()
				if b.transfers--; b.transfers == 0 {
					close(b.transferred)
				}
				b.mu.Unlock()
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			select {
			case <-b.ready:
			case <-ctx.Done():
			}
			if b.State() != Established {
				tr.Decline(603) // the legs were never bridged, or are ending
				return
			}
			b.mu.Lock()
			other := b.leg2.Call
			if !isLeg1 {
				other = b.leg1.Call
			}
			b.mu.Unlock()
			if b.opts.TransferInProcess != nil {
				if carry := b.opts.TransferInProcess(tr, c); carry != nil {
					// The pair ends when the transferee is handed over
					// (watch); the referrer is ended by the transfer, after
					// its final NOTIFY.
					if tr.AcceptInProcess(ctx, func(ctx context.Context) error { return carry(ctx, other) }) == nil {
						b.mu.Lock()
						b.handedOver = true
						b.mu.Unlock()
					}
					return
				}
			}
			b.mu.Lock()
			old := b.relay
			b.relay = nil
			b.mu.Unlock()
			// The new call presents the party it carries (the other
			// leg's), not this leg's local identity (an orbit's prefix,
			// say): the target sees and logs who is really calling.
			nc, err := tr.AcceptAs(ctx, endpoint.Identity{URI: other.RemoteURI(), DisplayName: other.RemoteDisplayName()}, endpoint.EstablishOptions{})
			if err != nil {
				b.mu.Lock()
				b.relay = old
				b.mu.Unlock()
				return
			}
			if old != nil {
				old.Close()
			}
			b.mu.Lock()
			if isLeg1 {
				b.leg1.Call = nc
			} else {
				b.leg2.Call = nc
			}
			b.mu.Unlock()
			// Our handlers on the old pair go; the application's stay.
			b.unwireLegs()
			_ = b.startRelay()
			b.wire()
			b.wireTransfers()
			go b.watch()
		}()
	})
}

// watch ends the other leg when one ends (BYE, RTP timeout, ...).
func (b *Call) watch() {
	b.mu.Lock()
	l1, l2 := b.leg1.Call, b.leg2.Call
	b.mu.Unlock()
	// A leg handed to a park service (park.Service.Park, such as an
	// operator parking it through the admin API) leaves the pair once it
	// is parked: its media is released for the park service and the other
	// leg ends. A park that fails leaves the pair as it was.
	parked := make(chan *endpoint.Call, 2)
	for _, c := range []*endpoint.Call{l1, l2} {
		remove := c.OnStateChanged(func(sc endpoint.StateChange) {
			if sc.State == endpoint.StateEstablished && sc.Reason == endpoint.ReasonParked {
				select {
				case parked <- c:
				default:
				}
			}
		})
		defer remove()
	}
	select {
	case <-l1.Done():
	case <-l2.Done():
	case p := <-parked:
		other := l1
		if p == l1 {
			other = l2
		}
		b.setState(Terminating)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b.finish() // releases the relay, so the park service owns p's media
		if other.State() != endpoint.StateTransferring {
			// A referrer whose REFER parked p is ended by its transfer,
			// after the final NOTIFY.
			_ = other.Terminate(ctx)
		}
		return
	}
	// A REFER carried out on a leg ends that leg before re-pairing the
	// other with the new call: let transfers in progress settle first.
	b.mu.Lock()
	for b.transfers > 0 {
		ch := b.transferred
		b.mu.Unlock()
		<-ch
		b.mu.Lock()
	}
	same := b.leg1.Call == l1 && b.leg2.Call == l2
	handed := b.handedOver
	b.mu.Unlock()
	if !same {
		return
	}
	if handed {
		// The referrer's BYE came before the handed-over leg's state
		// reached us: that leg belongs to its new owner (a park service);
		// the referrer was ended by its transfer.
		b.setState(Terminating)
		b.finish()
		return
	}
	b.setState(Terminating)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b.hangupBoth(ctx)
	b.finish()
}

func (b *Call) hangupBoth(ctx context.Context) {
	b.mu.Lock()
	l1, l2 := b.leg1.Call, b.leg2.Call
	b.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range []*endpoint.Call{l1, l2} {
		wg.Go(func() { _ = c.Terminate(ctx) })
	}
	wg.Wait()
}

func (b *Call) finish() {
	b.once.Do(func() {
		b.mu.Lock()
		r := b.relay
		b.relay = nil
		if r != nil {
			st := r.Stats()
			b.last = &st
		}
		b.mu.Unlock()
		if r != nil {
			r.Close()
		}
		b.unwireLegs()
		b.setState(Terminated)
		close(b.done)
	})
}

// Terminate ends both legs.
func (b *Call) Terminate(ctx context.Context) error {
	b.setState(Terminating)
	b.hangupBoth(ctx)
	b.finish()
	return nil
}

// Originate is click-to-call: it dials a from ep and, once a answers,
// dials b and bridges the two as a back-to-back call, with a as leg 1. By
// default b sees a as the caller (opts.ImpersonateCaller is forced on
// unless opts.KeepIdentity). If b fails, a is hung up and the error says
// which leg failed. ctx bounds both dials.
func Originate(ctx context.Context, ep *endpoint.Endpoint, a, b string, opts OriginateOptions) (*Call, error) {
	la := ep.NewConversation().NewCall()
	if err := la.Establish(ctx, a, endpoint.EstablishOptions{}); err != nil {
		return nil, fmt.Errorf("b2b: originate: leg A %s: %w", a, err)
	}
	o := opts.Options
	o.ImpersonateCaller = !opts.KeepIdentity
	bc, err := New(Leg{Call: la}, Leg{Call: ep.NewConversation().NewCall(), Destination: b}, o)
	if err != nil {
		_ = la.Terminate(context.WithoutCancel(ctx))
		return nil, err
	}
	if err := bc.Establish(ctx); err != nil {
		_ = la.Terminate(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("b2b: originate: leg B %s: %w", b, err)
	}
	return bc, nil
}

// OriginateOptions configure Originate.
type OriginateOptions struct {
	Options
	// KeepIdentity presents ep's own identity to b instead of a's.
	KeepIdentity bool
}
