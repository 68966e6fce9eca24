package switchboardtest

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/media/codec"
	"github.com/switchboard-sip/switchboard/media/dsp"
)

// This file is what tests of recording applications need: read a
// recording (any channel count, 16-bit PCM or G.711) and its JSON
// sidecar, measure tones per channel, and find when a tone starts. It
// does not import package recorder (whose tests use this kit); the
// sidecar is decoded into RecordingInfo, which mirrors recorder.Metadata.

// Recording is a decoded WAV recording.
type Recording struct {
	// Path is where it was read from.
	Path string
	// Format is the WAVE format tag: 1 (PCM), 6 (A-law) or 7 (µ-law).
	Format int
	// SampleRate is in Hz.
	SampleRate int
	// Channels holds each channel's samples, 0 = left.
	Channels [][]int16
	// DataBytes is the size of the data chunk as the header gives it.
	DataBytes int
}

// Duration returns the length of the recording.
func (r *Recording) Duration() time.Duration {
	if len(r.Channels) == 0 || r.SampleRate == 0 {
		return 0
	}
	return time.Duration(len(r.Channels[0])) * time.Second / time.Duration(r.SampleRate)
}

// Channel returns channel i's samples (fails the test if there is no
// such channel).
func (r *Recording) Channel(t testing.TB, i int) []int16 {
	t.Helper()
	if i < 0 || i >= len(r.Channels) {
		t.Fatalf("%s: no channel %d (have %d)", r.Path, i, len(r.Channels))
	}
	return r.Channels[i]
}

// ReadRecording reads and decodes the WAV file at path, failing the test
// if it is not a WAV file a strict reader accepts: RIFF/WAVE, a fmt chunk
// before data, and a header that promises no more data than the file
// holds.
func ReadRecording(t testing.TB, path string) *Recording {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseRecording(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	r.Path = path
	return r
}

// ParseRecording decodes a WAV file held in b (see ReadRecording).
func ParseRecording(b []byte) (*Recording, error) {
	le := binary.LittleEndian
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, errors.New("not a RIFF/WAVE file")
	}
	if riff := int64(le.Uint32(b[4:])); riff+8 > int64(len(b)) {
		return nil, fmt.Errorf("RIFF size %d is more than the file's %d bytes", riff, len(b)-8)
	}
	r := &Recording{}
	channels, bits := 0, 0
	for p := 12; p+8 <= len(b); {
		id, size := string(b[p:p+4]), int(le.Uint32(b[p+4:]))
		body := p + 8
		if body+size > len(b) {
			return nil, fmt.Errorf("chunk %q of %d bytes runs past the end of the file", id, size)
		}
		switch id {
		case "fmt ":
			if size < 16 {
				return nil, errors.New("short fmt chunk")
			}
			r.Format = int(le.Uint16(b[body:]))
			channels = int(le.Uint16(b[body+2:]))
			r.SampleRate = int(le.Uint32(b[body+4:]))
			bits = int(le.Uint16(b[body+14:]))
		case "data":
			if channels == 0 {
				return nil, errors.New("data before fmt")
			}
			r.DataBytes = size
			return r, r.decode(b[body:body+size], channels, bits)
		}
		p = body + size + size&1
	}
	return nil, errors.New("no data chunk")
}

func (r *Recording) decode(data []byte, channels, bits int) error {
	var pcm []int16
	switch {
	case r.Format == 1 && bits == 16:
		pcm = make([]int16, len(data)/2)
		for i := range pcm {
			pcm[i] = int16(binary.LittleEndian.Uint16(data[2*i:]))
		}
	case r.Format == 7 && bits == 8:
		pcm = codec.PCMU().Decode(nil, data)
	case r.Format == 6 && bits == 8:
		pcm = codec.PCMA().Decode(nil, data)
	default:
		return fmt.Errorf("unsupported format %d with %d bits", r.Format, bits)
	}
	r.Channels = make([][]int16, channels)
	frames := len(pcm) / channels
	for ch := range r.Channels {
		c := make([]int16, frames)
		for i := range c {
			c[i] = pcm[i*channels+ch]
		}
		r.Channels[ch] = c
	}
	return nil
}

// RecordingInfo is a recording's JSON sidecar (recorder.Metadata).
type RecordingInfo struct {
	ID           string    `json:"id"`
	CallID       string    `json:"call_id"`
	ConferenceID string    `json:"conference_id"`
	Parties      []string  `json:"parties"`
	Layout       string    `json:"layout"`
	SampleRate   int       `json:"sample_rate"`
	PauseMode    string    `json:"pause_mode"`
	Start        time.Time `json:"start"`
	End          time.Time `json:"end"`
	Duration     float64   `json:"duration_seconds"`
	StopReason   string    `json:"stop_reason"`
	Error        string    `json:"error"`
	Files        []struct {
		Name     string `json:"name"`
		Encoding string `json:"encoding"`
		Channels []struct {
			Channel int    `json:"channel"`
			Label   string `json:"label"`
			Party   string `json:"party"`
			Source  string `json:"source"`
			Codec   string `json:"codec"`
		} `json:"channels"`
	} `json:"files"`
	Pauses []struct {
		Start      time.Time `json:"start"`
		End        time.Time `json:"end"`
		FileOffset float64   `json:"file_offset_seconds"`
	} `json:"pauses"`
}

