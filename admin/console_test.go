package admin_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchboard-sip/switchboard/admin"
	"github.com/switchboard-sip/switchboard/endpoint"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestConsoleServedWithoutTokenAndTicketedEvents: with a token, the
// console's page and assets are served without it (they hold no data),
// under a Content-Security-Policy that allows no inline script; the API
// still wants the token; a ticket from POST /api/v1/tickets opens the
// event stream, and only it.
func TestConsoleServedWithoutTokenAndTicketedEvents(t *testing.T) {
	srv := sbt.NewServer(t)
	api, err := admin.New(admin.Config{Token: "tok"}, admin.Services{Platform: srv.Platform})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = api.Close() })
	web := httptest.NewServer(api.Handler())
	t.Cleanup(web.Close)
	get := func(path, token string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", web.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { res.Body.Close() })
		return res
	}
	for path, ctype := range map[string]string{"/": "text/html", "/console/console.js": "text/javascript", "/console/console.css": "text/css"} {
		res := get(path, "")
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), ctype) {
			t.Errorf("GET %s: %d %s, want 200 %s", path, res.StatusCode, res.Header.Get("Content-Type"), ctype)
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("GET %s: CSP %q", path, csp)
		}
	}
	if res := get("/console/nothing.js", ""); res.StatusCode != 404 {
		t.Errorf("GET /console/nothing.js: %d, want 404", res.StatusCode)
	}
	for _, path := range []string{"/console/", "/console/../api/v1/calls", "/console/%2e%2e/api/v1/calls", "/api/v1/calls", "/api/v1/events"} {
		if res := get(path, ""); res.StatusCode != 401 {
			t.Errorf("GET %s without the token: %d, want 401", path, res.StatusCode)
		}
	}
	req, _ := http.NewRequest("POST", web.URL+"/api/v1/tickets", strings.NewReader(`{"path":"/api/v1/events"}`))
	req.Header.Set("Authorization", "Bearer tok")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tk admin.Ticket
	err = json.NewDecoder(res.Body).Decode(&tk)
	res.Body.Close()
	if res.StatusCode != 201 || err != nil || tk.Path != "/api/v1/events" {
		t.Fatalf("ticket: %d %+v %v", res.StatusCode, tk, err)
	}
	if res := get("/api/v1/calls?ticket="+tk.Ticket, ""); res.StatusCode != 401 {
		t.Errorf("the events ticket opened /api/v1/calls: %d", res.StatusCode)
	}
	ev := get("/api/v1/events?ticket="+tk.Ticket, "")
	if ev.StatusCode != 200 || ev.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events with a ticket: %d %s", ev.StatusCode, ev.Header.Get("Content-Type"))
	}
	// The stream is live: an event published now arrives.
	srv.Handle(t, "answer", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		if c.Accept(ctx) == nil {
			<-ctx.Done()
		}
	}))
	sbt.NewPhone(t, "p").Dial(t, "sip:answer@"+srv.Platform.URIHost()).Hangup(t)
	line, err := bufio.NewReader(ev.Body).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "id: ") {
		t.Errorf("first line of the stream %q, %v", line, err)
	}
}
