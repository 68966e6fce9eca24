package endpoint

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-sip/switchboard/internal/callsession"
	"github.com/switchboard-sip/switchboard/internal/serial"
	"github.com/switchboard-sip/switchboard/internal/ua"
	"github.com/switchboard-sip/switchboard/media"
	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/media/codec"
	"github.com/switchboard-sip/switchboard/media/dsp"
	"github.com/switchboard-sip/switchboard/media/sdp"
	"github.com/switchboard-sip/switchboard/platform"
)

// ResponseError reports a final failure response to a request we sent.
type ResponseError struct {
	Code   int
	Reason string
	Res    *sip.Response
}

func (e *ResponseError) Error() string {
	return fmt.Sprintf("endpoint: remote answered %d %s", e.Code, e.Reason)
}

// RedirectError reports a 3xx response to an outgoing call; Contacts lists
// the targets it names.
type RedirectError struct {
	Code     int
	Contacts []string
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("endpoint: redirected (%d) to %v", e.Code, e.Contacts)
}

// Errors of call operations.
var (
	ErrState      = errors.New("endpoint: operation not allowed in the call's state")
	ErrTerminated = errors.New("endpoint: call terminated")
)

// Call is an audio call: one INVITE dialog with one RTP session. Its
// methods are safe for concurrent use.
type Call struct {
	conv     *Conversation
	ep       *Endpoint
	p        *platform.Platform
	incoming bool

	mu           sync.Mutex
	log          *slog.Logger
	state        State
	reason       Reason
	dlg          dialog
	local        sdp.Local
	neg          sdp.Negotiated
	negotiate    bool // an offer/answer has completed
	negotiatedAt time.Time
	// establishedAt is when the call was first established (the
	// duration in the end-of-call line).
	establishedAt time.Time
	rtp           *media.Session
	flow          *media.Flow // what applications see of rtp
	// splicer, when set, can take this call's media from a local peer's
	// flow; mediaSrc is that flow once spliced (rtp is then closed).
	splicer  callsession.Splicer
	mediaSrc *media.Flow
	hold     HoldType
	music    *audio.Player // attached while held with music
	inband   func()        // removes the in-band DTMF detector, when no telephone-event
	// inbandWant counts OnDTMF handlers ever added: the in-band detector
	// (which decodes every packet heard) runs only for a call someone
	// listens to for keys.
	inbandWant int
	handedOff  bool
	replaces   *Call
	ackWait    map[uint32]chan struct{}
	referCh    chan int // NOTIFY sipfrag status codes of our REFER
	// referWait is set while our accepted REFER awaits its final NOTIFY:
	// the dialog then outlives a BYE for notifyGrace (the REFER's
	// subscription is a usage of its own, RFC 5057 section 5.5), since
	// the transferee's NOTIFY and BYE, sent back to back, can be handled
	// in either order. Under mu.
	referWait bool
	// transferred is set once a transfer we carried out succeeded, so a
	// BYE racing our own reports the right reason.
	transferred bool
	created     time.Time // when newCall made the call
	watched     bool      // the platform's watchers saw its creation (Watch)

	// incoming
	inv    *platform.Request // initial INVITE with our To tag set
	invReq *sip.Request
	// selfBranch is the Via branch of this outgoing call's initial
	// INVITE when it was sent to one of this platform's own listeners:
	// the branch then never left the process, so an incoming INVITE that
	// carries it is this call arriving (see localCaller).
	selfBranch string
	answeredAt time.Time // when the 200 OK was sent (incoming calls)
	offer      []byte    // remote offer of the initial INVITE (nil: delayed offer)
	answer     []byte
	rspHdrs    []sip.Header

	// outgoing
	invite          *sip.Request
	cancelEstablish context.CancelFunc
	// heardProvisional: an outgoing INVITE got a provisional response,
	// so it can be cancelled (RFC 3261 section 9.1).
	heardProvisional bool

	// timers
	seInterval  time.Duration // negotiated session interval, 0 if none
	seRefresher bool          // we refresh
	seTimer     *time.Timer
	rtpTimer    *time.Timer

	reinviteMu sync.Mutex // serialises our re-INVITEs
	reinviting bool       // an outgoing re-INVITE is in progress (for 491)

	// Event handlers (see OnStateChanged) and the event goroutine.
	onState    serial.Handlers[StateChange]
	onTransfer serial.Handlers[*TransferRequest]
	onDTMF     serial.Handlers[media.DTMFEvent]
	onMedia    serial.Handlers[sdp.Negotiated]
	events     serial.Queue

	ctx    context.Context
	cancel context.CancelFunc
}

