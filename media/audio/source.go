package audio

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/switchboard-sip/switchboard/media/dsp"
)

// ErrSourceClosed is returned by the methods of a closed Source.
var ErrSourceClosed = errors.New("audio: source closed")

// Source is a stream of interleaved PCM that a [Player] plays: a decoded
// WAV or MP3 file, a tone, silence. Sources are read from one goroutine at
// a time and are not safe for concurrent use; a Player serialises its
// calls. After Close, ReadPCM and Rewind return [ErrSourceClosed].
type Source interface {
	// ReadPCM fills dst with the next interleaved samples and returns how
	// many it stored, a multiple of Channels; a remainder of len(dst) that
	// is not a whole sample frame is left unused. At the end of the stream
	// it returns io.EOF, possibly together with the last samples.
	ReadPCM(dst []int16) (int, error)
	// SampleRate returns the rate in Hz of the samples; it never changes.
	SampleRate() int
	// Channels returns 1 (mono) or 2 (stereo, left first).
	Channels() int
	// Rewind restarts the stream at its first sample, so that the samples
	// read after Rewind continue those read before it without a gap (a
	// looping Player relies on this).
	Rewind() error
	// Close releases the source. It is idempotent.
	Close() error
}

// audioSource plays decoded PCM held in memory.
type audioSource struct {
	a      *Clip
	pos    int
	closed bool
}

// NewClipSource returns a Source that plays a, which must have one or two
// channels, a positive sample rate and at least one whole sample frame. The
// source reads a.Samples without copying them and never writes them, so
// many sources (and players) can share one decoded file; the caller must
// not modify a while a source uses it.
//
// To play a WAV file (16-bit PCM, µ-law, A-law or any format [ReadWAV]
// accepts, at any rate), decode it with [OpenWAV] or [ReadWAV], or use
// [OpenWAVSource].
func NewClipSource(a *Clip) (Source, error) {
	if a == nil {
		return nil, errors.New("audio: source: nil Clip")
	}
	if a.Channels != 1 && a.Channels != 2 {
		return nil, fmt.Errorf("audio: source: unsupported channel count %d", a.Channels)
	}
	if a.SampleRate <= 0 || a.SampleRate > resampleMaxRate {
		return nil, fmt.Errorf("audio: source: invalid sample rate %d", a.SampleRate)
	}
	if len(a.Samples) < a.Channels {
		return nil, errors.New("audio: source: no audio samples")
	}
	return &audioSource{a: a}, nil
}

// OpenWAVSource reads the WAV file at path with [OpenWAV] and returns a
// Source that plays it from memory. A corrupt, truncated or empty file
// fails here, not during playback.
func OpenWAVSource(path string) (Source, error) {
	a, err := OpenWAV(path)
	if err != nil {
		return nil, err
	}
	if len(a.Samples) == 0 {
		return nil, fmt.Errorf("audio: wav: %s: no audio samples", path)
	}
	return NewClipSource(a)
}

func (s *audioSource) ReadPCM(dst []int16) (int, error) {
	if s.closed {
		return 0, ErrSourceClosed
	}
	ch := s.a.Channels
	end := len(s.a.Samples) - len(s.a.Samples)%ch
	n := copy(dst[:len(dst)-len(dst)%ch], s.a.Samples[s.pos:end])
	s.pos += n
	if s.pos == end {
		return n, io.EOF
	}
	return n, nil
}

func (s *audioSource) SampleRate() int { return s.a.SampleRate }
func (s *audioSource) Channels() int   { return s.a.Channels }

func (s *audioSource) Rewind() error {
	if s.closed {
		return ErrSourceClosed
	}
	s.pos = 0
	return nil
}

func (s *audioSource) Close() error {
	s.closed = true
	return nil
}

// toneRate is the sample rate of generated sources: the G.711 rate, so the
// Player needs no resampling for them.
const toneRate = 8000

// genSource generates mono 8 kHz audio: a tone, or silence.
type genSource struct {
	tone   bool
	osc    dsp.Oscillator // the running oscillator of a tone
	start  dsp.Oscillator // its state at phase zero, restored by Rewind
	total  int64          // samples per pass; 0 means endless
	pos    int64
	closed bool
}

// NewToneSource returns a mono 8 kHz Source of a sine tone of freq Hz,
// which must be between 0 and 4000 exclusive. It lasts d, or forever if d
// is not positive. amplitude is the peak as a fraction of full scale (1.0
// peaks at ±32767; more clips). The arguments come in the order of
// [dsp.Sine]. Rewind restarts the tone at phase zero.
func NewToneSource(freq float64, d time.Duration, amplitude float64) (Source, error) {
	if !(freq > 0 && freq < toneRate/2) {
		return nil, fmt.Errorf("audio: source: tone frequency %g Hz outside (0, %d)", freq, toneRate/2)
	}
	if !(amplitude >= 0) {
		return nil, fmt.Errorf("audio: source: invalid tone amplitude %g", amplitude)
	}
	s := &genSource{tone: true, total: durationSamples(d)}
	s.start = *dsp.NewOscillator(toneRate, freq, amplitude)
	s.osc = s.start
	return s, nil
}

// NewSilenceSource returns a mono 8 kHz Source of silence lasting d, or
// forever if d is not positive.
func NewSilenceSource(d time.Duration) Source {
	return &genSource{total: durationSamples(d)}
}

// durationSamples converts d to a count of 8 kHz samples, at least one for
// a positive d; 0 stands for endless.
func durationSamples(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return max(int64(d/time.Second)*toneRate+int64(d%time.Second)*toneRate/int64(time.Second), 1)
}

func (s *genSource) ReadPCM(dst []int16) (int, error) {
	if s.closed {
		return 0, ErrSourceClosed
	}
	n := len(dst)
	if s.total > 0 {
		n = int(min(int64(n), s.total-s.pos))
	}
	if s.tone {
		s.osc.Read(dst[:n])
	} else {
		clear(dst[:n])
	}
	s.pos += int64(n)
	if s.total > 0 && s.pos >= s.total {
		return n, io.EOF
	}
	return n, nil
}

func (s *genSource) SampleRate() int { return toneRate }
func (s *genSource) Channels() int   { return 1 }

func (s *genSource) Rewind() error {
	if s.closed {
		return ErrSourceClosed
	}
	s.pos, s.osc = 0, s.start
	return nil
}

func (s *genSource) Close() error {
	s.closed = true
	return nil
}
