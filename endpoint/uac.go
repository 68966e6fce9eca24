package endpoint

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"
	"github.com/icholy/digest"

	"github.com/switchboard-sip/switchboard/internal/ua"
	"github.com/switchboard-sip/switchboard/media/sdp"
	"github.com/switchboard-sip/switchboard/platform"
)

// GeneratedUserPrefix starts the user part of generated identities.
const GeneratedUserPrefix = "gen-"

// Credentials answer digest challenges (RFC 3261 section 22) of outgoing
// calls.
type Credentials struct {
	Username string
	Password string
}

// EstablishOptions are per-call settings of Establish.
type EstablishOptions struct {
	// Headers are added to the INVITE. Headers that the dialog owns
	// (Call-ID, From, To, CSeq, Via, Contact, Content-Length,
	// Max-Forwards) are refused; see [Header].
	Headers []Header
	// MaxEstablishTime bounds the wait for a final response; the INVITE is
	// then cancelled. Default: no bound beyond ctx.
	MaxEstablishTime time.Duration
	// Credentials answer 401/407 challenges.
	Credentials *Credentials
	// OnProvisional is called (on the establishing goroutine) for each
	// provisional response other than 100, e.g. to report ringing.
	OnProvisional func(code int, reason string, earlyMedia bool)
	// Replaces names a dialog of the target that this call replaces (RFC
	// 3891): the Replaces header value.
	Replaces string
	// MaxForwards sets the INVITE's Max-Forwards (default 70); a
	// back-to-back call passes the incoming value minus one, which stops
	// loops (RFC 3261 section 16.6).
	MaxForwards int
	// GeneratedIdentity makes this call present a fresh, hidden identity
	// (sip:gen-<uuid>@host) instead of the conversation's, so that one
	// application can hold several calls in one conference (UCMA's
	// UseGeneratedIdentityForTrustedConference). Application endpoints
	// only.
	GeneratedIdentity bool
}

var reservedHeaders = map[string]bool{"call-id": true, "from": true, "to": true, "cseq": true, "via": true, "contact": true, "content-length": true, "max-forwards": true}

// Establish places the call to destination and returns when it is
// answered. Cancelling ctx (or MaxEstablishTime passing) sends CANCEL.
// Failures are *ResponseError; 3xx answers are *RedirectError. Early media
// (183 with SDP) is connected as soon as it arrives.
func (c *Call) Establish(ctx context.Context, destination string, opts EstablishOptions) error {
	target, err := ParseURI(destination)
	if err != nil {
		return err
	}
	if target.Scheme == "tel" {
		return fmt.Errorf("endpoint: cannot route tel URI %q without a gateway; use a SIP URI", destination)
	}
	if err := checkHeaders(opts.Headers, isReserved, "Establish"); err != nil {
		return err
	}
	if c.p.Draining() {
		return platform.ErrClosed
	}
	c.mu.Lock()
	if c.state != StateIdle || c.incoming {
		c.mu.Unlock()
		return ErrState
	}
	if opts.GeneratedIdentity && c.ep.kind != KindApplication {
		c.mu.Unlock()
		return ErrNotApplication
	}
	c.conv.mu.Lock()
	id := c.conv.id
	impersonated := c.conv.impersonated
	if opts.GeneratedIdentity {
		id = presence{uri: sip.Uri{Scheme: "sip", User: GeneratedUserPrefix + uuid.NewString(), Host: c.p.Host()}}
		impersonated = true
	}
	if c.conv.state == ConversationIdle {
		c.conv.state = ConversationEstablishing
	}
	c.conv.mu.Unlock()
	if err := c.ensureMediaLocked(); err != nil {
		c.mu.Unlock()
		return err
	}
	transport := "UDP"
	if target.UriParams != nil {
		if t, ok := target.UriParams.Get("transport"); ok {
			transport = strings.ToUpper(t)
		}
	}
	c.dlg = dialog{
		callID:   sip.GenerateTagN(32), // no "@host": some UAs (baresip) mangle an "@" inside Refer-To?Replaces
		localTag: sip.GenerateTagN(16),
		local:    id.uri, localName: id.name,
		remote: sip.Uri{Scheme: target.Scheme, User: target.User, Host: target.Host, Port: target.Port}, remoteTarget: target,
		localSeq:  uint32(time.Now().UnixNano()&0x7fff) + 1,
		transport: transport,
	}
	c.log = c.log.With("call_id", c.dlg.callID)
	offer, err := sdp.Offer(&c.local)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	if err := ua.Of(c.p).RegisterDialog(c.dlg.callID, c.dlg.localTag, dialogHandler{c}); err != nil {
		c.mu.Unlock()
		return err
	}
	c.watched = true
	c.watchLocked(StateIdle, c.state, c.reason)
	hdrs := sipHeaders(opts.Headers)
	if impersonated || c.ep.kind == KindApplication {
		hdrs = append(hdrs, id.pai()...)
	}
	hdrs = append(hdrs, sip.NewHeader("Allow", platform.Allowed), sip.NewHeader("Supported", platform.Supported))
	if se := c.ep.settings.SessionExpires; se > 0 {
		hdrs = append(hdrs, sessionExpiresHeader(se, ""), sip.NewHeader("Min-SE", "90"))
	}
	if opts.Replaces != "" {
		hdrs = append(hdrs, sip.NewHeader("Replaces", opts.Replaces))
	}
	c.invite = c.requestLocked(sip.INVITE, offer, hdrs...)
	if opts.MaxForwards > 0 {
		c.invite.RemoveHeader("Max-Forwards")
		mf := sip.MaxForwardsHeader(uint32(min(opts.MaxForwards, 255)))
		c.invite.AppendHeader(&mf)
	}
	ectx, cancel := context.WithCancel(ctx)
	if opts.MaxEstablishTime > 0 {
		ectx, cancel = context.WithTimeout(ctx, opts.MaxEstablishTime)
	}
	defer cancel()
	c.cancelEstablish = cancel
	c.setStateLocked(StateEstablishing, ReasonEstablishing)
	c.mu.Unlock()

	err = c.runInvite(ectx, opts)
	if err != nil {
		c.mu.Lock()
		reason := ReasonFailed
		var re *ResponseError
		switch {
		case errors.As(err, &re):
			reason = ReasonRejected
		case errors.Is(err, context.DeadlineExceeded):
			reason = ReasonTimeout
		case errors.Is(err, context.Canceled):
			reason = ReasonCancelled
		}
		c.setStateLocked(StateTerminated, reason)
		c.mu.Unlock()
	}
	return err
}