func newCall(conv *Conversation, incoming bool) *Call {
	ctx, cancel := context.WithCancel(context.Background())
	c := &Call{
		conv: conv, ep: conv.ep, p: conv.ep.p, incoming: incoming,
		log: conv.ep.log, ackWait: map[uint32]chan struct{}{}, referCh: make(chan int, 8),
		ctx: ctx, cancel: cancel, created: time.Now(),
	}
	if incoming {
		c.state = StateIncoming
	}
	return c
}

// Conversation returns the call's conversation.
func (c *Call) Conversation() *Conversation { return c.conv }

// Incoming reports whether the call was received.
func (c *Call) StateIncoming() bool { return c.incoming }

// State returns the call state.
func (c *Call) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Reason returns the reason of the last state change.
func (c *Call) Reason() Reason {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason
}

// Done is closed when the call is terminated.
func (c *Call) Done() <-chan struct{} { return c.ctx.Done() }

// Context returns a context cancelled when the call terminates.
func (c *Call) Context() context.Context { return c.ctx }

// CallID returns the dialog's Call-ID.
func (c *Call) CallID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dlg.callID
}

// RemoteURI returns the remote party's URI (From of an incoming call, To
// of an outgoing one).
func (c *Call) RemoteURI() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return formatURI(c.dlg.remote)
}

// RemoteDisplayName returns the remote party's display name.
func (c *Call) RemoteDisplayName() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dlg.remoteName
}

// LocalURI returns the URI this side presents.
func (c *Call) LocalURI() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return formatURI(c.dlg.local)
}

// Request returns the initial INVITE of an incoming call, or nil: the
// escape hatch to the whole sipgo message for what [Call.Header],
// [Call.RemoteURI] and the other accessors do not cover. It must be treated
// as read only.
func (c *Call) Request() *sip.Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.invReq
}

// FromTrustedPeer reports whether an incoming call arrived from a trusted
// peer (platform.Config.TrustedPeers or a trusted TLS certificate).
func (c *Call) FromTrustedPeer() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inv != nil && c.inv.Trusted
}

// Identity returns who placed an incoming call, as far as the platform
// can tell (see platform.Identity): an application endpoint of this
// platform (its From), a trusted peer's P-Asserted-Identity (else its
// From), or a user authenticated by digest. A call from anyone else has
// the zero Identity: its From (RemoteURI) is a claim, to show, never to
// decide on. Challenge asks the caller to authenticate.
func (c *Call) Identity() platform.Identity {
	c.mu.Lock()
	inv := c.inv
	c.mu.Unlock()
	if inv == nil {
		return platform.Identity{}
	}
	if inv.Identity.Known() {
		return inv.Identity
	}
	if c.FromLocalApplication() {
		if f := inv.From(); f != nil {
			return platform.Identity{URI: "sip:" + f.Address.User + "@" + f.Address.Host, By: platform.IdentityLocal}
		}
	}
	return platform.Identity{}
}

// Replaces returns the call that an incoming INVITE with Replaces (RFC
// 3891) replaces, or nil. The replaced call is ended with BYE when this
// call is accepted.
func (c *Call) Replaces() *Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.replaces
}

// Flow returns the call's audio: play into it, receive or pull what the
// call hears, observe both directions, read statistics. It is nil until
// the call has media (an offer/answer, or the SDP of an incoming INVITE);
// a nil Flow's methods return media.ErrNoMedia and never panic. The same
// Flow is returned for the life of the call. The RTP session behind it
// (remote address, codec, direction) follows offer/answer and is not the
// application's to change.
func (c *Call) Flow() *media.Flow {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flow
}

