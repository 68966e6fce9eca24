package endpoint_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-sip/switchboard/endpoint"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// injection is one attempt to smuggle a header, a header parameter or an
// oversized value through a value the caller supplies (issue 15 item 5).
type injection struct {
	name  string
	value string
}

// badValues are header values and display names that must be refused.
var badValues = []injection{
	{"CRLF", "1\r\nX-Evil: 1"},
	{"LF", "1\nX-Evil: 1"},
	{"CR", "1\rX-Evil: 1"},
	{"NUL", "1\x00X-Evil: 1"},
	{"folding", "a\r\n X-Evil: 1"},
	{"oversized", strings.Repeat("a", 10<<10)},
}

// badURIs are URIs that must be refused: control characters, a bracket
// closed early to add a tag, folding and oversized values.
var badURIs = []injection{
	{"closing bracket and tag", "sip:a@b>;tag=evil"},
	{"CRLF in a parameter", "sip:a@b;x=1\r\nX-Evil: 1"},
	{"bracket in a parameter", "sip:a@b;x=>;tag=evil"},
	{"bracket in a URI header", "sip:a@b?X-Evil=>;tag=evil"},
	{"second address", "sip:a@b;x=1>,<sip:evil@c"},
	{"quote", `sip:a@b;x="q"`},
	{"folding", "sip:a@b\r\n X-Evil: 1"},
	{"NUL", "sip:a@b;x=\x00"},
	{"oversized", "sip:" + strings.Repeat("a", 10<<10) + "@b"},
}

// badDisplayNames adds a quote (it would close the quoted display name)
// to badValues.
var badDisplayNames = append([]injection{{"quote", `A" <sip:evil@c>;tag=evil`}}, badValues...)

// checkRefused fails t unless err is a clean error: non-nil and without
// the injected line in its text (errors end up in logs).
func checkRefused(t *testing.T, what string, err error) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: accepted", what)
	case strings.ContainsAny(err.Error(), "\r\n\x00"):
		t.Errorf("%s: error text carries the injected line: %q", what, err)
	case len(err.Error()) > 2*endpoint.MaxValueLength+200:
		t.Errorf("%s: error text is %d bytes", what, len(err.Error()))
	}
}

// checkClean fails t if the request on the wire carries an injected
// header or tag.
func checkClean(t *testing.T, req *sip.Request) {
	t.Helper()
	raw := req.String()
	if strings.Contains(strings.ToLower(raw), "x-evil") || strings.Contains(raw, "evil") {
		t.Errorf("injected text on the wire:\n%s", raw)
	}
	if n := len(req.GetHeaders("From")); n != 1 {
		t.Errorf("%d From headers", n)
	}
	if tag, _ := req.From().Params.Get("tag"); tag == "" || strings.Contains(tag, "evil") {
		t.Errorf("From tag = %q", tag)
	}
}

