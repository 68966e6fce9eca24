package endpoint

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-sip/switchboard/internal/serial"
	"github.com/switchboard-sip/switchboard/internal/ua"
	"github.com/switchboard-sip/switchboard/platform"
)

// Subscription is the notifier side of an accepted SUBSCRIBE (RFC 6665):
// a dialog on which the application sends NOTIFYs until the subscriber
// unsubscribes, the subscription expires, or Terminate is called. Methods
// are safe for concurrent use.
type Subscription struct {
	p     *platform.Platform
	event string
	user  string

	mu      sync.Mutex
	dlg     dialog
	expires time.Time
	timer   *time.Timer
	done    bool
	onEnd   serial.Handlers[struct{}]

	notifyMu sync.Mutex // NOTIFYs are sent one at a time, in order
	ctx      context.Context
	cancel   context.CancelFunc
}

// SubscribeOptions tune AcceptSubscription.
type SubscribeOptions struct {
	// MaxExpires caps the subscription duration. Default 3600s.
	MaxExpires time.Duration
	// ContactUser is the user part of our Contact. Default: the Request-URI
	// user.
	ContactUser string
}

// EventPackage returns the event package a SUBSCRIBE or NOTIFY names in
// its Event header, lower-cased and without parameters ("" when absent).
func EventPackage(r *platform.Request) string {
	ev := r.GetHeader("Event")
	if ev == nil {
		return ""
	}
	return strings.ToLower(strings.TrimSpace(strings.Split(ev.Value(), ";")[0]))
}

// ErrUnsubscribed is returned by AcceptSubscription for a SUBSCRIBE with
// Expires: 0 (a fetch): the caller sends its one NOTIFY with the returned,
// already terminating, subscription.
var ErrUnsubscribed = errors.New("endpoint: subscription ended")

// AcceptSubscription answers an out-of-dialog SUBSCRIBE with 200 OK and
// returns the subscription. The caller must send the initial NOTIFY at once
// (RFC 6665 section 4.2.1.2). For Expires: 0 the subscription is returned
// already terminating: its first Notify says "terminated".
func AcceptSubscription(p *platform.Platform, r *platform.Request, opts SubscribeOptions) (*Subscription, error) {
	event := EventPackage(r)
	if event == "" {
		_ = r.Respond(489, "Bad Event", nil)
		return nil, errors.New("endpoint: SUBSCRIBE without Event")
	}
	if opts.MaxExpires == 0 {
		opts.MaxExpires = time.Hour
	}
	exp := opts.MaxExpires
	if h := r.GetHeader("Expires"); h != nil {
		n, err := strconv.Atoi(strings.TrimSpace(h.Value()))
		if err != nil || n < 0 {
			_ = r.Respond(sip.StatusBadRequest, "Bad Expires", nil)
			return nil, errors.New("endpoint: bad Expires")
		}
		exp = min(time.Duration(n)*time.Second, opts.MaxExpires)
	}
	ct := r.Contact()
	if ct == nil {
		_ = r.Respond(sip.StatusBadRequest, "Missing Contact", nil)
		return nil, errors.New("endpoint: SUBSCRIBE without Contact")
	}
	user := opts.ContactUser
	if user == "" {
		user = r.Recipient.User
	}
	req := r.Request
	s := &Subscription{p: p, event: event, user: user}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.dlg = uasDialog(req, sip.GenerateTagN(16))
	s.dlg.localName = ""
	if err := ua.Of(p).RegisterDialog(s.dlg.callID, s.dlg.localTag, subHandler{s}); err != nil {
		_ = r.Respond(sip.StatusServiceUnavailable, "Service Unavailable", nil)
		return nil, err
	}
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
	res.To().Params.Add("tag", s.dlg.localTag)
	contact := p.Contact(user, s.dlg.transport)
	res.AppendHeader(&contact)
	res.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(int(exp/time.Second))))
	if err := r.Tx.Respond(res); err != nil {
		s.end()
		return nil, err
	}
	s.mu.Lock()
	s.setExpiryLocked(exp)
	s.mu.Unlock()
	if exp == 0 {
		return s, ErrUnsubscribed
	}
	return s, nil
}

// Event returns the event package name ("conference", "dialog", ...).
func (s *Subscription) Event() string { return s.event }

// Subscriber returns the subscriber's URI.
func (s *Subscription) Subscriber() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return formatURI(s.dlg.remote)
}

// Done is closed when the subscription has ended.
func (s *Subscription) Done() <-chan struct{} { return s.ctx.Done() }

// OnEnd adds a function called once when the subscription ends and
// returns the function that removes it. Every function added runs, in the
// order added, on the goroutine that ends the subscription (a NOTIFY or
// Terminate caller, the expiry timer, the platform's Close), never under a
// lock; it must not block. Remove is idempotent and safe inside the
// function. A function added after the end is never called.
func (s *Subscription) OnEnd(f func()) (remove func()) {
	if f == nil {
		return func() {}
	}
	return s.onEnd.Add(func(struct{}) { f() })
}