// session returns the call's RTP session, or nil.
func (c *Call) session() *media.Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rtp
}

// Negotiated returns the outcome of the last offer/answer.
func (c *Call) Negotiated() sdp.Negotiated {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.neg
}

// SessionInterval returns the negotiated RFC 4028 session interval and
// whether this side refreshes, or 0.
func (c *Call) SessionInterval() (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seInterval, c.seRefresher
}

// HandOff keeps an incoming call alive after its handler returns; the
// application then owns it and must terminate it.
func (c *Call) HandOff() {
	c.mu.Lock()
	c.handedOff = true
	c.mu.Unlock()
}

// OnStateChanged adds a state-change handler and returns the function
// that removes it.
//
// Every OnX method of a call adds a handler in the same way: every handler
// added runs, in the order added, so that an application, a back-to-back
// call, a conference or a recorder can watch the same call without
// overwriting each other's handlers. Handlers run on the call's event
// goroutine, one event at a time and in the order of the events, never
// under a lock; they must not block (start a goroutine for anything that
// waits on the network). An event is delivered to the handlers present
// when it happens. The remove function is idempotent and safe to call
// from any goroutine, inside a handler too; once it has returned, the
// handler is not called again.
func (c *Call) OnStateChanged(f func(StateChange)) (remove func()) {
	return c.onState.Add(f)
}

// OnMediaChanged adds a handler called after every offer/answer exchange
// (including re-INVITEs from the remote side, such as hold and retrieve)
// and returns the function that removes it. It runs on the call's event
// goroutine and must not block (see OnStateChanged).
func (c *Call) OnMediaChanged(f func(sdp.Negotiated)) (remove func()) {
	return c.onMedia.Add(f)
}

// OnDTMF adds a handler of received key presses (RFC 4733, SIP INFO or
// in-band) and returns the function that removes it. It runs on the call's
// event goroutine and must not block (see OnStateChanged). Key presses
// are reported whoever consumes the call's media — a b2b relay forwarding
// them, a conference mixer — and carry their source (media.DTMFEvent).
func (c *Call) OnDTMF(f func(media.DTMFEvent)) (remove func()) {
	remove = c.onDTMF.Add(f)
	c.mu.Lock()
	c.inbandWant++
	c.startInbandLocked()
	c.mu.Unlock()
	return remove
}

// onSignalledDTMF adds a DTMF handler that wants only signalled keys (RFC
// 4733, INFO): it does not start the in-band detector.
func (c *Call) onSignalledDTMF(f func(media.DTMFEvent)) (remove func()) {
	return c.onDTMF.Add(f)
}

// startInbandLocked listens for DTMF tones in the audio when the peer
// negotiated no telephone-event and an OnDTMF handler wants keys; c.mu is
// held.
func (c *Call) startInbandLocked() {
	if c.inbandWant == 0 || c.inband != nil || c.rtp == nil || !c.negotiate || c.neg.HasDTMF {
		return
	}
	cd := c.rtp.Codec()
	if cd == nil {
		return
	}
	det := dsp.NewDTMFDetector(cd.SampleRate())
	c.inband = c.rtp.ObserveHeard(audio.SinkFunc(func(pcm []int16) {
		for _, d := range det.Write(pcm) {
			c.dtmfReceived(media.DTMFEvent{Digit: d, Duration: 40 * time.Millisecond, Source: media.DTMFInBand})
		}
	}))
}

// dtmfReceived delivers a key press (RFC 4733, INFO or in-band) to the
// OnDTMF handlers on the event goroutine.
func (c *Call) dtmfReceived(ev media.DTMFEvent) {
	c.onDTMF.Post(&c.events, ev)
}

