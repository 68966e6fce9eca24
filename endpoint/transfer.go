package endpoint

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-sip/switchboard/platform"
)

// TransferType selects how a transfer completes.
type TransferType int

const (
	// Unattended transfer ends the call as soon as the REFER is accepted
	// (202).
	Unattended TransferType = iota
	// Attended transfer waits for the NOTIFY that reports the new call's
	// 200 and keeps the call if the transfer fails.
	Attended
)

// TransferOptions are per-transfer settings.
type TransferOptions struct {
	Type TransferType
	// Headers are added to the REFER (for example Referred-By overrides).
	// Headers that the dialog owns are refused; see [Header].
	Headers []Header
}

// TransferError reports a transfer that the target did not complete; the
// call is kept.
type TransferError struct {
	Code int // final status reported by NOTIFY, or of the REFER itself
}

func (e *TransferError) Error() string {
	return fmt.Sprintf("endpoint: transfer failed (%d)", e.Code)
}

// Transfer asks the remote party to call target (REFER, RFC 3515). An
// unattended transfer ends this call on 202; an attended one waits for the
// NOTIFY with the outcome and keeps the call on failure.
func (c *Call) Transfer(ctx context.Context, target string, opts TransferOptions) error {
	u, err := ParseURI(target)
	if err != nil {
		return err
	}
	return c.refer(ctx, "<"+formatURI(u)+">", opts)
}

// TransferReplacing is a supervised transfer: the remote party of this
// call is asked to call the remote party of other with Replaces, so that
// its new call replaces other (RFC 3891). It waits for the outcome like an
// attended transfer.
func (c *Call) TransferReplacing(ctx context.Context, other *Call, opts TransferOptions) error {
	if other == nil || other.State() != StateEstablished {
		return fmt.Errorf("endpoint: call to replace must be established: %w", ErrState)
	}
	opts.Type = Attended
	return c.refer(ctx, other.referToReplacing(), opts)
}

// notifyGrace is how long a dialog ended by BYE still takes the final
// NOTIFY of a REFER we sent (referWait).
const notifyGrace = 2 * time.Second

