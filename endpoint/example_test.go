package endpoint_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/media"
	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/media/dsp"
	"github.com/switchboard-sip/switchboard/platform"
)

// startPlatform starts a platform on a free loopback UDP port, as a test
// or an example should; a server lists its real addresses in Config.
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

// uri is the address of user on p, as another platform dials it.
func uri(p *platform.Platform, user string) string {
	return "sip:" + user + "@" + p.URIHost()
}

// loudest returns the frequency, to the nearest 10 Hz of the telephone
// band, at which pcm is loudest.
func loudest(pcm []int16) int {
	best, level := 0, 0.0
	for f := 300; f <= 3400; f += 10 {
		if l := dsp.Goertzel(pcm, 8000, float64(f)); l > level {
			best, level = f, l
		}
	}
	return best
}

// An application endpoint answers its calls and plays a beep; the call
// ends when the handler returns. A phone on another platform calls it and
// listens.
func ExampleCall_Accept() {
	server := startPlatform(platform.Config{})
	defer server.Close()
	bot, err := endpoint.NewApplication(server, endpoint.Settings{OwnerURI: "sip:beep@127.0.0.1"})
	if err != nil {
		log.Fatal(err)
	}
	defer bot.Close()
	bot.HandleCalls(endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		if err := c.Accept(ctx); err != nil {
			return
		}
		_ = c.Flow().Play(ctx, dsp.Sine(8000, 440, 500*time.Millisecond, 0.3))
	})) // returning hangs up

	phonePlatform := startPlatform(platform.Config{})
	defer phonePlatform.Close()
	phone, _ := endpoint.NewUser(phonePlatform, endpoint.Settings{OwnerURI: "sip:alice@127.0.0.1"})
	defer phone.Close()

	call := phone.NewConversation().NewCall()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := call.Establish(ctx, uri(server, "beep"), endpoint.EstablishOptions{}); err != nil {
		log.Fatal(err)
	}
	heard := make(chan []int16, 100)
	release, err := call.Flow().Receive("speaker", audio.SinkFunc(func(pcm []int16) {
		heard <- append([]int16(nil), pcm...) // the sink must not keep pcm
	}), media.AudioOptions{})
	if err != nil {
		log.Fatal(err)
	}

	<-call.Done() // the bot hangs up after the beep
	release()     // after release the sink is not called again
	close(heard)
	var pcm []int16
	for f := range heard {
		pcm = append(pcm, f...)
	}
	fmt.Printf("heard %d Hz, then %v\n", loudest(pcm), call.Reason())
	// Output:
	// heard 440 Hz, then remote hang-up
}

// A trusted application presents its calls as somebody else: the far end
// sees the impersonated identity in From and, because it trusts the
// platform the call comes from, in P-Asserted-Identity (RFC 3325). An
// untrusted far end would get P-Asserted-Identity stripped.
func ExampleConversation_Impersonate() {
	pbx := startPlatform(platform.Config{TrustedPeers: []string{"127.0.0.1"}})
	defer pbx.Close()
	desk, _ := endpoint.NewUser(pbx, endpoint.Settings{OwnerURI: "sip:bob@127.0.0.1"})
	defer desk.Close()
	seen := make(chan string, 4)
	desk.HandleCalls(endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		seen <- fmt.Sprintf("From: %q <%s>", c.RemoteDisplayName(), c.RemoteURI())
		for _, v := range c.Headers("P-Asserted-Identity") {
			seen <- "P-Asserted-Identity: " + v
		}
		close(seen)
		_ = c.Decline(ctx, 486) // busy; the identity is what this example shows
	}))

	server := startPlatform(platform.Config{})
	defer server.Close()
	bot, _ := endpoint.NewApplication(server, endpoint.Settings{OwnerURI: "sip:bot@127.0.0.1"})
	defer bot.Close()

	conv := bot.NewConversation()
	if err := conv.Impersonate(endpoint.Identity{
		URI:         "sip:alice@example.com",
		PhoneURI:    "tel:+15551234567",
		DisplayName: "Alice",
	}); err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := conv.NewCall().Establish(ctx, uri(pbx, "bob"), endpoint.EstablishOptions{})
	for line := range seen {
		fmt.Println(line)
	}
	fmt.Println(err)
	// Output:
	// From: "Alice" <sip:alice@example.com>
	// P-Asserted-Identity: "Alice" <sip:alice@example.com>
	// P-Asserted-Identity: <tel:+15551234567>
	// endpoint: remote answered 486 Busy Here
}
