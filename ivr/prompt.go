package ivr

import (
	"bytes"
	"embed"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/media/dsp"
)

// Rate is the sample rate, in Hz, at which prompts are kept: the rate of
// G.711. A prompt made from audio at WideRate or more is kept at WideRate
// instead, so that a wideband (G.722) call or conference hears it
// wideband. A flow at another rate gets a resampled copy, made once per
// rate.
const Rate = 8000

// WideRate is the rate at which prompts from wideband sources are kept.
const WideRate = 16000

// Prompt is something to play to a caller: a decoded recording, a tone or
// silence, held as mono PCM at 8 kHz, or 16 kHz for a wideband source.
// Prompts are decoded once, when they are made, and are safe to share
// between calls and goroutines.
type Prompt struct {
	name string
	d    *promptData
}

type promptData struct {
	pcm    []int16 // at rate
	rate   int     // Rate or WideRate
	mu     sync.Mutex
	byRate map[int][]int16
}

// NewPrompt makes a prompt of mono PCM at rate Hz (resampled to 8 kHz, or
// to 16 kHz when rate is 16 kHz or more). The prompt keeps its own copy of
// pcm.
func NewPrompt(name string, rate int, pcm []int16) (Prompt, error) {
	return clipPrompt(name, &audio.Clip{SampleRate: rate, Channels: 1, Samples: slices.Clone(pcm)})
}

// ReadWAV decodes a WAV prompt (any rate, mono or stereo) from r.
func ReadWAV(name string, r io.Reader) (Prompt, error) {
	clip, err := audio.ReadWAV(r)
	if err != nil {
		return Prompt{}, fmt.Errorf("ivr: prompt %s: %w", name, err)
	}
	return clipPrompt(name, clip)
}

// OpenWAV decodes the WAV file at path; a missing or unreadable file is an
// error naming it.
func OpenWAV(path string) (Prompt, error) {
	clip, err := audio.OpenWAV(path)
	if err != nil {
		return Prompt{}, fmt.Errorf("ivr: prompt %s: %w", path, err)
	}
	return clipPrompt(path, clip)
}

func clipPrompt(name string, clip *audio.Clip) (Prompt, error) {
	rate := Rate
	if clip.SampleRate >= WideRate {
		rate = WideRate
	}
	pcm, err := clip.Mono(rate)
	if err != nil {
		return Prompt{}, fmt.Errorf("ivr: prompt %s: %w", name, err)
	}
	return Prompt{name: name, d: &promptData{pcm: pcm, rate: rate}}, nil
}

// Tone is a prompt of a sine tone of freq Hz lasting d, at a third of full
// scale.
func Tone(freq float64, d time.Duration) Prompt {
	return Prompt{name: fmt.Sprintf("tone %g Hz %v", freq, d), d: &promptData{pcm: dsp.Sine(Rate, freq, d, 0.3), rate: Rate}}
}

// Silence is a prompt of d of silence.
func Silence(d time.Duration) Prompt {
	return Prompt{name: "silence " + d.String(), d: &promptData{pcm: make([]int16, int(d*Rate/time.Second)), rate: Rate}}
}

// Name returns the prompt's name (its file, or a description).
func (p Prompt) Name() string { return p.name }

// Duration returns the prompt's length; 0 for the zero Prompt.
func (p Prompt) Duration() time.Duration {
	if p.d == nil {
		return 0
	}
	return time.Duration(len(p.d.pcm)) * time.Second / time.Duration(p.d.rate)
}

// PCM returns the prompt at rate Hz, resampled once per rate and cached.
// The slice is shared: the caller must not modify it.
func (p Prompt) PCM(rate int) ([]int16, error) {
	if p.d == nil {
		return nil, nil
	}
	if rate == 0 {
		rate = Rate
	}
	if rate == p.d.rate {
		return p.d.pcm, nil
	}
	p.d.mu.Lock()
	defer p.d.mu.Unlock()
	if pcm, ok := p.d.byRate[rate]; ok {
		return pcm, nil
	}
	clip := &audio.Clip{SampleRate: p.d.rate, Channels: 1, Samples: p.d.pcm}
	pcm, err := clip.Mono(rate)
	if err != nil {
		return nil, fmt.Errorf("ivr: prompt %s at %d Hz: %w", p.name, rate, err)
	}
	if p.d.byRate == nil {
		p.d.byRate = map[int][]int16{}
	}
	p.d.byRate[rate] = pcm
	return pcm, nil
}

// Set is a named set of prompts, such as a voice's words.
type Set map[string]Prompt

// Digits returns the prompts that read s out key by key ("star" for *,
// "hash" for #); keys the set has no prompt for are skipped.
func (s Set) Digits(keys string) []Prompt {
	var out []Prompt
	for _, k := range keys {
		name := string(k)
		switch k {
		case '*':
			name = "star"
		case '#':
			name = "hash"
		}
		if p, ok := s[name]; ok {
			out = append(out, p)
		}
	}
	return out
}

//go:embed prompts/*.wav
var voiceFS embed.FS

var voice = sync.OnceValue(func() Set {
	s := Set{}
	names, _ := voiceFS.ReadDir("prompts")
	for _, n := range names {
		b, _ := voiceFS.ReadFile("prompts/" + n.Name())
		p, err := ReadWAV(n.Name(), bytes.NewReader(b))
		if err != nil {
			continue // the embedded prompts are tested to decode
		}
		s[strings.TrimSuffix(n.Name(), path.Ext(n.Name()))] = p
	}
	return s
})

// Voice returns the project's shared spoken prompts (espeak-ng, see
// prompts/README.md): "0"–"9", "star", "hash", "orbit", "invalid",
// "noinput", "goodbye", "welcome", "menu", "record", "playback",
// "enter_orbit" and "beep" (300 ms of [BeepHz]). The Set is shared: do not
// modify it.
func Voice() Set { return voice() }

// BeepHz is the frequency of the voice's "beep".
const BeepHz = 1400
