package platform_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/platform"
)

// The lifetime of a platform, as of an http.Server: New validates the
// config and binds the sockets, Start serves, Shutdown drains and Close
// stops at once. Zero config fields take their documented defaults.
func ExampleNew() {
	p, err := platform.New(platform.Config{UDP: []string{"127.0.0.1:0"}, TCP: []string{"127.0.0.1:0"}})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close() // idempotent: safe after Shutdown
	if err := p.Start(); err != nil {
		log.Fatal(err)
	}

	cfg := p.Config()
	fmt.Println("host:", p.Host(), "udp:", p.Addr("udp") != nil, "tcp:", p.Addr("tcp") != nil, "tls:", p.Addr("tls") != nil)
	fmt.Println("user agent:", cfg.UserAgent, "T1:", cfg.T1, "retry after:", cfg.RetryAfter)

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	fmt.Println("shutdown:", p.Shutdown(ctx)) // no calls to drain
	// Output:
	// host: 127.0.0.1 udp: true tcp: true tls: false
	// user agent: Switchboard T1: 500ms retry after: 30s
	// shutdown: <nil>
}

// Trust is a property of where a request comes from, never of its
// headers: a source address in TrustedPeers (or a TLS client certificate
// name in TrustedCertNames). RequireTrusted turns everyone else away with
// 403. Here one platform trusts loopback and another trusts only a
// documentation network, and the same bot sends a MESSAGE to each.
func ExampleRequireTrusted() {
	bot := startPlatform(platform.Config{})
	defer bot.Close()
	sender, _ := endpoint.NewApplication(bot, endpoint.Settings{OwnerURI: "sip:bot@127.0.0.1"})
	defer sender.Close()

	for _, trusted := range []string{"127.0.0.1", "192.0.2.0/24"} {
		p := startPlatform(platform.Config{TrustedPeers: []string{trusted}})
		defer p.Close()
		admin, _ := endpoint.NewApplication(p, endpoint.Settings{OwnerURI: "sip:admin@127.0.0.1"})
		defer admin.Close()
		admin.HandleOther(platform.RequireTrusted(platform.HandlerFunc(func(r *platform.Request) {
			_ = r.Respond(200, "OK", nil)
		})))

		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := sender.SendMessage(ctx, "sip:admin@"+p.URIHost(), "text/plain", []byte("restart"))
		cancel()
		fmt.Printf("trusting %s: %v\n", trusted, err)
	}
	// Output:
	// trusting 127.0.0.1: <nil>
	// trusting 192.0.2.0/24: endpoint: remote answered 403 Forbidden
}

// startPlatform starts a platform on a free loopback UDP port.
func startPlatform(cfg platform.Config) *platform.Platform {
	cfg.UDP = []string{"127.0.0.1:0"}
	p, err := platform.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	if err := p.Start(); err != nil {
		log.Fatal(err)
	}
	return p
}
