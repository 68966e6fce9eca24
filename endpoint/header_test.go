package endpoint_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/switchboard-sip/switchboard/endpoint"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestHeadersWithoutSIPPackage sets X- headers with endpoint.Header on an
// outgoing INVITE, reads them at the far end with Call.Header and
// Call.Headers, and declines with a code alone.
func TestHeadersWithoutSIPPackage(t *testing.T) {
	sbt.CheckGoroutines(t)
	srv := sbt.NewServer(t)
	type seen struct {
		account, missing string
		tags             []string
	}
	got := make(chan seen, 1)
	srv.Handle(t, "bot", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		got <- seen{account: c.Header("x-account"), missing: c.Header("X-Missing"), tags: c.Headers("X-Tag")}
		_ = c.Decline(ctx, 486)
	}))
	phone := sbt.NewPhone(t, "alice")
	_, err := phone.DialContext(context.Background(), srv.URI("bot"), endpoint.EstablishOptions{
		Headers: []endpoint.Header{{Name: "X-Account", Value: "42"}, {Name: "X-Tag", Value: "a"}, {Name: "X-Tag", Value: "b, c"}},
	})
	var re *endpoint.ResponseError
	if !errors.As(err, &re) || re.Code != 486 || re.Reason != "Busy Here" {
		t.Fatalf("err = %v, want 486 Busy Here", err)
	}
	s := <-got
	if s.account != "42" || s.missing != "" || !slices.Equal(s.tags, []string{"a", "b, c"}) {
		t.Fatalf("far end read X-Account %q, X-Missing %q, X-Tag %q", s.account, s.missing, s.tags)
	}
}

func TestDeclineWithReason(t *testing.T) {
	srv := sbt.NewServer(t)
	srv.Handle(t, "bot", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		_ = c.DeclineWithReason(ctx, 404, "Orbit Empty")
	}))
	srv.Handle(t, "odd", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		_ = c.Decline(ctx, 499)
	}))
	phone := sbt.NewPhone(t, "alice")
	for uri, want := range map[string]string{"bot": "404 Orbit Empty", "odd": "499 Declined"} {
		_, err := phone.DialContext(context.Background(), srv.URI(uri), endpoint.EstablishOptions{})
		var re *endpoint.ResponseError
		if !errors.As(err, &re) || fmt.Sprintf("%d %s", re.Code, re.Reason) != want {
			t.Errorf("%s: err = %v, want %s", uri, err, want)
		}
	}
}

func TestEstablishRefusesBadHeaders(t *testing.T) {
	srv := sbt.NewServer(t)
	phone := sbt.NewPhone(t, "alice")
	for _, h := range []endpoint.Header{
		{Name: "Call-ID", Value: "x"},
		{Name: "X-Evil", Value: "a\r\nVia: b"},
		{Name: "X-Evil: a\r\nVia", Value: "b"},
		{Name: "", Value: "b"},
	} {
		_, err := phone.DialContext(context.Background(), srv.URI("bot"), endpoint.EstablishOptions{Headers: []endpoint.Header{h}})
		var re *endpoint.ResponseError
		if err == nil || errors.As(err, &re) {
			t.Errorf("Establish with header %q: %v, want a local error", h, err)
		}
	}
}
