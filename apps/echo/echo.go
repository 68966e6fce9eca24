// Package echo is the echo test app: it answers and sends every decoded
// audio frame straight back to the caller, which measures the round trip
// of a phone's audio through Switchboard.
//
// Like every bundled app it is built with New on a platform, which closes
// it on Shutdown or Close:
//
//	app, err := echo.New(p, echo.Config{User: "echo"}) // sip:echo@host
//
// A bot that wants the behaviour on its own endpoint uses Handler.
package echo

import (
	"context"
	"fmt"

	"github.com/switchboard-sip/switchboard/apps"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/media"
	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/platform"
)

// Config configures the echo app.
type Config struct {
	// User is the user part the app answers, sip:<user>@host. Default
	// "echo".
	User string `yaml:"user"`
	// Codecs lists the audio formats the app's calls accept, in order of
	// preference: any of "PCMU", "PCMA", "G722" (wideband, 16 kHz audio),
	// "opus" (wideband, in builds with the opus tag; skipped otherwise)
	// and "telephone-event" (see endpoint.Settings.Codecs). Default: PCMU,
	// PCMA, telephone-event. An unknown name is an error at start-up (and
	// in check-config).
	Codecs []string `yaml:"codecs"`
}

// App is the echo app on a platform.
type App struct {
	ep *endpoint.Endpoint
}

// New puts the echo app on p at sip:<cfg.User>@host and registers it with
// p, which closes it on Shutdown or Close.
func New(p *platform.Platform, cfg Config, opts ...apps.Option) (*App, error) {
	if cfg.User == "" {
		cfg.User = "echo"
	}
	if len(cfg.Codecs) > 0 {
		opts = append([]apps.Option{apps.WithCodecs(cfg.Codecs...)}, opts...)
	}
	ep, err := apps.Endpoint(p, "echo", cfg.User, Handler(), opts)
	if err != nil {
		return nil, err
	}
	a := &App{ep: ep}
	if err := p.Register(a); err != nil {
		return nil, fmt.Errorf("echo: %w", err)
	}
	return a, nil
}

// Endpoint returns the app's endpoint.
func (a *App) Endpoint() *endpoint.Endpoint { return a.ep }

// Close takes the app off the dial plan; calls in progress run on until
// the platform ends them. It is idempotent.
func (a *App) Close() error { return a.ep.Close() }

// Handler returns the echo handler.
func Handler() endpoint.Handler { return endpoint.HandlerFunc(Serve) }

// Serve answers c and echoes its audio until the caller hangs up.
func Serve(ctx context.Context, c *endpoint.Call) {
	if err := c.Accept(ctx); err != nil {
		return
	}
	f := c.Flow()
	// The sink runs on the session's reader goroutine: one frame in, the
	// same frame out, so echo paces itself on the caller's packets.
	release, err := f.Receive("echo", audio.SinkFunc(func(pcm []int16) { _ = f.WriteFrame(pcm) }), media.AudioOptions{})
	if err != nil {
		return
	}
	// The call runs on without this goroutine (its stack is a quarter of
	// what an echo call costs): the sink stops when the call ends.
	c.HandOff()
	context.AfterFunc(ctx, release)
}
