package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-sip/switchboard/admin"
	"github.com/switchboard-sip/switchboard/apps/park"
	"github.com/switchboard-sip/switchboard/endpoint"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// badURIs are URIs an API client might send to inject a header, a tag or
// an oversized value into the SIP requests the server sends (issue 15
// item 5).
var badURIs = []struct{ name, value string }{
	{"CRLF", "sip:a@127.0.0.1;x=1\r\nX-Evil: 1"},
	{"LF", "sip:a@127.0.0.1\nX-Evil: 1"},
	{"NUL", "sip:a@127.0.0.1\x00"},
	{"folding", "sip:a@127.0.0.1\r\n X-Evil: 1"},
	{"closing bracket and tag", "sip:a@127.0.0.1>;tag=evil"},
	{"bracket in a parameter", "sip:a@127.0.0.1;x=>;tag=evil"},
	{"bracket in a URI header", "sip:a@127.0.0.1?X-Evil=>;tag=evil"},
	{"oversized", "sip:" + strings.Repeat("a", 10<<10) + "@127.0.0.1"},
	{"not a URI", "X-Evil: 1"},
}

// post sends v as JSON and returns the status code.
func post(t *testing.T, url string, v any) int {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	return res.StatusCode
}

// TestHeaderInjectionGets400 sends every bad URI to each API action whose
// parameters reach a SIP header (originate's a and b, transfer's to,
// orbit retrieval's uri, a directed park's orbit): each is answered 400
// (404 for the orbit, which is not one of the park's) and no INVITE or REFER
// leaves the server. A legitimate originate in the same test rings both
// phones with clean headers, so the phones were listening.
func TestHeaderInjectionGets400(t *testing.T) {
	sbt.CheckGoroutines(t)
	srv := sbt.NewServer(t)
	orig := srv.Handle(t, "clicktocall", nil)
	svc, err := park.New(srv.Platform, park.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	api, err := admin.New(admin.Config{}, admin.Services{Platform: srv.Platform, Originator: orig, Park: svc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = api.Close() })
	web := httptest.NewServer(api.Handler())
	t.Cleanup(web.Close)
	alice, aliceGot := listeningPhone(t, "alice")
	bob, bobGot := listeningPhone(t, "bob")

	// A live call to transfer: carol calls a sink that answers and waits.
	srv.Handle(t, "sink", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		if c.Accept(ctx) == nil {
			<-ctx.Done()
		}
	}))
	carol := sbt.NewPhone(t, "carol").Dial(t, srv.URI("sink"))
	defer carol.Hangup(t)

	for _, b := range badURIs {
		if code := post(t, web.URL+"/api/v1/calls", admin.OriginateRequest{A: b.value, B: bob.URI()}); code != http.StatusBadRequest {
			t.Errorf("originate a=%s: %d, want 400", b.name, code)
		}
		if code := post(t, web.URL+"/api/v1/calls", admin.OriginateRequest{A: alice.URI(), B: b.value}); code != http.StatusBadRequest {
			t.Errorf("originate b=%s: %d, want 400", b.name, code)
		}
		if code := post(t, web.URL+"/api/v1/calls/"+carol.CallID()+"/transfer", admin.TransferRequest{To: b.value}); code != http.StatusBadRequest {
			t.Errorf("transfer to=%s: %d, want 400", b.name, code)
		}
		if code := post(t, web.URL+"/api/v1/calls/"+carol.CallID()+"/park", admin.ParkRequest{Orbit: strings.TrimPrefix(b.value, "sip:")}); code != http.StatusNotFound {
			t.Errorf("park orbit=%s: %d, want 404", b.name, code)
		}
		if code := post(t, web.URL+"/api/v1/orbits/7000/retrieve", map[string]string{"uri": b.value}); code != http.StatusBadRequest {
			t.Errorf("retrieve uri=%s: %d, want 400", b.name, code)
		}
	}
	for _, ch := range []<-chan *sip.Request{aliceGot, bobGot} {
		select {
		case r := <-ch:
			t.Fatalf("a refused originate rang a phone:\n%s", r)
		default:
		}
	}

	if code := post(t, web.URL+"/api/v1/calls", admin.OriginateRequest{A: alice.URI(), B: bob.URI()}); code != http.StatusCreated {
		t.Fatalf("legitimate originate: %d, want 201", code)
	}
	for i, ch := range []<-chan *sip.Request{aliceGot, bobGot} {
		select {
		case r := <-ch:
			if raw := r.String(); strings.Contains(strings.ToLower(raw), "evil") {
				t.Errorf("injected text on the wire:\n%s", raw)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("phone %d was not called", i)
		}
	}
	alice.NextCall(t).Hangup(t)
	bob.NextCall(t).WaitTerminated(t, 5*time.Second)
}

// listeningPhone is a test phone that also hands the INVITE of every
// call it is offered to the test.
func listeningPhone(t *testing.T, name string) (*sbt.Phone, <-chan *sip.Request) {
	ch := make(chan *sip.Request, 16)
	p := sbt.NewPhone(t, name, sbt.PhoneOptions{Answer: func(ctx context.Context, c *endpoint.Call) error {
		ch <- c.Request()
		return c.Accept(ctx)
	}})
	return p, ch
}