func (c *Call) refer(ctx context.Context, referTo string, opts TransferOptions) error {
	if err := checkHeaders(opts.Headers, isReserved, "Transfer"); err != nil {
		return err
	}
	c.mu.Lock()
	if c.state != StateEstablished {
		c.mu.Unlock()
		return ErrState
	}
	// Drain stale NOTIFY results of an earlier transfer.
	for len(c.referCh) > 0 {
		<-c.referCh
	}
	c.setStateLocked(StateTransferring, ReasonTransferring)
	// The transferee may carry the transfer out and report it (NOTIFY,
	// then BYE) before the 202 reaches this goroutine: its NOTIFYs are
	// taken from now on (referWait), not only once the 202 is seen.
	c.referWait = true
	hdrs := append([]sip.Header{
		sip.NewHeader("Refer-To", referTo),
		sip.NewHeader("Referred-By", "<"+formatURI(c.dlg.local)+">"),
	}, sipHeaders(opts.Headers)...)
	req := c.requestLocked(sip.REFER, nil, hdrs...)
	c.mu.Unlock()

	restore := func() {
		c.mu.Lock()
		c.referWait = false
		if c.state == StateTransferring {
			c.setStateLocked(StateEstablished, ReasonTransferFailed)
		}
		c.mu.Unlock()
	}
	res, tx, err := c.do(ctx, req)
	if tx != nil {
		tx.Terminate()
	}
	if err != nil {
		restore()
		return err
	}
	if !res.IsSuccess() {
		restore()
		return &TransferError{Code: res.StatusCode}
	}
	if opts.Type == Unattended {
		c.mu.Lock()
		c.referWait = false
		c.mu.Unlock()
		return c.terminate(ctx, ReasonTransferred)
	}
	defer func() {
		c.mu.Lock()
		c.referWait = false
		c.mu.Unlock()
	}()
	for {
		select {
		case code := <-c.referCh:
			switch {
			case code >= 100 && code < 200:
				continue
			case code >= 200 && code < 300:
				c.mu.Lock()
				c.referWait = false // our BYE ends every usage at once
				c.mu.Unlock()
				return c.terminate(ctx, ReasonTransferred)
			default:
				restore()
				return &TransferError{Code: code}
			}
		case <-c.ctx.Done():
			// The transferee may hang up right after its final NOTIFY,
			// and the BYE may be handled first: the dialog still takes
			// that NOTIFY for notifyGrace (referWait), and a success
			// reported wins over the BYE.
			grace := time.NewTimer(notifyGrace)
			defer grace.Stop()
			for {
				select {
				case code := <-c.referCh:
					switch {
					case code >= 200 && code < 300:
						return nil
					case code >= 100 && code < 200:
						continue
					}
					return &TransferError{Code: code}
				case <-grace.C:
					return ErrTerminated
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		case <-ctx.Done():
			restore()
			return ctx.Err()
		}
	}
}

// TransferRequest is an incoming REFER, delivered to the call's
// OnTransferRequested handlers, one of which accepts or declines it.
type TransferRequest struct {
	// Target is the Refer-To URI without embedded headers.
	Target string
	// Replaces is the Replaces value embedded in Refer-To, if any.
	Replaces string
	// ReferredBy is the Referred-By value, if any.
	ReferredBy string

	call     *Call
	decision chan int
	answered chan struct{} // closed when the REFER's final response is sent
	once     sync.Once
	decided  atomic.Bool // Accept or Decline was called, or the wait ended
	taken    atomic.Bool
}

// OnTransferRequested adds a handler of incoming REFERs and returns the
// function that removes it. Handlers run on the call's event goroutine
// (see OnStateChanged) and must not block.
//
// The handlers are asked in the order added until one of them decides: a
// handler decides by calling Decline or Take before it returns; the
// handlers after it are not called. Accept blocks, so a
// handler that accepts calls Take and then Accept from a goroutine of its
// own:
//
//	call.OnTransferRequested(func(tr *endpoint.TransferRequest) {
//		if !tr.Take() {
//			return
//		}
//		go func() { nc, err := tr.Accept(ctx, endpoint.EstablishOptions{}) ... }()
//	})
//
// A handler that returns without deciding leaves the request to the next
// one. When none decides, or there is no handler, the REFER is declined
// with 603 at once; a request taken but neither accepted nor declined
// within 5 seconds is declined with 603 too.
func (c *Call) OnTransferRequested(f func(*TransferRequest)) (remove func()) {
	return c.onTransfer.Add(f)
}

func (c *Call) serveRefer(r *platform.Request) {
	rt := r.GetHeader("Refer-To")
	if rt == nil {
		_ = r.Respond(sip.StatusBadRequest, "Missing Refer-To", nil)
		return
	}
	target, replaces, err := parseReferTo(rt.Value())
	if err != nil {
		_ = r.Respond(sip.StatusBadRequest, "Bad Refer-To", nil)
		return
	}
	tr := &TransferRequest{Target: target, Replaces: replaces, call: c, decision: make(chan int, 1), answered: make(chan struct{})}
	// Accept sends its first NOTIFY only after the 202 is on the wire
	// (RFC 3515 section 2.4.4): some phones answer a NOTIFY that overtakes
	// the 202 with 491 Request Pending.
	defer close(tr.answered)
	if rb := r.GetHeader("Referred-By"); rb != nil {
		tr.ReferredBy = rb.Value()
	}
	ask := c.onTransfer.Dispatch(tr, tr.isAnswered)
	if ask == nil {
		_ = r.Respond(603, "Decline", nil)
		return
	}
	c.events.Post(func() {
		ask()
		if !tr.isAnswered() {
			tr.Decline(603) // no handler decided
		}
	})
	code := 603
	select {
	case code = <-tr.decision:
	case <-time.After(5 * time.Second):
		tr.decide(0)
	case <-c.ctx.Done():
	}
	if code == 202 {
		_ = r.Respond(sip.StatusAccepted, "Accepted", nil)
		return
	}
	_ = r.Respond(code, "Decline", nil)
}

// parseReferTo splits a Refer-To value into the target URI and an
// embedded Replaces header.
func parseReferTo(v string) (target, replaces string, err error) {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, '<'); i >= 0 {
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			return "", "", errors.New("unterminated <")
		}
		v = v[i+1 : i+j]
	}
	uri, query, _ := strings.Cut(v, "?")
	if strings.ContainsAny(uri, "<>") {
		// "sip:x>" or a second "<": ParseURI would trim a bracket and
		// accept it, and the target would carry it into a Request-URI
		// (found by FuzzParseReferTo).
		return "", "", errors.New("stray angle bracket")
	}
	if query != "" {
		q, err := url.ParseQuery(query)
		if err == nil {
			for k, vs := range q {
				if strings.EqualFold(k, "Replaces") && len(vs) > 0 {
					replaces = vs[0]
				}
			}
		}
	}
	if _, err := ParseURI(uri); err != nil {
		return "", "", err
	}
	return uri, replaces, nil
}