// runInvite drives the INVITE client transaction to a final response.
func (c *Call) runInvite(ctx context.Context, opts EstablishOptions) error {
	core := ua.Of(c.p)
	req := c.invite
	tx, err := core.TransactionRequest(context.WithoutCancel(ctx), req, c.noteSelfBranch)
	if err != nil {
		return fmt.Errorf("endpoint: send INVITE: %w", err)
	}
	// After a 2xx the transaction stays up (RFC 6026 Accepted state) so
	// that retransmitted 2xx are ACKed again; sipgo ends it by Timer M.
	success := false
	defer func() {
		if !success {
			tx.Terminate()
		}
	}()
	var (
		provisional bool
		cancelled   bool
		authTries   int
	)
	sendCancel := func() {
		cancelled = true
		cr := newCancel(req)
		go func() {
			cctx, done := context.WithTimeout(context.Background(), 64*c.p.Config().T1)
			defer done()
			if tx, err := core.TransactionRequest(cctx, cr); err == nil {
				select {
				case <-tx.Responses():
				case <-tx.Done():
				case <-cctx.Done():
				}
				tx.Terminate()
			}
		}()
	}
	timeout := time.NewTimer(64 * c.p.Config().T1)
	timeout.Stop()
	done := ctx.Done()
	// heardProvisional notes the first provisional response: from now on
	// the INVITE can be cancelled, at once if ctx is already done.
	heardProvisional := func() {
		if provisional {
			return
		}
		provisional = true
		c.mu.Lock()
		c.heardProvisional = true
		c.mu.Unlock()
		if done == nil && !cancelled { // ctx ended before it came
			sendCancel()
		}
	}
	for {
		select {
		case <-done:
			done = nil
			if provisional {
				sendCancel()
			}
			// Without a provisional response RFC 3261 section 9.1 forbids
			// CANCEL; wait for one, or give up after 64*T1.
			timeout.Reset(64 * c.p.Config().T1)
			continue
		case <-timeout.C:
			return ctx.Err()
		case <-c.ctx.Done():
			// Aborted (the platform closing): stop waiting for an answer
			// the call can no longer take.
			return context.Canceled
		case <-tx.Done():
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err := tx.Err(); err != nil {
				return fmt.Errorf("endpoint: INVITE: %w", err)
			}
			return errors.New("endpoint: INVITE transaction ended without final response")
		case res := <-tx.Responses():
			switch {
			case res.StatusCode == 100:
				// 100 Trying is a provisional response too: a CANCEL may
				// follow it (RFC 3261 section 9.1).
				heardProvisional()
				continue
			case res.IsProvisional():
				heardProvisional()
				early := false
				if len(res.Body()) > 0 {
					early = c.earlyMedia(res) == nil
				}
				if opts.OnProvisional != nil {
					opts.OnProvisional(res.StatusCode, res.Reason, early)
				}
			case res.IsSuccess():
				success = true
				return c.answered(ctx, tx, res, done == nil)
			case (res.StatusCode == 401 || res.StatusCode == 407) && opts.Credentials != nil && authTries < 2 && !cancelled:
				authTries++
				nreq, err := c.withAuth(req, res, opts.Credentials)
				if err != nil {
					return err
				}
				tx.Terminate()
				req = nreq
				c.mu.Lock()
				c.invite = req
				c.mu.Unlock()
				if tx, err = core.TransactionRequest(context.WithoutCancel(ctx), req); err != nil {
					return fmt.Errorf("endpoint: send INVITE: %w", err)
				}
				provisional = false
			case res.StatusCode >= 300 && res.StatusCode < 400:
				re := &RedirectError{Code: res.StatusCode}
				for _, h := range res.GetHeaders("Contact") {
					re.Contacts = append(re.Contacts, strings.Trim(h.Value(), "<> "))
				}
				return re
			default:
				if cancelled && res.StatusCode == 487 {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					return context.Canceled
				}
				return &ResponseError{Code: res.StatusCode, Reason: res.Reason, Res: res}
			}
		}
	}
}

