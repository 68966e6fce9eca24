// Package announce is the announcement app: it answers, plays a recorded
// announcement and hangs up. The package embeds a default announcement
// (a 1 kHz chime followed by "Hello. This is Switchboard. Goodbye.").
//
// Like every bundled app it is built with New on a platform, which closes
// it on Shutdown or Close:
//
//	app, err := announce.New(p, announce.Config{User: "hello", File: "welcome.wav"})
//
// A bot that wants the behaviour on its own endpoint uses NewHandler:
//
//	h, err := announce.NewHandler(announce.Config{File: "welcome.wav"})
//	ep.HandleCalls(h)
package announce

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"sync"
	"time"

	"github.com/switchboard-sip/switchboard/apps"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/platform"
)

//go:embed hello.wav
var defaultAnnouncement []byte

// Config configures the announcement app.
type Config struct {
	// User is the user part the app answers, sip:<user>@host. Default
	// "hello". NewHandler ignores it.
	User string `yaml:"user"`
	// File is a WAV file (any rate, mono or stereo). Default: the embedded
	// announcement.
	File string `yaml:"file"`
	// Pause is silence played before the announcement, so that the first
	// syllable is not clipped while the caller's media starts. Default
	// 200ms.
	Pause time.Duration `yaml:"pause"`
	// Codecs lists the audio formats the app's calls accept, in order of
	// preference: any of "PCMU", "PCMA", "G722" (wideband, 16 kHz audio),
	// "opus" (wideband, in builds with the opus tag; skipped otherwise)
	// and "telephone-event" (see endpoint.Settings.Codecs). Default: PCMU,
	// PCMA, telephone-event. An unknown name is an error at start-up (and
	// in check-config).
	Codecs []string `yaml:"codecs"`
}

// Handler plays one announcement to every caller.
type Handler struct {
	pcm   []int16 // at 8 kHz
	pause time.Duration

	mu     sync.Mutex
	byRate map[int][]int16 // pcm resampled for other codec rates (G.722)
}

// App is the announcement app on a platform.
type App struct {
	*Handler
	ep *endpoint.Endpoint
}

// New loads the announcement, puts the app on p at sip:<cfg.User>@host
// and registers it with p, which closes it on Shutdown or Close. A missing
// or unreadable file is an error naming it.
func New(p *platform.Platform, cfg Config, opts ...apps.Option) (*App, error) {
	h, err := NewHandler(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.User == "" {
		cfg.User = "hello"
	}
	if len(cfg.Codecs) > 0 {
		opts = append([]apps.Option{apps.WithCodecs(cfg.Codecs...)}, opts...)
	}
	ep, err := apps.Endpoint(p, "announce", cfg.User, h, opts)
	if err != nil {
		return nil, err
	}
	a := &App{Handler: h, ep: ep}
	if err := p.Register(a); err != nil {
		return nil, fmt.Errorf("announce: %w", err)
	}
	return a, nil
}

// Endpoint returns the app's endpoint.
func (a *App) Endpoint() *endpoint.Endpoint { return a.ep }

// Close takes the app off the dial plan; calls in progress play on until
// the platform ends them. It is idempotent.
func (a *App) Close() error { return a.ep.Close() }

// NewHandler loads the announcement and converts it once to 8 kHz mono.
func NewHandler(cfg Config) (*Handler, error) {
	var (
		a   *audio.Clip
		err error
	)
	if cfg.File == "" {
		a, err = audio.ReadWAV(bytes.NewReader(defaultAnnouncement))
	} else {
		a, err = audio.OpenWAV(cfg.File)
	}
	if err != nil {
		return nil, fmt.Errorf("announce: %w", err)
	}
	pcm, err := a.Mono(8000)
	if err != nil {
		return nil, fmt.Errorf("announce: %w", err)
	}
	if cfg.Pause == 0 {
		cfg.Pause = 200 * time.Millisecond
	}
	return &Handler{pcm: pcm, pause: cfg.Pause}, nil
}

// Duration returns the announcement's length.
func (h *Handler) Duration() time.Duration {
	return time.Duration(len(h.pcm)) * time.Second / 8000
}

// ServeCall answers, plays the announcement and returns (which hangs up).
func (h *Handler) ServeCall(ctx context.Context, c *endpoint.Call) {
	if err := c.Accept(ctx); err != nil {
		return
	}
	rate := c.Flow().SampleRate()
	pcm, err := h.at(rate)
	if err != nil {
		return
	}
	silence := make([]int16, int(h.pause*time.Duration(rate)/time.Second))
	if err := c.Flow().Play(ctx, silence); err != nil {
		return
	}
	_ = c.Flow().Play(ctx, pcm)
}

// at returns the announcement at rate Hz, the sample rate of the call's
// codec, resampled once per rate.
func (h *Handler) at(rate int) ([]int16, error) {
	if rate == 8000 || rate == 0 {
		return h.pcm, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if pcm, ok := h.byRate[rate]; ok {
		return pcm, nil
	}
	pcm, err := (&audio.Clip{SampleRate: 8000, Channels: 1, Samples: h.pcm}).Mono(rate)
	if err != nil {
		return nil, fmt.Errorf("announce: at %d Hz: %w", rate, err)
	}
	if h.byRate == nil {
		h.byRate = map[int][]int16{}
	}
	h.byRate[rate] = pcm
	return pcm, nil
}