// isAnswered reports whether a handler has decided: called Accept, Decline
// or Take.
func (t *TransferRequest) isAnswered() bool { return t.decided.Load() || t.taken.Load() }

// decide records the decision code (0: none, the request is declined) if
// none was made before, and reports whether it did.
func (t *TransferRequest) decide(code int) bool {
	ok := false
	t.once.Do(func() {
		t.decided.Store(true)
		if code != 0 {
			t.decision <- code
		}
		ok = true
	})
	return ok
}

// Take claims the request for the calling handler before it hands the
// request to a goroutine of its own that calls Accept or Decline: the
// handlers after it are not asked, and the REFER waits (5 seconds at most)
// for that decision. It reports false when another handler has already
// taken or decided the request.
func (t *TransferRequest) Take() bool {
	return !t.decided.Load() && t.taken.CompareAndSwap(false, true)
}

// Decline refuses the transfer (603 when code is 0). It does nothing if
// the request was already accepted or declined.
func (t *TransferRequest) Decline(code int) {
	if code == 0 {
		code = 603
	}
	t.decide(code)
}

// Accept answers 202 and places a new call to the target in the same
// conversation (with Replaces when the REFER carried one), reporting its
// progress to the referrer with NOTIFY (RFC 3515 section 2.4.4). When the
// new call is answered, this call is ended (reason transferred) and the new
// call is returned; the application owns it. Accept blocks until the new
// call is established or fails: call it from your own goroutine, after
// Take in the handler (see OnTransferRequested). It fails when the request
// was already answered, declined for want of a decision included.
func (t *TransferRequest) Accept(ctx context.Context, opts EstablishOptions) (*Call, error) {
	return t.accept(ctx, nil, opts)
}

// AcceptAs is Accept with the new call presenting id (From and
// P-Asserted-Identity) instead of the referring call's identity: a
// back-to-back call that carries out a REFER itself presents the party
// being transferred, so the target sees (and logs) who is really calling.
// The new call is placed in a new conversation of the same endpoint. When
// id cannot be presented (the endpoint is not an application endpoint, or
// id is not a valid identity) AcceptAs is Accept.
func (t *TransferRequest) AcceptAs(ctx context.Context, id Identity, opts EstablishOptions) (*Call, error) {
	conv := t.call.ep.NewConversation()
	if err := conv.Impersonate(id); err != nil {
		t.call.log.Debug("transfer: cannot present the transferred party; the new call presents this call's identity", "identity", id.URI, "error", err)
		conv = nil
	}
	return t.accept(ctx, conv, opts)
}

