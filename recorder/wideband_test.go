package recorder_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/recorder"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestStereoB2BWideband records a back-to-back call between a G.722
// phone (16 kHz audio) and a PCMU phone. In linear PCM the recording runs
// at 16 kHz: the G.722 caller's 6 kHz tone, which no 8 kHz file can hold,
// is in the left channel, the PCMU callee's 600 Hz (resampled up) in the
// right, each without the other, aligned. With G.711 files asked for, the
// recording stays at 8 kHz and the wideband leg is resampled down (its
// 3 kHz tone kept). Before, Start refused the call ("only 8 kHz codecs
// are recorded").
func TestStereoB2BWideband(t *testing.T) {
	for _, c := range []struct {
		name     string
		enc      recorder.Encoding
		rate     int
		callerHz float64
	}{
		{"linear PCM at 16 kHz", recorder.Native, 16000, 6000},
		{"mu-law at 8 kHz", recorder.PCMU, 8000, 3000},
	} {
		t.Run(c.name, func(t *testing.T) {
			sbt.CheckGoroutines(t)
			r := newRig(t, rigOptions{callerCodec: "G722", calleeCodec: "PCMU", bridgeCodecs: []string{"G722", "PCMU", "PCMA", "telephone-event"}})
			if c1, c2 := r.b.Leg1().Flow().Codec().Name(), r.b.Leg2().Flow().Codec().Name(); c1 != "G722" || c2 != "PCMU" {
				t.Fatalf("legs negotiated %s and %s, want G722 and PCMU", c1, c2)
			}
			rec, dir := newRecorder(t, recorder.Config{Layout: recorder.Stereo, Name: "{call}", Encoding: c.enc})
			ev := watch(rec)
			if err := rec.AddB2B(r.b); err != nil {
				t.Fatal(err)
			}
			if err := rec.Start(); err != nil {
				t.Fatal(err)
			}
			ev.waitState(t, recorder.Recording, 5*time.Second)
			r.startTones(c.callerHz, 600)
			ev.waitVoice(t, 0, true, 5*time.Second)
			ev.waitVoice(t, 1, true, 5*time.Second)
			time.Sleep(2 * time.Second)
			if err := rec.Stop(""); err != nil {
				t.Fatal(err)
			}
			files := rec.Files()
			wav := sbt.ReadRecording(t, filepath.Join(dir, files[0]))
			info := sbt.ReadRecordingInfo(t, filepath.Join(dir, files[1]))
			if len(wav.Channels) != 2 || wav.SampleRate != c.rate || info.SampleRate != c.rate {
				t.Fatalf("wav: %d channels, %d Hz (sidecar %d Hz); want 2 at %d Hz", len(wav.Channels), wav.SampleRate, info.SampleRate, c.rate)
			}
			left, right := wav.Channel(t, 0), wav.Channel(t, 1)
			check := func(name string, ch []int16, want, other float64) {
				lw, lo := sbt.ToneLevel(ch, c.rate, want), sbt.ToneLevel(ch, c.rate, other)
				t.Logf("%s: %v Hz %.1f dB, %v Hz %.1f dB", name, want, lw, other, lo)
				if lw < -25 || lw-lo < 20 {
					t.Errorf("%s: %v Hz at %.1f dB, %v Hz at %.1f dB", name, want, lw, other, lo)
				}
			}
			check("left", left, c.callerHz, 600)
			check("right", right, 600, c.callerHz)
			ta, tb := sbt.CheckAligned(t, left, c.callerHz, right, 600, c.rate, 0, 20*time.Millisecond)
			t.Logf("onsets: left %v, right %v", ta, tb)
			if chs := info.Files[0].Channels; len(chs) != 2 || chs[0].Codec != "G722" || chs[1].Codec != "PCMU" {
				t.Errorf("sidecar channels: %+v", chs)
			}
		})
	}
}
