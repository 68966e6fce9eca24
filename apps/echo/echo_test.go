package echo_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/apps"
	"github.com/switchboard-sip/switchboard/apps/echo"
	"github.com/switchboard-sip/switchboard/endpoint"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestEchoG722: an echo configured for G.722 only answers a wideband phone
// with G.722 and sends back a 6 kHz tone, which no G.711 path can carry; a
// G.711-only phone gets no common codec.
func TestEchoG722(t *testing.T) {
	sbt.CheckGoroutines(t)
	srv := sbt.NewServer(t)
	if _, err := echo.New(srv.Platform, echo.Config{}, apps.WithCodecs("G722", "telephone-event")); err != nil {
		t.Fatal(err)
	}
	wide := sbt.NewPhone(t, "wide", sbt.PhoneOptions{Settings: endpoint.Settings{Codecs: []string{"PCMU", "G722", "telephone-event"}}})
	call := wide.Dial(t, srv.URI("echo"))
	if n := call.Negotiated(); n.Codec.Name != "G722" || n.Codec.PayloadType != 9 || n.Codec.ClockRate != 8000 || !n.HasDTMF {
		t.Fatalf("negotiated %+v, want G722/8000 with telephone-event", n)
	}
	if r := call.SampleRate(); r != 16000 {
		t.Fatalf("call records at %d Hz, want 16000", r)
	}
	call.StartTone(6000)
	call.WaitTone(t, 6000, 5*time.Second)
	call.StopTone()
	call.Hangup(t)

	narrow := sbt.NewPhone(t, "narrow")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := narrow.DialContext(ctx, srv.URI("echo"), endpoint.EstablishOptions{})
	var re *endpoint.ResponseError
	if !errors.As(err, &re) || re.Code != 488 {
		t.Fatalf("G.711 phone to a G.722-only echo: %v, want 488", err)
	}
}

// TestEchoPrefersConfiguredOrder: an echo configured with G722 first
// chooses it from an offer that lists PCMU first; the default echo keeps
// the offerer's order.
func TestEchoPrefersConfiguredOrder(t *testing.T) {
	srv := sbt.NewServer(t)
	if _, err := echo.New(srv.Platform, echo.Config{User: "wide"}, apps.WithCodecs("G722", "PCMU", "PCMA", "telephone-event")); err != nil {
		t.Fatal(err)
	}
	if _, err := echo.New(srv.Platform, echo.Config{User: "plain"}); err != nil {
		t.Fatal(err)
	}
	ph := sbt.NewPhone(t, "both", sbt.PhoneOptions{Settings: endpoint.Settings{Codecs: []string{"PCMU", "G722", "telephone-event"}}})
	for user, want := range map[string]string{"wide": "G722", "plain": "PCMU"} {
		call := ph.Dial(t, srv.URI(user))
		if n := call.Negotiated(); n.Codec.Name != want {
			t.Errorf("echo %s chose %s, want %s", user, n.Codec.Name, want)
		}
		call.Hangup(t)
	}
}

// TestEchoConfigCodecs: the app's codecs come from its config, and an
// unknown codec is an error at start-up (which check-config reports).
func TestEchoConfigCodecs(t *testing.T) {
	srv := sbt.NewServer(t)
	if _, err := echo.New(srv.Platform, echo.Config{User: "bad", Codecs: []string{"G729"}}); err == nil {
		t.Fatal("G729 accepted")
	}
	if _, err := echo.New(srv.Platform, echo.Config{User: "wide", Codecs: []string{"G722", "telephone-event"}}); err != nil {
		t.Fatal(err)
	}
	ph := sbt.NewPhone(t, "both", sbt.PhoneOptions{Settings: endpoint.Settings{Codecs: []string{"PCMU", "G722"}}})
	call := ph.Dial(t, srv.URI("wide"))
	if n := call.Negotiated(); n.Codec.Name != "G722" {
		t.Fatalf("chose %s, want G722", n.Codec.Name)
	}
	call.Hangup(t)
}