// newCancel builds a CANCEL for req (RFC 3261 section 9.1): same
// Request-URI, Call-ID, From, To, top Via and CSeq number.
func newCancel(req *sip.Request) *sip.Request {
	cr := sip.NewRequest(sip.CANCEL, req.Recipient)
	cr.AppendHeader(sip.HeaderClone(req.Via()))
	cr.AppendHeader(sip.HeaderClone(req.From()))
	cr.AppendHeader(sip.HeaderClone(req.To()))
	cr.AppendHeader(sip.HeaderClone(req.CallID()))
	cr.AppendHeader(&sip.CSeqHeader{SeqNo: req.CSeq().SeqNo, MethodName: sip.CANCEL})
	maxFwd := sip.MaxForwardsHeader(70)
	cr.AppendHeader(&maxFwd)
	for _, r := range req.GetHeaders("Route") {
		cr.AppendHeader(sip.HeaderClone(r))
	}
	cr.SetTransport(req.Transport())
	cr.SetDestination(req.Destination())
	cr.SetBody(nil)
	return cr
}

func (c *Call) withAuth(req *sip.Request, res *sip.Response, cred *Credentials) (*sip.Request, error) {
	hdr, out := "WWW-Authenticate", "Authorization"
	if res.StatusCode == 407 {
		hdr, out = "Proxy-Authenticate", "Proxy-Authorization"
	}
	h := res.GetHeader(hdr)
	if h == nil {
		return nil, &ResponseError{Code: res.StatusCode, Reason: res.Reason, Res: res}
	}
	chal, err := digest.ParseChallenge(h.Value())
	if err != nil {
		return nil, fmt.Errorf("endpoint: bad %s: %w", hdr, err)
	}
	cr, err := digest.Digest(chal, digest.Options{Method: "INVITE", URI: req.Recipient.String(), Username: cred.Username, Password: cred.Password})
	if err != nil {
		return nil, fmt.Errorf("endpoint: digest: %w", err)
	}
	n := req.Clone()
	n.RemoveHeader("Via")
	n.RemoveHeader(out)
	n.AppendHeader(sip.NewHeader(out, cr.String()))
	c.mu.Lock()
	n.CSeq().SeqNo = c.nextSeqLocked()
	c.mu.Unlock()
	return n, nil
}

// earlyMedia applies the SDP of a provisional response.
func (c *Call) earlyMedia(res *sip.Response) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := sdp.ParseAnswer(res.Body(), &c.local)
	if err != nil {
		return err
	}
	c.applyLocked(n)
	return nil
}

// answered completes the dialog on a 2xx: ACK, and BYE at once if the
// establish was cancelled meanwhile.
func (c *Call) answered(ctx context.Context, tx sip.ClientTransaction, res *sip.Response, cancelled bool) error {
	c.mu.Lock()
	tag, _ := res.To().Params.Get("tag")
	c.dlg.remoteTag = tag
	if ct := res.Contact(); ct != nil {
		c.dlg.remoteTarget = ct.Address
	}
	c.dlg.routeSet = routeSet(res, true)
	if isReliable(c.dlg.transport) && len(c.dlg.routeSet) == 0 {
		c.dlg.destination = c.invite.Destination()
	}
	c.dlg.remote = res.To().Address
	c.dlg.remoteName = res.To().DisplayName
	seq := c.invite.CSeq().SeqNo
	var negErr error
	if len(res.Body()) > 0 {
		var n sdp.Negotiated
		if n, negErr = sdp.ParseAnswer(res.Body(), &c.local); negErr == nil {
			c.applyLocked(n)
		}
	} else if !c.negotiate {
		negErr = errors.New("endpoint: 200 OK carried no SDP answer")
	}
	c.negotiateSessionTimerUAC(res)
	c.mu.Unlock()

	if err := c.sendAck(tx, seq, nil); err != nil {
		c.log.Warn("ACK failed", "error", err)
	}
	if cancelled || negErr != nil {
		bctx, done := context.WithTimeout(context.Background(), 64*c.p.Config().T1)
		defer done()
		c.mu.Lock()
		c.setStateLocked(StateEstablished, ReasonEstablished)
		c.mu.Unlock()
		_ = c.terminate(bctx, ReasonCancelled)
		if negErr != nil {
			return negErr
		}
		return context.Canceled
	}
	c.mu.Lock()
	c.setStateLocked(StateEstablished, ReasonEstablished)
	c.startTimersLocked()
	c.conv.mu.Lock()
	c.conv.state = ConversationEstablished
	c.conv.mu.Unlock()
	c.mu.Unlock()
	return nil
}
