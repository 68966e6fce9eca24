package platform_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/platform"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestUntrustedAssertedIdentityStripped sends, from an untrusted source,
// INVITEs carrying P-Asserted-Identity in other spellings and repeated
// (RFC 3325 section 5: remove every one). None may reach the handler;
// from a trusted source they all do.
func TestUntrustedAssertedIdentityStripped(t *testing.T) {
	variants := map[string][]string{
		"exact":     {"P-Asserted-Identity: <sip:ceo@example.com>"},
		"lower":     {"p-asserted-identity: <sip:ceo@example.com>"},
		"upper":     {"P-ASSERTED-IDENTITY: <sip:ceo@example.com>"},
		"repeated":  {"P-Asserted-Identity: <sip:ceo@example.com>", "P-Asserted-Identity: <tel:+15550100>"},
		"mixed":     {"p-asserted-identity: <sip:ceo@example.com>", "P-Asserted-Identity: <tel:+15550100>", "P-ASSERTED-identity: <sip:x@y>"},
		"list form": {"P-Asserted-Identity: <sip:ceo@example.com>, <tel:+15550100>"},
	}
	for _, trusted := range []bool{false, true} {
		cfg := platform.Config{}
		if trusted {
			cfg.TrustedPeers = []string{"127.0.0.1/32"}
		}
		srv := sbt.NewServer(t, cfg)
		seen := make(chan int, 1)
		srv.Handle(t, "pai", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
			seen <- len(c.Request().GetHeaders("P-Asserted-Identity"))
			_ = c.Decline(ctx, 486)
		}))
		for name, hdrs := range variants {
			res := exchange(t, srv.Addr("udp"), request("INVITE", srv.URI("pai"), append(hdrs, "Contact: <sip:tester@127.0.0.1:5999>")...), 2*time.Second)
			select {
			case n := <-seen:
				if !trusted && n != 0 {
					t.Errorf("%s: %d P-Asserted-Identity headers from an untrusted source reached the handler", name, n)
				}
				if trusted && n != len(hdrs) {
					t.Errorf("%s: %d of %d P-Asserted-Identity headers from a trusted source reached the handler", name, n, len(hdrs))
				}
			case <-time.After(3 * time.Second):
				t.Fatalf("%s: the INVITE never reached the handler (response %q)", name, statusLine(res))
			}
		}
	}
}
