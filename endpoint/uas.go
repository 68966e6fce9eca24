package endpoint

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"weak"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-sip/switchboard/internal/ua"
	"github.com/switchboard-sip/switchboard/media/sdp"
	"github.com/switchboard-sip/switchboard/platform"
)

// serveInvite handles an out-of-dialog INVITE routed to the endpoint. It
// runs on the request's goroutine for the whole life of the handler.
func (e *Endpoint) serveInvite(r *platform.Request) {
	e.mu.Lock()
	h := e.handler
	e.mu.Unlock()

	// Replaces (RFC 3891): the dialog it names must exist here.
	var replaced *Call
	if rv := replacesOf(r.Request); rv != "" {
		old, err := e.findReplaced(rv)
		if err != nil {
			e.log.Info("INVITE with Replaces matches no call", "replaces", rv, "error", err)
			_ = r.Respond(sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil)
			return
		}
		replaced = old
	}
	if ct := r.ContentType(); len(r.Body()) > 0 && (ct == nil || !strings.EqualFold(strings.TrimSpace(strings.Split(ct.Value(), ";")[0]), "application/sdp")) {
		_ = r.Respond(sip.StatusUnsupportedMediaType, "Unsupported Media Type", nil, sip.NewHeader("Accept", "application/sdp"))
		return
	}
	if h == nil {
		_ = r.Respond(sip.StatusTemporarilyUnavailable, "Temporarily Unavailable", nil)
		return
	}

	conv := &Conversation{ep: e, id: presence{uri: e.owner, phone: e.phone, name: e.settings.DisplayName}, state: ConversationIncoming}
	c := newCall(conv, true)
	conv.calls = []*Call{c}
	c.replaces = replaced
	if code, reason, err := c.initIncoming(r); err != nil {
		c.log.Info("incoming call refused", "call_id", r.CallID().Value(), "code", code, "error", err)
		_ = r.Respond(code, reason, nil, append(c.rspHdrs, sip.NewHeader("Warning", `399 switchboard "`+sanitizeWarning(err.Error())+`"`))...)
		c.setState(StateTerminated, ReasonFailed)
		return
	}
	_ = r.Respond(sip.StatusTrying, "Trying", nil)
	c.events.Post(conv.callStateChanged)
	c.log.Info("incoming call", "from", formatURI(c.dlg.remote), "to", r.Recipient.String())

	func() {
		defer func() {
			if v := recover(); v != nil {
				c.log.Error("call handler panicked", "panic", fmt.Sprint(v))
			}
		}()
		h.ServeCall(c.ctx, c)
	}()
	c.mu.Lock()
	handedOff := c.handedOff
	c.mu.Unlock()
	if !handedOff {
		ctx, cancel := context.WithTimeout(context.Background(), 64*e.p.Config().T1)
		_ = c.Terminate(ctx)
		cancel()
	}
}

func sanitizeWarning(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < 0x20 {
			return '\''
		}
		return r
	}, s)
}

// replacesOf returns the Replaces value of an INVITE: the header (RFC
// 3891), or — for user agents such as baresip 1.0 that copy the Refer-To
// URI verbatim — a Replaces header embedded in the Request-URI.
func replacesOf(req *sip.Request) string {
	if h := req.GetHeader("Replaces"); h != nil {
		return h.Value()
	}
	if req.Recipient.Headers != nil {
		for _, kv := range req.Recipient.Headers {
			if strings.EqualFold(kv.K, "Replaces") {
				if v, err := url.QueryUnescape(kv.V); err == nil {
					return v
				}
			}
		}
	}
	return ""
}

// parseReplaces splits a Replaces value (RFC 3891 section 6.1) into the
// Call-ID and tags. baresip 1.0 copies a Refer-To's embedded Replaces into
// its Request-URI with every ";" and "=" turned into "?"
// ("id?to-tag?x?from-tag?y"); that form is accepted too.
func parseReplaces(v string) (callID, toTag, fromTag string) {
	var kv []string
	if !strings.Contains(v, ";") && strings.Contains(v, "?") {
		f := strings.Split(v, "?")
		callID, kv = f[0], f[1:]
	} else {
		f := strings.Split(v, ";")
		callID = f[0]
		for _, p := range f[1:] {
			k, val, _ := strings.Cut(p, "=")
			kv = append(kv, k, val)
		}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		switch strings.ToLower(strings.TrimSpace(kv[i])) {
		case "to-tag":
			toTag = strings.TrimSpace(kv[i+1])
		case "from-tag":
			fromTag = strings.TrimSpace(kv[i+1])
		}
	}
	return strings.TrimSpace(callID), toTag, fromTag
}

