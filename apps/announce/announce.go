// Package announce is the announcement app: it answers, plays a recorded
// announcement and hangs up. The package embeds a default announcement
// (a 1 kHz chime followed by "Hello. This is Switchboard. Goodbye.").
//
//	h, err := announce.New(announce.Config{File: "welcome.wav"})
//	ep.HandleCalls(h)
package announce

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"time"

	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/media/audio"
)

//go:embed hello.wav
var defaultAnnouncement []byte

// Config configures the announcement app.
type Config struct {
	// File is a WAV file (any rate, mono or stereo). Default: the embedded
	// announcement.
	File string `yaml:"file"`
	// Pause is silence played before the announcement, so that the first
	// syllable is not clipped while the caller's media starts. Default
	// 200ms.
	Pause time.Duration `yaml:"pause"`
}

// Handler plays one announcement to every caller.
type Handler struct {
	pcm   []int16
	pause time.Duration
}

// New loads the announcement and converts it once to 8 kHz mono.
func New(cfg Config) (*Handler, error) {
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
	pcm, err := To8kMono(a)
	if err != nil {
		return nil, fmt.Errorf("announce: %w", err)
	}
	if cfg.Pause == 0 {
		cfg.Pause = 200 * time.Millisecond
	}
	return &Handler{pcm: pcm, pause: cfg.Pause}, nil
}

// To8kMono converts decoded audio to 8 kHz mono PCM for G.711 calls.
func To8kMono(a *audio.Clip) ([]int16, error) {
	s := a.Samples
	if a.Channels == 2 {
		s = audio.DownmixStereo(nil, s)
	} else if a.Channels != 1 {
		return nil, fmt.Errorf("%d channels not supported", a.Channels)
	}
	if a.SampleRate == 8000 {
		return s, nil
	}
	r, err := audio.NewResampler(a.SampleRate, 8000)
	if err != nil {
		return nil, err
	}
	out := r.Process(nil, s)
	return r.Flush(out), nil
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
	silence := make([]int16, int(h.pause*8000/time.Second))
	if err := c.Flow().Play(ctx, silence); err != nil {
		return
	}
	_ = c.Flow().Play(ctx, h.pcm)
}
