package ivr_test

import (
	"context"
	"fmt"
	"log"
	"regexp"
	"time"

	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/ivr"
	"github.com/switchboard-sip/switchboard/platform"
)

// startPlatform starts a platform on a free loopback UDP port.
func startPlatform() *platform.Platform {
	p, err := platform.New(platform.Config{UDP: []string{"127.0.0.1:0"}})
	if err != nil {
		log.Fatal(err)
	}
	if err := p.Start(); err != nil {
		log.Fatal(err)
	}
	return p
}

// A bot asks for a four-digit PIN: it plays a prompt (a key press stops
// it), collects up to six digits ("#" ends early), checks that they are
// four digits and retries once after invalid input. A phone on another
// platform keys 12# (too short), then 4321#.
func ExampleSession_Collect() {
	server, phone := startPlatform(), startPlatform()
	defer server.Close()
	defer phone.Close()
	bot, err := endpoint.NewApplication(server, endpoint.Settings{OwnerURI: "sip:pin@127.0.0.1"})
	if err != nil {
		log.Fatal(err)
	}
	done := make(chan struct{})
	bot.HandleCalls(endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		defer close(done)
		if err := c.Accept(ctx); err != nil {
			return
		}
		s := ivr.NewSession(c)
		defer s.Close()
		res, err := s.Collect(ctx, ivr.CollectOptions{
			Prompts:       []ivr.Prompt{ivr.Tone(440, 2*time.Second)},
			MaxDigits:     6,
			Pattern:       regexp.MustCompile(`[0-9]{4}`),
			Retries:       1,
			InvalidPrompt: []ivr.Prompt{ivr.Voice()["invalid"]},
		})
		fmt.Printf("PIN %q after %d attempts, terminator %q, error %v\n", res.Digits, res.Attempts, res.Terminator, err)
	}))

	ep, err := endpoint.NewApplication(phone, endpoint.Settings{OwnerURI: "sip:alice@127.0.0.1"})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	call := ep.NewConversation().NewCall()
	if err := call.Establish(ctx, "sip:pin@"+server.URIHost(), endpoint.EstablishOptions{}); err != nil {
		log.Fatal(err)
	}
	// 12# is too short: the bot plays "invalid" while 4321# is typed
	// ahead, then the prompt again, which the buffered keys stop at once.
	_ = call.SendDTMF(ctx, "12#4321#")
	<-done
	_ = call.Terminate(ctx)
	// Output:
	// PIN "4321" after 2 attempts, terminator '#', error <nil>
}