// SendDTMF sends digits as RFC 4733 telephone-events (100 ms each, 70 ms
// apart), or as in-band tones when the peer negotiated no telephone-event.
// It blocks until the digits are sent.
func (c *Call) SendDTMF(ctx context.Context, digits string) error {
	s := c.session()
	if s == nil || c.State() != StateEstablished {
		return ErrState
	}
	if s.DTMFPayloadType() == 0 {
		// No telephone-event negotiated: send the tones in-band.
		tones := dsp.GenerateDTMF(s.Codec().SampleRate(), digits, 100*time.Millisecond, 70*time.Millisecond, 0.25)
		return media.Play(ctx, s, tones)
	}
	for i, d := range digits {
		if i > 0 {
			select {
			case <-time.After(70 * time.Millisecond):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err := s.SendDTMF(ctx, d, 100*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// SendDTMFInfo sends digits as SIP INFO (application/dtmf-relay, the
// de-facto format), one request per key, for peers that take DTMF only in
// signalling.
func (c *Call) SendDTMFInfo(ctx context.Context, digits string) error {
	if c.State() != StateEstablished {
		return ErrState
	}
	for _, d := range digits {
		if !strings.ContainsRune("0123456789*#ABCD", d) {
			return fmt.Errorf("endpoint: not a DTMF key: %q", d)
		}
		req := c.request(sip.INFO, nil, sip.NewHeader("Content-Type", "application/dtmf-relay"))
		req.SetBody([]byte("Signal=" + string(d) + "\r\nDuration=100\r\n"))
		res, tx, err := c.do(ctx, req)
		if tx != nil {
			tx.Terminate()
		}
		if err != nil {
			return err
		}
		if !res.IsSuccess() {
			return &ResponseError{Code: res.StatusCode, Reason: res.Reason, Res: res}
		}
	}
	return nil
}

// setStateLocked changes state and queues the event; c.mu is held.
func (c *Call) setStateLocked(s State, r Reason) {
	if c.state == s || c.state == StateTerminated {
		return
	}
	prev := c.state
	c.state, c.reason = s, r
	if s == StateEstablished && c.establishedAt.IsZero() {
		c.establishedAt = time.Now()
	}
	c.log.Debug("call state", "from", prev.String(), "to", s.String(), "reason", string(r))
	c.onState.Post(&c.events, StateChange{Previous: prev, State: s, Reason: r})
	if c.watched {
		c.watchLocked(prev, s, r)
	}
	c.events.Post(c.conv.callStateChanged)
	if s == StateTerminated {
		c.cleanupLocked()
	}
}

func (c *Call) setState(s State, r Reason) {
	c.mu.Lock()
	c.setStateLocked(s, r)
	c.mu.Unlock()
}

// cleanupLocked releases the dialog, timers and media; c.mu is held.
func (c *Call) cleanupLocked() {
	if c.dlg.localTag != "" {
		callID, tag := c.dlg.callID, c.dlg.localTag
		if c.referWait {
			time.AfterFunc(notifyGrace, func() { ua.Of(c.p).UnregisterDialog(callID, tag) })
		} else {
			ua.Of(c.p).UnregisterDialog(callID, tag)
		}
	}
	if c.seTimer != nil {
		c.seTimer.Stop()
	}
	if c.rtpTimer != nil {
		c.rtpTimer.Stop()
	}
	if c.rtp != nil {
		rtp, music := c.rtp, c.music
		c.music = nil
		end := c.endLineLocked()
		go func() {
			if music != nil {
				music.Detach(rtp)
			}
			rtp.Close() // Close waits for the reader; never under c.mu.
			st := rtp.Stats()
			end = append(end, "rx_packets", st.PacketsReceived, "tx_packets", st.PacketsSent,
				"lost", st.PacketsLost, "jitter_ms", float64(st.Jitter.Microseconds())/1000)
			c.log.Info("call ended", end...)
		}()
	} else if c.established() {
		c.log.Info("call ended", c.endLineLocked()...)
	}
	c.cancel()
}

// established reports whether the call was ever answered; c.mu is held.
func (c *Call) established() bool { return !c.establishedAt.IsZero() }

// endLineLocked is the start of the end-of-call log line operators read:
// who, how long, why, which codec; the RTP figures follow.
func (c *Call) endLineLocked() []any {
	// c.log carries call_id already.
	line := []any{"from", formatURI(c.dlg.remote), "to", formatURI(c.dlg.local), "reason", string(c.reason)}
	if !c.incoming {
		line[1], line[3] = formatURI(c.dlg.local), formatURI(c.dlg.remote)
	}
	d := time.Duration(0)
	if !c.establishedAt.IsZero() {
		d = time.Since(c.establishedAt)
	}
	line = append(line, "duration", d.Round(time.Millisecond).String())
	if c.negotiate {
		line = append(line, "codec", c.neg.Codec.Name)
	}
	return line
}

// contact returns our Contact for the dialog's transport. An incoming
// call to a prefix endpoint is contacted at the user it called (sip:7000@,
// not the endpoint's prefix sip:70@).
func (c *Call) contactLocked() sip.ContactHeader {
	user := c.ep.owner.User
	if c.incoming && c.ep.settings.Prefix && c.invReq != nil && c.invReq.Recipient.User != "" {
		user = c.invReq.Recipient.User
	}
	return c.p.Contact(user, c.dlg.transport)
}

// nextSeqLocked allocates a CSeq number for a new request.
func (c *Call) nextSeqLocked() uint32 {
	c.dlg.localSeq++
	return c.dlg.localSeq
}

// do sends an in-dialog request and waits for its final response.
// Provisional responses are ignored. For INVITE the caller handles the ACK.
func (c *Call) do(ctx context.Context, req *sip.Request) (*sip.Response, sip.ClientTransaction, error) {
	tx, err := ua.Of(c.p).TransactionRequest(ctx, req)
	if err != nil {
		return nil, nil, fmt.Errorf("endpoint: send %s: %w", req.Method, err)
	}
	res, err := finalResponse(ctx, tx, string(req.Method))
	if err != nil && ctx.Err() != nil {
		tx.Terminate()
	}
	return res, tx, err
}

// request builds an in-dialog request with a fresh CSeq.
func (c *Call) request(method sip.RequestMethod, body []byte, hdrs ...sip.Header) *sip.Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requestLocked(method, body, hdrs...)
}

func (c *Call) requestLocked(method sip.RequestMethod, body []byte, hdrs ...sip.Header) *sip.Request {
	req := c.dlg.request(method, c.nextSeqLocked(), c.contactLocked())
	c.decorate(req)
	for _, h := range hdrs {
		req.AppendHeader(h)
	}
	if body != nil {
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	req.SetBody(body)
	return req
}

// decorate adds the headers every request we send carries.
func (c *Call) decorate(m interface{ AppendHeader(sip.Header) }) {
	m.AppendHeader(sip.NewHeader("User-Agent", c.p.Config().UserAgent))
}

// sendAck sends the ACK for a 2xx to an INVITE with CSeq seq, and again
// whenever the 2xx is retransmitted (RFC 3261 section 13.2.2.4).
func (c *Call) sendAck(tx sip.ClientTransaction, seq uint32, body []byte) error {
	c.mu.Lock()
	ack := c.dlg.request(sip.ACK, seq, c.contactLocked())
	c.mu.Unlock()
	if body != nil {
		ack.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	ack.SetBody(body)
	if err := ua.Of(c.p).WriteRequest(ack); err != nil {
		return err
	}
	if tx != nil {
		tmpl := ack.Clone()
		tx.OnRetransmission(func(r *sip.Response) {
			if r.IsSuccess() {
				a := tmpl.Clone()
				_ = ua.Of(c.p).WriteRequest(a)
			}
		})
	}
	return nil
}

// awaitAck registers interest in the ACK for our 2xx to the INVITE with
// CSeq seq.
func (c *Call) awaitAck(seq uint32) chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan struct{})
	c.ackWait[seq] = ch
	return ch
}

func (c *Call) ackReceived(seq uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch, ok := c.ackWait[seq]; ok {
		close(ch)
		delete(c.ackWait, seq)
	}
}

// respond2xx sends a 2xx to an INVITE and, on unreliable transports,
// retransmits it until the ACK arrives (RFC 3261 section 13.3.1.4). It
// returns false when no ACK came within 64*T1.
func (c *Call) respond2xx(ctx context.Context, tx sip.ServerTransaction, res *sip.Response, seq uint32, reliable bool) bool {
	acked := c.awaitAck(seq)
	defer func() {
		c.mu.Lock()
		delete(c.ackWait, seq)
		c.mu.Unlock()
	}()
	if err := tx.Respond(res); err != nil {
		c.log.Debug("respond 2xx failed", "error", err)
	}
	t1 := c.p.Config().T1
	interval := t1
	deadline := time.NewTimer(64 * t1)
	defer deadline.Stop()
	retr := time.NewTimer(interval)
	defer retr.Stop()
	for {
		select {
		case <-acked:
			return true
		case <-deadline.C:
			return false
		case <-ctx.Done():
			return false
		case <-retr.C:
			if !reliable {
				_ = tx.Respond(res)
			}
			interval = min(2*interval, 8*t1)
			retr.Reset(interval)
		}
	}
}

// ensureMediaLocked creates the RTP session if needed; c.mu is held.
func (c *Call) ensureMediaLocked() error {
	if c.rtp != nil {
		return nil
	}
	conn, rtcpConn, err := c.p.Ports().ListenPair()
	if err != nil {
		return err
	}
	c.rtp = media.NewSession(conn, media.SessionConfig{Logger: c.log, RTCP: rtcpConn, Poller: c.p.Poller()})
	c.flow = media.NewFlow(c.rtp)
	c.local = sdp.Local{Addr: c.rtp.LocalAddr(), Formats: c.ep.formats, PreferLocal: len(c.ep.settings.Codecs) > 0}
	if ip := c.p.MediaAdvertise(); ip.IsValid() {
		c.local.Addr = netip.AddrPortFrom(ip, c.rtp.LocalAddr().Port())
	}
	return nil
}

// applyLocked applies a negotiation to the RTP session; c.mu is held.
func (c *Call) applyLocked(n sdp.Negotiated) {
	c.neg, c.negotiate, c.negotiatedAt = n, true, time.Now()
	c.onMedia.Post(&c.events, n)
	cd, ok := codec.ByName(n.Codec.Name)
	if !ok {
		return
	}
	cd = codec.WithPayloadType(cd, n.Codec.PayloadType) // Opus's is dynamic
	var dtmf uint8
	if n.HasDTMF {
		dtmf = n.DTMF.PayloadType
	}
	c.rtp.SetCodec(cd, dtmf)
	c.rtp.SetComfortNoise(n.CN.PayloadType, n.HasCN)
	// Send the packet time the remote asked for (RFC 4566 ptime); any
	// is received.
	c.rtp.SetPacketTime(time.Duration(n.SendPTime()) * time.Millisecond)
	c.rtp.SetRemote(n.Remote)
	c.rtp.SetSending(n.Direction.CanSend())
	c.rtp.SetReceiving(n.Direction.CanReceive())
	c.rtp.OnDTMF(c.dtmfReceived)
	// No telephone-event: listen for DTMF tones in the audio itself.
	c.startInbandLocked()
}

// Terminate ends the call: BYE when established, CANCEL while an outgoing
// call is establishing, 480 for an unanswered incoming call. It waits for
// the BYE transaction (bounded by ctx) and is idempotent.
func (c *Call) Terminate(ctx context.Context) error {
	return c.terminate(ctx, ReasonLocalHangUp)
}

func (c *Call) terminate(ctx context.Context, reason Reason) error {
	c.mu.Lock()
	switch c.state {
	case StateTerminated, StateTerminating:
		c.mu.Unlock()
		<-c.ctx.Done()
		return nil
	case StateIdle:
		c.setStateLocked(StateTerminated, reason)
		c.mu.Unlock()
		return nil
	case StateIncoming:
		c.mu.Unlock()
		return c.Decline(ctx, sip.StatusTemporarilyUnavailable)
	case StateEstablishing:
		if c.incoming {
			return c.endUnconfirmedLocked(ctx, reason)
		}
		cancel := c.cancelEstablish
		c.mu.Unlock()
		if cancel != nil {
			cancel()
		}
		select {
		case <-c.ctx.Done():
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	}
	c.setStateLocked(StateTerminating, reason)
	bye := c.requestLocked(sip.BYE, nil)
	c.mu.Unlock()
	bctx, cancel := context.WithTimeout(ctx, 64*c.p.Config().T1)
	defer cancel()
	res, _, err := c.do(bctx, bye)
	c.setState(StateTerminated, reason)
	if err != nil {
		return err
	}
	if !res.IsSuccess() && res.StatusCode != 481 {
		return &ResponseError{Code: res.StatusCode, Reason: res.Reason, Res: res}
	}
	return nil
}

// endUnconfirmedLocked ends an incoming call whose 200 OK was sent but not
// (yet) acknowledged: the dialog exists, so it is ended with BYE (RFC 3261
// section 13.3.1.4). Unlike a confirmed call, everything is released at
// once, before the BYE's own transaction ends: a peer that never ACKed is
// unlikely to answer the BYE, and a flood of unACKed INVITEs must not hold
// ports and goroutines for another 64*T1. c.mu is held; it is released.
func (c *Call) endUnconfirmedLocked(ctx context.Context, reason Reason) error {
	bye := c.requestLocked(sip.BYE, nil)
	c.setStateLocked(StateTerminated, reason)
	c.mu.Unlock()
	bctx, cancel := context.WithTimeout(ctx, 64*c.p.Config().T1)
	defer cancel()
	_, _, err := c.do(bctx, bye)
	return err
}

// abort ends the call without signalling (platform Close).
func (c *Call) abort() { c.setState(StateTerminated, ReasonShutdown) }

// dialogHandler adapts Call to ua.DialogHandler without exporting its
// methods on Call.
type dialogHandler struct{ c *Call }

func (h dialogHandler) ServeDialog(req *sip.Request, tx sip.ServerTransaction, trusted bool) {
	h.c.serveDialog(&platform.Request{Request: req, Tx: tx, Trusted: trusted})
}
func (h dialogHandler) Terminate(ctx context.Context) error {
	c := h.c
	c.mu.Lock()
	if c.state == StateEstablishing && !c.incoming && !c.heardProvisional {
		// Shutting down while an INVITE of ours is unanswered: RFC 3261
		// lets no CANCEL go before a provisional response, and waiting
		// 64*T1 for one would hold the shutdown. End the call here; a
		// late 2xx goes unACKed and the callee's Timer H ends it.
		cancel := c.cancelEstablish
		c.mu.Unlock()
		if cancel != nil {
			cancel()
		}
		c.abort()
		return nil
	}
	c.mu.Unlock()
	return c.terminate(ctx, ReasonShutdown)
}
func (h dialogHandler) Abort() { h.c.abort() }

// Unconfirmed reports an incoming call whose 200 OK has awaited its ACK
// for more than 4*T1 (the ACK of a live peer takes an RTT; a lost one is
// answered by the 2xx retransmission at T1, 2*T1).
func (h dialogHandler) Unconfirmed() bool {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	return h.c.incoming && h.c.state == StateEstablishing && !h.c.answeredAt.IsZero() &&
		time.Since(h.c.answeredAt) > 4*h.c.p.Config().T1
}

// callOf returns the Call behind a registered dialog handler.
func callOf(h ua.DialogHandler) (*Call, bool) {
	d, ok := h.(dialogHandler)
	return d.c, ok
}

func sessionExpiresHeader(d time.Duration, refresher string) sip.Header {
	v := strconv.Itoa(int(d / time.Second))
	if refresher != "" {
		v += ";refresher=" + refresher
	}
	return sip.NewHeader("Session-Expires", v)
}