// setExpiryLocked (re)arms the expiry timer; s.mu is held.
func (s *Subscription) setExpiryLocked(d time.Duration) {
	s.expires = time.Now().Add(d)
	if s.timer != nil {
		s.timer.Stop()
	}
	if d == 0 {
		return
	}
	s.timer = time.AfterFunc(d, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 32*s.p.Config().T1)
		defer cancel()
		_ = s.Terminate(ctx, "timeout")
	})
}

func (s *Subscription) state() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	left := time.Until(s.expires)
	if s.done || left <= 0 {
		return "terminated;reason=timeout", true
	}
	return "active;expires=" + strconv.Itoa(int((left+time.Second-1)/time.Second)), false
}

// Notify sends a NOTIFY with the body and the current Subscription-State.
// After the subscription has expired the NOTIFY says terminated and the
// subscription ends.
func (s *Subscription) Notify(ctx context.Context, contentType string, body []byte) error {
	state, last := s.state()
	return s.notify(ctx, state, contentType, body, last)
}

// Terminate sends a final NOTIFY (Subscription-State: terminated with the
// given reason, RFC 6665 section 4.1.3) without a body and ends the
// subscription. It is idempotent.
func (s *Subscription) Terminate(ctx context.Context, reason string) error {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	st := "terminated"
	if reason != "" {
		st += ";reason=" + reason
	}
	return s.notify(ctx, st, "", nil, true)
}

func (s *Subscription) notify(ctx context.Context, state, contentType string, body []byte, last bool) error {
	s.notifyMu.Lock()
	defer s.notifyMu.Unlock()
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return ErrUnsubscribed
	}
	s.dlg.localSeq++
	req := s.dlg.request(sip.NOTIFY, s.dlg.localSeq, s.p.Contact(s.user, s.dlg.transport))
	s.mu.Unlock()
	req.AppendHeader(sip.NewHeader("Event", s.event))
	req.AppendHeader(sip.NewHeader("Subscription-State", state))
	if body != nil {
		req.AppendHeader(sip.NewHeader("Content-Type", contentType))
	}
	req.SetBody(body)
	if last {
		defer s.end()
	}
	tx, err := ua.Of(s.p).TransactionRequest(ctx, req)
	if err != nil {
		return fmt.Errorf("endpoint: NOTIFY: %w", err)
	}
	defer tx.Terminate()
	res, err := finalResponse(ctx, tx, "NOTIFY")
	if err != nil {
		if ctx.Err() == nil {
			s.end() // the transaction failed: timeout or transport error
		}
		return err
	}
	if res.StatusCode == 481 || res.StatusCode == 408 || res.StatusCode >= 500 && res.StatusCode != 503 {
		// RFC 6665 section 4.2.2: the subscriber is gone.
		s.end()
	}
	if !res.IsSuccess() {
		return &ResponseError{Code: res.StatusCode, Reason: res.Reason, Res: res}
	}
	return nil
}

func (s *Subscription) end() {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return
	}
	s.done = true
	if s.timer != nil {
		s.timer.Stop()
	}
	ended := s.onEnd.Dispatch(struct{}{}, nil)
	s.mu.Unlock()
	ua.Of(s.p).UnregisterDialog(s.dlg.callID, s.dlg.localTag)
	s.cancel()
	if ended != nil {
		ended()
	}
}

type subHandler struct{ s *Subscription }

func (h subHandler) ServeDialog(req *sip.Request, tx sip.ServerTransaction, trusted bool) {
	h.s.serveDialog(&platform.Request{Request: req, Tx: tx, Trusted: trusted})
}

// serveDialog handles in-dialog requests: a refreshing SUBSCRIBE (Expires:
// 0 unsubscribes, and gets a final NOTIFY).
func (s *Subscription) serveDialog(r *platform.Request) {
	if r.Method != sip.SUBSCRIBE {
		if !r.IsAck() {
			_ = r.Respond(sip.StatusMethodNotAllowed, "Method Not Allowed", nil)
		}
		return
	}
	exp := time.Hour
	if e := r.GetHeader("Expires"); e != nil {
		if n, err := strconv.Atoi(strings.TrimSpace(e.Value())); err == nil && n >= 0 {
			exp = min(time.Duration(n)*time.Second, time.Hour)
		}
	}
	s.mu.Lock()
	s.setExpiryLocked(exp)
	s.mu.Unlock()
	res := sip.NewResponseFromRequest(r.Request, sip.StatusOK, "OK", nil)
	res.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(int(exp/time.Second))))
	_ = r.Tx.Respond(res)
	if exp == 0 {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 32*s.p.Config().T1)
			defer cancel()
			_ = s.Terminate(ctx, "")
		}()
	}
}

func (h subHandler) Terminate(ctx context.Context) error { return h.s.Terminate(ctx, "deactivated") }
func (h subHandler) Abort()                              { h.s.end() }
