package endpoint_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/switchboard-sip/switchboard/apps/echo"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/platform"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

func TestImpersonateValidation(t *testing.T) {
	srv := sbt.NewServer(t)
	app := srv.Handle(t, "bot", nil)
	user, err := endpoint.NewUser(srv.Platform, endpoint.Settings{OwnerURI: "sip:bob@127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer user.Close()

	if err := user.NewConversation().Impersonate(endpoint.Identity{URI: "sip:x@example.com", DisplayName: "X"}); !errors.Is(err, endpoint.ErrNotApplication) {
		t.Errorf("user endpoint: err = %v, want ErrNotApplication", err)
	}
	bad := []struct{ uri, phone, name string }{
		{"sip:alice@example.com\r\nVia: evil", "", ""},
		{"sip:alice@example.com", "", "Alice\r\nX-Evil: 1"},
		{"sip:alice@example.com", "tel:+1555\n", ""},
		{"sip:alice@example.com", "", "Al\x00ice"},
		{"http://example.com", "", ""},
		{"alice@example.com", "", ""},
		{"sip:", "", ""},
		{"sip:alice@example.com", "sip:bob@example.com", ""}, // phone URI must be tel: or user=phone
		{"sip:+1555@example.com;user=phone", "tel:+1666", ""},
	}
	for _, b := range bad {
		err := app.NewConversation().Impersonate(endpoint.Identity{URI: b.uri, PhoneURI: b.phone, DisplayName: b.name})
		if err == nil {
			t.Errorf("Impersonate(%q, %q, %q) succeeded", b.uri, b.phone, b.name)
		} else if strings.ContainsAny(err.Error(), "\r\n") {
			t.Errorf("error text carries the injected line: %q", err)
		}
	}
	conv := app.NewConversation()
	if err := conv.Impersonate(endpoint.Identity{URI: "sip:alice@example.com", PhoneURI: "tel:+15551234", DisplayName: "Alice"}); err != nil {
		t.Fatal(err)
	}
	want := endpoint.Identity{URI: "sip:alice@example.com", PhoneURI: "tel:+15551234", DisplayName: "Alice"}
	if got := conv.Identity(); got != want {
		t.Fatalf("identity = %+v, want %+v", got, want)
	}
}

func TestImpersonateRefusedAfterEstablishment(t *testing.T) {
	srv := sbt.NewServer(t)
	srv.Handle(t, "echo", echo.Handler())
	phone := sbt.NewPhone(t, "alice")
	call := phone.Dial(t, srv.URI("echo"))
	defer call.Hangup(t)
	if s := call.Conversation().State(); s != endpoint.ConversationEstablished {
		t.Fatalf("conversation state = %v", s)
	}
	if err := call.Conversation().Impersonate(endpoint.Identity{URI: "sip:x@example.com"}); !errors.Is(err, endpoint.ErrImpersonateState) {
		t.Fatalf("err = %v, want ErrImpersonateState", err)
	}
}

func TestTrustedOnlyEndpoint(t *testing.T) {
	for _, trusted := range []bool{false, true} {
		cfg := platform.Config{}
		if trusted {
			cfg.TrustedPeers = []string{"127.0.0.0/8"}
		}
		srv := sbt.NewServer(t, cfg)
		srv.HandleWith(t, endpoint.Settings{OwnerURI: "sip:admin@127.0.0.1", TrustedOnly: true}, echo.Handler())
		phone := sbt.NewPhone(t, "mallory")
		pc, err := phone.DialContext(context.Background(), srv.URI("admin"), endpoint.EstablishOptions{})
		var re *endpoint.ResponseError
		switch {
		case !trusted && (!errors.As(err, &re) || re.Code != 403):
			t.Errorf("untrusted caller: err = %v, want 403", err)
		case trusted && err != nil:
			t.Errorf("trusted caller: %v", err)
		case trusted:
			pc.Hangup(t)
		}
	}
}