func (t *TransferRequest) accept(ctx context.Context, conv *Conversation, opts EstablishOptions) (*Call, error) {
	c := t.call
	if conv == nil {
		conv = c.conv
	}
	var nc *Call
	err := t.carry(ctx, func(ctx context.Context) error {
		nc = conv.NewCall()
		opts.Replaces = t.Replaces
		// RFC 3892: the new call names who referred it (a park service uses it
		// to know the parker).
		rb := t.ReferredBy
		if rb == "" {
			rb = "<" + c.RemoteURI() + ">"
		}
		opts.Headers = append(append([]Header(nil), opts.Headers...), Header{Name: "Referred-By", Value: rb})
		return nc.Establish(ctx, t.Target, opts)
	})
	if err != nil {
		return nil, err
	}
	return nc, nil
}

// AcceptInProcess answers 202 and lets do carry the transfer out inside
// this process instead of placing a call to the target: a service of this
// platform that the target names takes the party directly (a park service
// parking the call the referrer was talking to, with no SIP dialog to its
// own address). The referrer is told the progress with NOTIFY as for
// Accept: 100 Trying, then 200 OK when do returns nil, and this call ends
// with reason transferred; or the failure (the code and reason of a
// *ResponseError that do returns, else 503), and the call stays up. Call
// it from your own goroutine, after Take, like Accept.
func (t *TransferRequest) AcceptInProcess(ctx context.Context, do func(context.Context) error) error {
	return t.carry(ctx, do)
}

// carry answers 202, sends the first NOTIFY once the 202 is out, runs do
// and reports its outcome to the referrer: the common part of Accept and
// AcceptInProcess.
func (t *TransferRequest) carry(ctx context.Context, do func(context.Context) error) error {
	if !t.decide(202) {
		return errors.New("endpoint: transfer request already answered")
	}
	c := t.call
	c.setState(StateTransferring, ReasonTransferAccepted)
	select {
	case <-t.answered: // the 202 has been sent
	case <-ctx.Done():
		return ctx.Err()
	}
	c.notifyRefer(ctx, "SIP/2.0 100 Trying", "active;expires=60")
	if err := do(ctx); err != nil {
		frag := "SIP/2.0 503 Service Unavailable"
		var re *ResponseError
		if errors.As(err, &re) {
			frag = fmt.Sprintf("SIP/2.0 %d %s", re.Code, re.Reason)
		}
		c.notifyRefer(ctx, frag, "terminated;reason=noresource")
		c.mu.Lock()
		if c.state == StateTransferring {
			c.setStateLocked(StateEstablished, ReasonTransferFailed)
		}
		c.mu.Unlock()
		return err
	}
	c.mu.Lock()
	c.transferred = true
	c.mu.Unlock()
	c.notifyRefer(ctx, "SIP/2.0 200 OK", "terminated;reason=noresource")
	_ = c.terminate(ctx, ReasonTransferred)
	return nil
}

func (c *Call) notifyRefer(ctx context.Context, frag, state string) {
	req := c.request(sip.NOTIFY, nil,
		sip.NewHeader("Event", "refer"),
		sip.NewHeader("Subscription-State", state),
		sip.NewHeader("Content-Type", "message/sipfrag;version=2.0"))
	req.SetBody([]byte(frag + "\r\n"))
	nctx, cancel := context.WithTimeout(ctx, 32*c.p.Config().T1)
	defer cancel()
	// A referrer that hangs up does not answer: its BYE ends the wait, so
	// that whoever waits on the transfer (a back-to-back call re-pairing
	// its legs) goes on at once instead of after Timer F.
	stop := context.AfterFunc(c.ctx, cancel)
	defer stop()
	_, tx, err := c.do(nctx, req)
	if tx != nil {
		tx.Terminate()
	}
	if err != nil {
		c.log.Debug("NOTIFY failed", "error", err)
	}
}