// findReplaced finds our dialog that a Replaces value names.
func (e *Endpoint) findReplaced(v string) (*Call, error) {
	callID, toTag, fromTag := parseReplaces(v)
	h, ok := ua.Of(e.p).Dialog(callID, toTag)
	if !ok {
		return nil, errors.New("no such dialog")
	}
	old, ok := callOf(h)
	if !ok {
		return nil, errors.New("dialog is not a call")
	}
	old.mu.Lock()
	defer old.mu.Unlock()
	if old.dlg.remoteTag != fromTag || old.state == StateTerminated {
		return nil, errors.New("tags do not match")
	}
	return old, nil
}

// initIncoming builds the dialog and negotiates media for an incoming
// INVITE. It returns the response code to send on failure.
func (c *Call) initIncoming(r *platform.Request) (int, string, error) {
	req := r.Request.Clone()
	req.To().Params.Add("tag", sip.GenerateTagN(16))
	ttag, _ := req.To().Params.Get("tag")
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inv, c.invReq = r.WithMessage(req), req
	if req.Contact() == nil {
		return sip.StatusBadRequest, "Missing Contact", errors.New("INVITE has no Contact")
	}
	c.dlg = uasDialog(req, ttag)
	c.log = c.log.With("call_id", c.dlg.callID)

	if err := c.ensureMediaLocked(); err != nil {
		return sip.StatusServiceUnavailable, "Service Unavailable", fmt.Errorf("no RTP port: %w", err)
	}
	if body := req.Body(); len(body) > 0 {
		ans, n, err := sdp.Answer(body, &c.local)
		if err != nil {
			return sip.StatusNotAcceptableHere, "Not Acceptable Here", err
		}
		c.offer, c.answer = body, ans
		c.applyLocked(n)
	}
	if err := c.negotiateSessionTimerUAS(req); err != nil {
		c.rspHdrs = []sip.Header{sip.NewHeader("Min-SE", strconv.Itoa(int(c.ep.settings.MinSessionExpires/time.Second)))}
		return 422, "Session Interval Too Small", err
	}

	var src netip.Addr // counted against max_calls_per_source: untrusted sources only
	if ap, err := netip.ParseAddrPort(req.Source()); err == nil && !r.Trusted {
		src = ap.Addr().Unmap()
	}
	if err := ua.Of(c.p).RegisterIncoming(c.dlg.callID, c.dlg.localTag, dialogHandler{c}, src); err != nil {
		return sip.StatusServiceUnavailable, "Service Unavailable", err
	}
	c.watched = true
	c.watchLocked(StateIdle, c.state, c.reason)
	// The INVITE transaction outlives the call by up to 64*T1 (RFC 6026's
	// Accepted state) and keeps its callbacks: through a weak pointer it
	// does not keep the whole call (sessions, buffers, timers) as well,
	// about 15 KB per call made at a high call rate.
	wc := weak.Make(c)
	if !r.Tx.OnCancel(func(*sip.Request) {
		if c := wc.Value(); c != nil {
			go c.remoteCancelled()
		}
	}) {
		return sip.StatusRequestTerminated, "Request Terminated", errors.New("transaction ended")
	}
	return 0, "", nil
}

// remoteCancelled handles a CANCEL of the initial INVITE; sipgo has sent
// 200 to the CANCEL and 487 to the INVITE.
func (c *Call) remoteCancelled() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == StateIncoming || (c.state == StateEstablishing && c.incoming) {
		c.setStateLocked(StateTerminated, ReasonRemoteCancelled)
	}
}

