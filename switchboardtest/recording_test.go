package switchboardtest

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/media/dsp"
)

// wavBytes builds a 16-bit PCM WAV of the interleaved samples.
func wavBytes(samples []int16, channels int) []byte {
	le := binary.LittleEndian
	data := len(samples) * 2
	b := []byte("RIFF")
	b = le.AppendUint32(b, uint32(36+data))
	b = append(b, "WAVEfmt "...)
	b = le.AppendUint32(b, 16)
	b = le.AppendUint16(b, 1)
	b = le.AppendUint16(b, uint16(channels))
	b = le.AppendUint32(b, 8000)
	b = le.AppendUint32(b, uint32(8000*2*channels))
	b = le.AppendUint16(b, uint16(2*channels))
	b = le.AppendUint16(b, 16)
	b = append(b, "data"...)
	b = le.AppendUint32(b, uint32(data))
	for _, s := range samples {
		b = le.AppendUint16(b, uint16(s))
	}
	return b
}

func concat(parts ...[]int16) []int16 {
	var out []int16
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func silence(d time.Duration) []int16 { return make([]int16, int(d/(time.Second/8000))) }

func tone(f float64, d time.Duration) []int16 { return dsp.Sine(8000, f, d, 0.3) }

// TestParseRecording: channels are split, and files a strict reader
// rejects are rejected: a header promising more than the file holds, no
// data chunk.
func TestParseRecording(t *testing.T) {
	b := wavBytes([]int16{1, 2, 3, 4, 5, 6}, 3)
	r, err := ParseRecording(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Channels) != 3 || r.Channels[0][1] != 4 || r.Channels[2][0] != 3 || r.Duration() != time.Second*2/8000 {
		t.Errorf("parsed %+v", r)
	}
	if _, err := ParseRecording(b[:len(b)-2]); err == nil {
		t.Error("a truncated file was accepted")
	}
	if _, err := ParseRecording(b[:36]); err == nil {
		t.Error("a file without data was accepted")
	}
}

// TestToneOnsetAndSwitchLag: ToneOnset finds a tone's start to within a
// few milliseconds; SwitchLag sees a channel placed 30 ms late as 30 ms
// (less the width of a clean switch interval), and a 20 ms hole at the
// switch (a lost packet) as no lag.
func TestToneOnsetAndSwitchLag(t *testing.T) {
	a := concat(tone(300, time.Second), tone(900, time.Second))
	if on, ok := ToneOnset(a, 8000, 900, 0); !ok || on < 990*time.Millisecond || on > time.Second {
		t.Errorf("onset of 900 Hz at 1 s found at %v (%v)", on, ok)
	}
	late := concat(tone(300, time.Second+30*time.Millisecond), tone(900, 970*time.Millisecond))
	holed := concat(tone(300, time.Second), silence(20*time.Millisecond), tone(900, 980*time.Millisecond))
	if lag, ok := SwitchLag(a, 300, 900, late, 300, 900, 8000, time.Second); !ok || lag < 20*time.Millisecond || lag > 32*time.Millisecond {
		t.Errorf("a channel 30 ms late: lag %v (%v)", lag, ok)
	}
	if lag, ok := SwitchLag(a, 300, 900, holed, 300, 900, 8000, time.Second); !ok || lag != 0 {
		t.Errorf("a lost packet at the switch: lag %v (%v)", lag, ok)
	}
	if lag, ok := SwitchLag(a, 300, 900, a, 300, 900, 8000, time.Second); !ok || lag != 0 {
		t.Errorf("a channel against itself: lag %v (%v)", lag, ok)
	}
	if _, ok := SwitchLag(a, 300, 900, tone(300, 2*time.Second), 300, 900, 8000, time.Second); ok {
		t.Error("a switch found in a channel without one")
	}
	if l := ToneLevel(a[:8000], 8000, 300); l < -11 || l > -10 {
		t.Errorf("a 0.3 sine measures %.1f dB", l)
	}
}

// FuzzParseRecording: no input makes the reader panic or promise more
// samples than the input holds.
func FuzzParseRecording(f *testing.F) {
	f.Add(wavBytes([]int16{1, -1, 2, -2}, 2))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVE"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRecording(b)
		if err != nil {
			return
		}
		n := 0
		for _, c := range r.Channels {
			n += len(c)
		}
		if n > len(b) {
			t.Fatalf("%d samples from %d bytes", n, len(b))
		}
	})
}
