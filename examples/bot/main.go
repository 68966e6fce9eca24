// Command bot is a runnable example of a trusted Switchboard application:
// it answers sip:bot@127.0.0.1:5070, beeps, and then places a call to the
// echo service on the caller's behalf, impersonating the caller. Run it next
// to `switchboard serve`:
//
//	go run ./examples/bot
//	sipp -sn uac 127.0.0.1:5070 -s bot -m 1
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/media/dsp"
	"github.com/switchboard-sip/switchboard/platform"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	p, err := platform.New(platform.Config{UDP: []string{"127.0.0.1:5070"}}, platform.WithLogger(log))
	if err != nil {
		log.Error("platform", "error", err)
		os.Exit(1)
	}
	bot, err := endpoint.NewApplication(p, endpoint.Settings{OwnerURI: "sip:bot@127.0.0.1", DisplayName: "Bot"})
	if err != nil {
		log.Error("endpoint", "error", err)
		os.Exit(1)
	}
	bot.HandleCalls(endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		if err := c.Accept(ctx); err != nil {
			return
		}
		// One second of 440 Hz, then call the echo service on the
		// caller's behalf: the far end sees the caller's identity.
		_ = c.Flow().Play(ctx, dsp.Sine(8000, 440, time.Second, 0.3))
		conv := bot.NewConversation()
		if err := conv.Impersonate(endpoint.Identity{URI: c.RemoteURI(), DisplayName: c.RemoteDisplayName()}); err != nil {
			log.Warn("impersonate", "error", err)
			return
		}
		out := conv.NewCall()
		octx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := out.Establish(octx, "sip:echo@127.0.0.1:5060", endpoint.EstablishOptions{}); err != nil {
			log.Warn("outgoing call", "error", err)
			return
		}
		defer out.Terminate(context.Background())
		<-ctx.Done()
	}))
	if err := p.Start(); err != nil {
		log.Error("start", "error", err)
		os.Exit(1)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	<-sig
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = p.Shutdown(ctx)
}