func (c *Call) responseLocked(code int, reason string, body []byte) *sip.Response {
	res := sip.NewResponseFromRequest(c.invReq, code, reason, body)
	if code > 100 && code < 300 {
		ct := c.contactLocked()
		res.AppendHeader(&ct)
		res.AppendHeader(sip.NewHeader("Allow", platform.Allowed))
		res.AppendHeader(sip.NewHeader("Supported", platform.Supported))
	}
	res.AppendHeader(sip.NewHeader("Server", c.p.Config().UserAgent))
	if body != nil {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	return res
}

// Ring sends 180 Ringing on an incoming call.
func (c *Call) Ring(ctx context.Context) error {
	c.mu.Lock()
	if c.state != StateIncoming {
		c.mu.Unlock()
		return ErrState
	}
	res := c.responseLocked(sip.StatusRinging, "Ringing", nil)
	tx := c.inv.Tx
	c.mu.Unlock()
	return tx.Respond(res)
}

// EarlyMedia answers an incoming call with 183 Session Progress and the
// SDP answer, so that media flows before the call is accepted. Prompts
// played now may be lost: early media is not an established call.
func (c *Call) EarlyMedia(ctx context.Context) error {
	c.mu.Lock()
	if c.state != StateIncoming {
		c.mu.Unlock()
		return ErrState
	}
	if c.answer == nil {
		c.mu.Unlock()
		return errors.New("endpoint: early media needs an offer in the INVITE")
	}
	res := c.responseLocked(183, "Session Progress", c.answer)
	tx := c.inv.Tx
	c.mu.Unlock()
	return tx.Respond(res)
}

// Accept answers an incoming call with 200 OK and waits for the ACK. If
// the call replaces another (RFC 3891), the other call is ended with BYE.
func (c *Call) Accept(ctx context.Context) error {
	return c.AcceptWithHeaders(ctx)
}

// AcceptWithHeaders is Accept with extra headers on the 200 OK (for
// example the orbit of a park, for programs). Headers that the dialog owns
// are refused; see [Header].
func (c *Call) AcceptWithHeaders(ctx context.Context, hdrs ...Header) error {
	if err := checkHeaders(hdrs, isReserved, "Accept"); err != nil {
		return err
	}
	c.mu.Lock()
	if c.state != StateIncoming {
		c.mu.Unlock()
		if c.State() == StateTerminated {
			return ErrTerminated
		}
		return ErrState
	}
	body := c.answer
	delayed := c.offer == nil
	if delayed {
		// Delayed offer: offer in the 200, answer in the ACK.
		var err error
		if body, err = sdp.Offer(&c.local); err != nil {
			c.mu.Unlock()
			return err
		}
	}
	res := c.responseLocked(sip.StatusOK, "OK", body)
	for _, h := range c.rspHdrs {
		res.AppendHeader(h)
	}
	for _, h := range sipHeaders(hdrs) {
		res.AppendHeader(h)
	}
	tx, seq, reliable := c.inv.Tx, c.dlg.remoteSeq, isReliable(c.dlg.transport)
	c.setStateLocked(StateEstablishing, ReasonAccepted)
	c.answeredAt = time.Now()
	c.mu.Unlock()

	if !c.respond2xx(ctx, tx, res, seq, reliable) {
		if c.State() == StateTerminated {
			return ErrTerminated
		}
		c.log.Warn("no ACK for 200 OK; ending call")
		_ = c.terminate(context.Background(), ReasonNoACK)
		return errors.New("endpoint: no ACK received")
	}
	c.mu.Lock()
	if c.state != StateEstablishing {
		c.mu.Unlock()
		return ErrTerminated
	}
	if delayed && !c.negotiate {
		c.mu.Unlock()
		_ = c.terminate(context.Background(), ReasonFailed)
		return errors.New("endpoint: ACK carried no usable SDP answer")
	}
	c.setStateLocked(StateEstablished, ReasonEstablished)
	c.startTimersLocked()
	old := c.replaces
	c.mu.Unlock()
	if old != nil {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 64*c.p.Config().T1)
			defer cancel()
			_ = old.terminate(ctx, ReasonReplaced)
		}()
	}
	return nil
}

// Decline refuses an incoming call with a 3xx–6xx code (603 Decline when
// 0) and its standard reason phrase, for example 486 Busy Here. Use
// [Call.DeclineWithReason] for a phrase of your own.
func (c *Call) Decline(ctx context.Context, code int) error {
	return c.DeclineWithReason(ctx, code, "")
}

// DeclineWithReason is Decline with reason as the response's reason
// phrase; an empty reason gives the standard phrase of code ("Declined" for
// a code without one). A reason with control characters or longer than
// [MaxValueLength] is refused.
func (c *Call) DeclineWithReason(ctx context.Context, code int, reason string) error {
	if code == 0 {
		code = sip.StatusGlobalDecline
	}
	if code < 300 || code > 699 {
		return fmt.Errorf("endpoint: decline code %d is not a failure code", code)
	}
	if reason == "" {
		reason = reasonPhrase(code)
	}
	// The reason phrase ends the status line: a CR or LF in it would start
	// a header (RFC 3261 section 7.2).
	if err := checkValue("reason phrase", reason); err != nil {
		return err
	}
	c.mu.Lock()
	if c.state != StateIncoming {
		c.mu.Unlock()
		return ErrState
	}
	res := c.responseLocked(code, reason, nil)
	tx := c.inv.Tx
	c.setStateLocked(StateTerminated, ReasonDeclined)
	c.mu.Unlock()
	return tx.Respond(res)
}

