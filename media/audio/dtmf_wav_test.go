package audio_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/media/codec"
	"github.com/switchboard-sip/switchboard/media/dsp"
)

// TestDTMFWAVRoundTrip writes in-band DTMF, as a call carries it through
// G.711, to a WAV file, reads it back and detects the keys: what a
// recorder and an offline analysis of its files do.
func TestDTMFWAVRoundTrip(t *testing.T) {
	const keys = "0123456789*#ABCD"
	pcm := dsp.GenerateDTMF(8000, keys, 50*time.Millisecond, 50*time.Millisecond, 0.25)
	for _, codec := range []codec.Codec{codec.PCMU(), codec.PCMA()} {
		path := filepath.Join(t.TempDir(), "dtmf.wav")
		w, err := audio.CreateWAV(path, 8000, 1)
		if err != nil {
			t.Fatal(err)
		}
		// One 20 ms frame at a time, as a recorder writes.
		for i := 0; i < len(pcm); i += 160 {
			frame := pcm[i:min(i+160, len(pcm))]
			if err := w.Write(codec.Decode(nil, codec.Encode(nil, frame))); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		a, err := audio.OpenWAV(path)
		if err != nil {
			t.Fatal(err)
		}
		if a.SampleRate != 8000 || a.Channels != 1 || len(a.Samples) != len(pcm) {
			t.Fatalf("%s: read %d Hz, %d channels, %d samples", codec.Name(), a.SampleRate, a.Channels, len(a.Samples))
		}
		d := dsp.NewDTMFDetector(a.SampleRate)
		var got []rune
		for i := 0; i < len(a.Samples); i += 160 {
			got = append(got, d.Write(a.Samples[i:min(i+160, len(a.Samples))])...)
		}
		if string(got) != keys {
			t.Errorf("%s: detected %q, want %q", codec.Name(), string(got), keys)
		}
	}
}
