package endpoint

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-sip/switchboard/internal/ua"
)

// ErrDialogMethod is returned by Request for methods that create or need a
// dialog (INVITE, ACK, CANCEL, BYE, PRACK, UPDATE, INFO, SUBSCRIBE, REFER):
// use a Call or a Subscription for those.
var ErrDialogMethod = errors.New("endpoint: method needs a dialog; use a Call or Subscription")

// RequestOptions are per-request settings of Request and SendMessage.
type RequestOptions struct {
	// ContentType is the media type of Body (Content-Type); required when
	// Body is set.
	ContentType string
	// Body is the request body; none when nil. The request refers to it
	// until Request returns.
	Body []byte
	// Event is the Event header (RFC 6665 section 8.2.1): the event
	// package, e.g. "message-summary" (RFC 3842) or "dialog" (RFC 4235).
	// Required for NOTIFY; a NOTIFY sent with Request belongs to no
	// subscription (an unsolicited notification).
	Event string
	// Headers are added to the request (e.g. Subscription-State, Accept).
	// Headers that the request owns (Call-ID, From, To, CSeq, Via,
	// Contact, Content-Length, Content-Type, Max-Forwards, Event) are
	// refused.
	Headers []Header
}

// dialogMethods create or need a dialog, so Request refuses them.
var dialogMethods = map[sip.RequestMethod]bool{sip.INVITE: true, sip.ACK: true, sip.CANCEL: true, sip.BYE: true,
	sip.PRACK: true, sip.UPDATE: true, sip.INFO: true, sip.SUBSCRIBE: true, sip.REFER: true}

// Request sends an out-of-dialog request (RFC 3261 section 8.1) from the
// endpoint's owner URI to the SIP URI to, and waits for its final
// response: MESSAGE (RFC 3428), an unsolicited NOTIFY, OPTIONS to ping a
// peer. It returns the 2xx response; any other final response is a
// *ResponseError carrying it (3xx is not followed). Cancelling ctx ends
// the wait (the transaction is abandoned: non-INVITE requests cannot be
// cancelled). Request is safe for concurrent use.
func (e *Endpoint) Request(ctx context.Context, method sip.RequestMethod, to string, opts RequestOptions) (*sip.Response, error) {
	return e.NewConversation().Request(ctx, method, to, opts)
}

// SendMessage sends a MESSAGE (RFC 3428) with body of type contentType
// (e.g. "text/plain;charset=utf-8") from the endpoint's owner URI to the
// SIP URI to. It returns nil once the far end accepted it (2xx), a
// *ResponseError for a failure response.
func (e *Endpoint) SendMessage(ctx context.Context, to, contentType string, body []byte) error {
	_, err := e.Request(ctx, sip.MESSAGE, to, RequestOptions{ContentType: contentType, Body: body})
	return err
}

// Request sends an out-of-dialog request like [Endpoint.Request], from the
// conversation's identity: the impersonated one after Impersonate (also
// asserted in P-Asserted-Identity, as for calls), else the endpoint's. It
// does not change the conversation's state.
func (c *Conversation) Request(ctx context.Context, method sip.RequestMethod, to string, opts RequestOptions) (*sip.Response, error) {
	method = sip.RequestMethod(strings.ToUpper(string(method)))
	req, err := c.outOfDialog(method, to, opts)
	if err != nil {
		return nil, err
	}
	tx, err := ua.Of(c.ep.p).TransactionRequest(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("endpoint: send %s to %s: %w", method, to, err)
	}
	defer tx.Terminate()
	res, err := finalResponse(ctx, tx, fmt.Sprintf("%s to %s", method, to))
	if err != nil {
		return nil, err
	}
	if !res.IsSuccess() {
		return nil, &ResponseError{Code: res.StatusCode, Reason: res.Reason, Res: res}
	}
	return res, nil
}

// outOfDialog builds the request of Conversation.Request: a fresh Call-ID
// and From tag, CSeq 1, no To tag (RFC 3261 section 8.1.1).
func (c *Conversation) outOfDialog(method sip.RequestMethod, to string, opts RequestOptions) (*sip.Request, error) {
	if method == "" || dialogMethods[method] {
		return nil, fmt.Errorf("endpoint: request %q: %w", method, ErrDialogMethod)
	}
	target, err := ParseURI(to)
	if err != nil {
		return nil, err
	}
	if target.Scheme == "tel" {
		return nil, fmt.Errorf("endpoint: cannot route tel URI %q without a gateway; use a SIP URI", to)
	}
	if opts.Body != nil && opts.ContentType == "" {
		return nil, fmt.Errorf("endpoint: %s has a body but no content type", method)
	}
	if method == sip.NOTIFY && opts.Event == "" {
		return nil, fmt.Errorf("endpoint: NOTIFY needs an Event (RFC 6665 section 8.2.1)")
	}
	for _, v := range []struct{ what, v string }{{"content type", opts.ContentType}, {"event", opts.Event}} {
		if err := checkValue(v.what, v.v); err != nil {
			return nil, err
		}
	}
	owned := func(n string) bool { return isReserved(n) || n == "content-type" || n == "event" }
	if err := checkHeaders(opts.Headers, owned, "Request"); err != nil {
		return nil, err
	}
	c.mu.Lock()
	id, impersonated := c.id, c.impersonated
	c.mu.Unlock()
	p := c.ep.p

	req := sip.NewRequest(method, target)
	from := &sip.FromHeader{DisplayName: id.name, Address: id.uri, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	callID := sip.CallIDHeader(sip.GenerateTagN(32))
	maxFwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: target.Scheme, User: target.User, Host: target.Host, Port: target.Port}, Params: sip.NewParams()})
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: method})
	req.AppendHeader(&maxFwd)
	transport := "UDP"
	if target.UriParams != nil {
		if t, ok := target.UriParams.Get("transport"); ok {
			transport = strings.ToUpper(t)
		}
	}
	req.SetTransport(transport)
	if method != sip.MESSAGE {
		// RFC 3428 section 4: MESSAGE carries no Contact; NOTIFY must
		// (RFC 6665 section 8.2.1) and OPTIONS may.
		ct := p.Contact(c.ep.owner.User, transport)
		req.AppendHeader(&ct)
	}
	if impersonated || c.ep.kind == KindApplication {
		for _, h := range id.pai() {
			req.AppendHeader(h)
		}
	}
	if opts.Event != "" {
		req.AppendHeader(sip.NewHeader("Event", opts.Event))
	}
	req.AppendHeader(sip.NewHeader("User-Agent", p.Config().UserAgent))
	for _, h := range sipHeaders(opts.Headers) {
		req.AppendHeader(h)
	}
	if opts.Body != nil {
		req.AppendHeader(sip.NewHeader("Content-Type", opts.ContentType))
	}
	req.SetBody(opts.Body)
	return req, nil
}