// ReadRecordingInfo reads the sidecar at path (a .json file, or the
// .wav whose sidecar is wanted: <base>.json, or for a per-track file
// <base>-<n>-<label>.wav, the sidecar of its base name as listed in it).
func ReadRecordingInfo(t testing.TB, path string) *RecordingInfo {
	t.Helper()
	if !strings.HasSuffix(path, ".json") {
		path = strings.TrimSuffix(path, ".wav") + ".json"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var info RecordingInfo
	if err := json.Unmarshal(b, &info); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &info
}

// Whom returns the label of channel ch of the file named name, as the
// sidecar says.
func (ri *RecordingInfo) Whom(name string, ch int) string {
	for _, f := range ri.Files {
		if f.Name != name {
			continue
		}
		for _, c := range f.Channels {
			if c.Channel == ch {
				return c.Label
			}
		}
	}
	return ""
}

// ToneLevel returns the level of freq in samples, in dB relative to a
// full-scale sine, averaged over 100 ms blocks (dsp.Goertzel): a tone of
// peak 0.3 measures about -10 dB; its absence, far below.
func ToneLevel(samples []int16, rate int, freq float64) float64 {
	block := max(rate/10, 2)
	var sum float64
	n := 0
	for i := 0; i+block <= len(samples); i += block {
		sum += dsp.Goertzel(samples[i:i+block], rate, freq)
		n++
	}
	if n == 0 {
		return -200
	}
	return 10 * math.Log10(max(sum/float64(n), 1e-20))
}

// onsetWindow and onsetHop are the analysis window of ToneOnset and its
// step.
const (
	onsetWindow = 10 * time.Millisecond
	onsetHop    = time.Millisecond
)

// ToneOnset returns when freq first starts in samples (after from): the
// start of the first 10 ms window, at 1 ms steps, in which freq is at
// least -30 dB and is so in at least half of the windows of the next 100
// ms (packet loss leaves holes in a tone). Its error is the same for
// every channel, so onsets of different channels compare to within a
// millisecond or two.
func ToneOnset(samples []int16, rate int, freq float64, from time.Duration) (time.Duration, bool) {
	w := int(time.Duration(rate) * onsetWindow / time.Second)
	hop := max(int(time.Duration(rate)*onsetHop/time.Second), 1)
	span := int(100 * time.Millisecond / onsetHop)
	on := func(i int) bool {
		return i+w <= len(samples) && dsp.Goertzel(samples[i:i+w], rate, freq) >= 1e-3
	}
	start := int(time.Duration(rate) * from / time.Second)
	for i := start; i+w <= len(samples); i += hop {
		if !on(i) {
			continue
		}
		hits := 0
		for k := 1; k <= span; k++ {
			if on(i + k*hop) {
				hits++
			}
		}
		if 2*hits >= span {
			return time.Duration(i) * time.Second / time.Duration(rate), true
		}
	}
	return 0, false
}

// CheckAligned fails the test unless tone fa in a and tone fb in b start
// (ToneOnset, after from) within tol of each other, and returns the two
// onsets.
func CheckAligned(t testing.TB, a []int16, fa float64, b []int16, fb float64, rate int, from, tol time.Duration) (ta, tb time.Duration) {
	t.Helper()
	ta, oka := ToneOnset(a, rate, fa, from)
	tb, okb := ToneOnset(b, rate, fb, from)
	if !oka || !okb {
		t.Fatalf("tone onsets after %v: %v Hz found %v, %v Hz found %v", from, fa, oka, fb, okb)
	}
	if d := ta - tb; d > tol || d < -tol {
		t.Errorf("tone onsets %v (%v Hz) and %v (%v Hz) differ by %v, more than %v", ta, fa, tb, fb, d, tol)
	}
	return ta, tb
}

// SwitchLag measures how much later channel b switches tones than
// channel a around at (within ±300 ms): a goes from tone aOld to aNew, b
// from bOld to bNew. In each channel, at 1 ms steps, the switch lies
// between the last 10 ms window that holds only the old tone and the
// first that holds only the new one; normally a few milliseconds apart,
// further when a packet at the switch was lost (a hole carries no
// timing). The lag is the gap between the two channels' switch intervals,
// zero when they overlap: a lost packet at a switch is not counted as
// misalignment, while a channel placed late is (both its edges move). The
// second result is false when a channel has no switch there.
func SwitchLag(a []int16, aOld, aNew float64, b []int16, bOld, bNew float64, rate int, at time.Duration) (time.Duration, bool) {
	const span = 300 // ms
	w := int(time.Duration(rate) * onsetWindow / time.Second)
	step := rate / 1000
	interval := func(s []int16, old, new float64) (lo, hi int, ok bool) {
		ind := make([]int8, 2*span)
		for k := range ind {
			i := int(time.Duration(rate)*at/time.Second) + (k-span)*step
			if i < 0 || i+w > len(s) {
				continue
			}
			o := dsp.Goertzel(s[i:i+w], rate, old) >= 1e-3
			n := dsp.Goertzel(s[i:i+w], rate, new) >= 1e-3
			switch {
			case n && !o:
				ind[k] = 1
			case o && !n:
				ind[k] = -1
			}
		}
		// The first new-tone window that starts 50 ms of mostly new tone,
		// and the last old-tone window before it.
		hi = -1
		for k := range ind {
			if ind[k] != 1 {
				continue
			}
			n := 0
			for j := k; j < min(k+50, len(ind)); j++ {
				if ind[j] == 1 {
					n++
				}
			}
			if n >= 25 {
				hi = k
				break
			}
		}
		if hi < 0 {
			return 0, 0, false
		}
		lo = -1
		for k := hi - 1; k >= 0; k-- {
			if ind[k] == -1 {
				lo = k
				break
			}
		}
		return lo, hi, lo >= 0
	}
	alo, ahi, oka := interval(a, aOld, aNew)
	blo, bhi, okb := interval(b, bOld, bNew)
	if !oka || !okb {
		return 0, false
	}
	switch {
	case blo > ahi:
		return time.Duration(blo-ahi) * time.Millisecond, true
	case alo > bhi:
		return -time.Duration(alo-bhi) * time.Millisecond, true
	}
	return 0, true
}