// Challenge declines an incoming call with a digest challenge (401 and
// WWW-Authenticate, see platform.Request.Challenge), so that its caller's
// phone calls again with its user's credentials; the new INVITE is a new
// call, whose Identity is then that user. Refused credentials, and a
// source locked out after too many failures, get 403 instead, as does
// every call when the platform has no users (platform.Config.Users).
// Use it where a decision needs to know who calls and Identity is not
// Known.
func (c *Call) Challenge(ctx context.Context) error {
	c.mu.Lock()
	if c.state != StateIncoming {
		c.mu.Unlock()
		return ErrState
	}
	code, reason, hs := c.inv.ChallengeResponse()
	res := c.responseLocked(code, reason, nil)
	for _, h := range hs {
		res.AppendHeader(h)
	}
	tx := c.inv.Tx
	c.setStateLocked(StateTerminated, ReasonDeclined)
	c.mu.Unlock()
	return tx.Respond(res)
}

// reasonPhrases are the reason phrases of the failure codes of RFC 3261
// section 21, with 422 (RFC 4028), 433 (RFC 5079), 489 (RFC 6665) and 607
// (RFC 8197).
var reasonPhrases = map[int]string{
	300: "Multiple Choices", 301: "Moved Permanently", 302: "Moved Temporarily", 305: "Use Proxy", 380: "Alternative Service",
	400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden", 404: "Not Found",
	405: "Method Not Allowed", 406: "Not Acceptable", 407: "Proxy Authentication Required", 408: "Request Timeout",
	410: "Gone", 413: "Request Entity Too Large", 414: "Request-URI Too Long", 415: "Unsupported Media Type",
	416: "Unsupported URI Scheme", 420: "Bad Extension", 421: "Extension Required", 422: "Session Interval Too Small",
	423: "Interval Too Brief", 433: "Anonymity Disallowed",
	480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist", 482: "Loop Detected",
	483: "Too Many Hops", 484: "Address Incomplete", 485: "Ambiguous", 486: "Busy Here", 487: "Request Terminated",
	488: "Not Acceptable Here", 489: "Bad Event", 491: "Request Pending", 493: "Undecipherable",
	500: "Server Internal Error", 501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable",
	504: "Server Time-out", 505: "Version Not Supported", 513: "Message Too Large",
	600: "Busy Everywhere", 603: "Decline", 604: "Does Not Exist Anywhere", 606: "Not Acceptable", 607: "Unwanted",
}

// reasonPhrase returns the standard reason phrase of a failure code, or
// "Declined" for a code without one.
func reasonPhrase(code int) string {
	if r, ok := reasonPhrases[code]; ok {
		return r
	}
	return "Declined"
}

// Redirect answers an incoming call with 302 Moved Temporarily to target.
func (c *Call) Redirect(ctx context.Context, target string) error {
	u, err := ParseURI(target)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if c.state != StateIncoming {
		c.mu.Unlock()
		return ErrState
	}
	res := c.responseLocked(sip.StatusMovedTemporarily, "Moved Temporarily", nil)
	res.AppendHeader(&sip.ContactHeader{Address: u})
	tx := c.inv.Tx
	c.setStateLocked(StateTerminated, ReasonDeclined)
	c.mu.Unlock()
	return tx.Respond(res)
}

// replacesValue formats a Replaces header value naming this call's dialog
// as seen by its remote party (RFC 3891 section 6.1).
func (c *Call) replacesValue() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dlg.callID + ";to-tag=" + c.dlg.remoteTag + ";from-tag=" + c.dlg.localTag
}

// referTo formats a Refer-To URI for this call's remote party with an
// embedded Replaces header (RFC 3891 section 6.1).
func (c *Call) referToReplacing() string {
	c.mu.Lock()
	target := formatURI(c.dlg.remote)
	c.mu.Unlock()
	return "<" + target + "?Replaces=" + url.QueryEscape(c.replacesValue()) + ">"
}