// TestHeaderInjectionIsRefused tries every bad value at every entry point
// of the endpoint that writes a caller's value into a header:
// Impersonate (URI, phone URI, display name), Endpoint.Request and
// Conversation.Request (target, headers, content type, event) and
// Call.Establish (destination, headers). Each must fail with an error, and
// nothing must reach the far end; the legitimate request that follows
// arrives with its header, so the far end was listening.
func TestHeaderInjectionIsRefused(t *testing.T) {
	sbt.CheckGoroutines(t)
	to, got := receiver(t, 200)
	srv := sbt.NewServer(t)
	bot := srv.HandleWith(t, endpoint.Settings{OwnerURI: "sip:bot@127.0.0.1", DisplayName: "Bot"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for _, b := range badURIs {
		checkRefused(t, "Impersonate URI "+b.name, bot.NewConversation().Impersonate(endpoint.Identity{URI: b.value}))
		checkRefused(t, "Impersonate phone URI "+b.name, bot.NewConversation().Impersonate(endpoint.Identity{URI: "sip:alice@example.com", PhoneURI: b.value}))
		_, err := bot.Request(ctx, sip.OPTIONS, b.value, endpoint.RequestOptions{})
		checkRefused(t, "Request target "+b.name, err)
		checkRefused(t, "Establish destination "+b.name, bot.NewConversation().NewCall().Establish(ctx, b.value, endpoint.EstablishOptions{}))
		_, err = endpoint.ParseURI(b.value)
		checkRefused(t, "ParseURI "+b.name, err)
	}
	for _, b := range badDisplayNames {
		checkRefused(t, "Impersonate display name "+b.name, bot.NewConversation().Impersonate(endpoint.Identity{URI: "sip:alice@example.com", DisplayName: b.value}))
		_, err := endpoint.NewApplication(srv.Platform, endpoint.Settings{OwnerURI: "sip:other@127.0.0.1", DisplayName: b.value})
		checkRefused(t, "Settings.DisplayName "+b.name, err)
	}
	for _, b := range badValues {
		hs := []endpoint.Header{{Name: "X-Account", Value: b.value}}
		_, err := bot.Request(ctx, sip.MESSAGE, to, endpoint.RequestOptions{ContentType: "text/plain", Body: []byte("x"), Headers: hs})
		checkRefused(t, "Request header "+b.name, err)
		_, err = bot.Request(ctx, sip.MESSAGE, to, endpoint.RequestOptions{ContentType: "text/plain" + b.value, Body: []byte("x")})
		checkRefused(t, "Request content type "+b.name, err)
		_, err = bot.Request(ctx, sip.NOTIFY, to, endpoint.RequestOptions{Event: "dialog" + b.value})
		checkRefused(t, "Request event "+b.name, err)
		checkRefused(t, "Establish header "+b.name, bot.NewConversation().NewCall().Establish(ctx, to, endpoint.EstablishOptions{Headers: hs}))
	}
	for _, name := range []string{"X-Evil: 1\r\nX-Account", "X Evil", "X-Evil:", ""} {
		_, err := bot.Request(ctx, sip.MESSAGE, to, endpoint.RequestOptions{ContentType: "text/plain", Body: []byte("x"), Headers: []endpoint.Header{{Name: name, Value: "1"}}})
		checkRefused(t, "Request header name "+name, err)
	}

	// The legitimate case: an impersonated request with a header, at the
	// length limit, arrives intact and is the first request to arrive.
	conv := bot.NewConversation()
	if err := conv.Impersonate(endpoint.Identity{URI: "sip:alice@example.com;x=1", DisplayName: "Alice"}); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("4", endpoint.MaxValueLength)
	select {
	case r := <-got:
		t.Fatalf("a refused request reached the far end:\n%s", r)
	default:
	}
	if _, err := conv.Request(ctx, sip.MESSAGE, to, endpoint.RequestOptions{
		ContentType: "text/plain", Body: []byte("hi"), Headers: []endpoint.Header{{Name: "X-Account", Value: long}},
	}); err != nil {
		t.Fatal(err)
	}
	req := next(t, got)
	checkClean(t, req)
	if h := req.GetHeader("X-Account"); h == nil || h.Value() != long {
		t.Errorf("X-Account did not arrive intact")
	}
	if f := req.From(); f.DisplayName != "Alice" || f.Address.User != "alice" {
		t.Errorf("From = %s", f.Value())
	}
	select {
	case r := <-got:
		t.Errorf("a refused request reached the far end:\n%s", r)
	default:
	}
}

// TestHeaderInjectionOnCalls tries the bad values at the entry points of
// calls: an incoming call's DeclineWithReason (reason phrase),
// AcceptWithHeaders and Redirect (target), then, on an established call,
// Transfer (target and headers). Each must fail with an error and leave
// the call as it was: the caller is declined with the legitimate reason,
// and after the refused transfers the legitimate one rings carol with a
// clean INVITE.
func TestHeaderInjectionOnCalls(t *testing.T) {
	sbt.CheckGoroutines(t)
	srv := sbt.NewServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errs := make(chan error, 1)
	srv.Handle(t, "picky", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		for _, b := range badValues {
			checkRefused(t, "DeclineWithReason "+b.name, c.DeclineWithReason(ctx, 486, "Busy"+b.value))
			checkRefused(t, "AcceptWithHeaders "+b.name, c.AcceptWithHeaders(ctx, endpoint.Header{Name: "X-Account", Value: b.value}))
		}
		for _, b := range badURIs {
			checkRefused(t, "Redirect "+b.name, c.Redirect(ctx, b.value))
		}
		errs <- c.DeclineWithReason(ctx, 486, "Busy Here")
	}))
	caller := sbt.NewPhone(t, "alice")
	_, err := caller.DialContext(ctx, srv.URI("picky"), endpoint.EstablishOptions{})
	var re *endpoint.ResponseError
	if !errors.As(err, &re) || re.Code != 486 || re.Reason != "Busy Here" {
		t.Fatalf("dial: %v, want 486 Busy Here", err)
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if raw := re.Res.String(); strings.Contains(raw, "Evil") {
		t.Errorf("injected text on the wire:\n%s", raw)
	}

	got := make(chan *sip.Request, 4)
	carol := sbt.NewPhone(t, "carol", sbt.PhoneOptions{Answer: func(ctx context.Context, c *endpoint.Call) error {
		got <- c.Request()
		return c.Accept(ctx)
	}})
	bob := sbt.NewPhone(t, "bob")
	call := caller.Dial(t, bob.URI())
	defer call.Hangup(t)
	bob.NextCall(t)
	for _, b := range badURIs {
		checkRefused(t, "Transfer "+b.name, call.Transfer(ctx, b.value, endpoint.TransferOptions{}))
	}
	for _, b := range badValues {
		checkRefused(t, "Transfer header "+b.name, call.Transfer(ctx, carol.URI(), endpoint.TransferOptions{Headers: []endpoint.Header{{Name: "X-Account", Value: b.value}}}))
	}
	select {
	case r := <-got:
		t.Fatalf("a refused transfer rang carol:\n%s", r)
	case <-time.After(200 * time.Millisecond):
	}
	if err := call.Transfer(ctx, carol.URI(), endpoint.TransferOptions{Headers: []endpoint.Header{{Name: "X-Account", Value: "42"}}}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		checkClean(t, r)
	case <-time.After(5 * time.Second):
		t.Fatal("the legitimate transfer did not ring carol")
	}
	carol.NextCall(t).Hangup(t)
}
