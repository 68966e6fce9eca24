package recorder_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/recorder"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestStereoB2BWideband records a back-to-back call between a G.722
// phone (16 kHz audio) and a PCMU phone: the wideband leg is recorded at
// the recording's 8 kHz, both channels hold their party's tone and not
// the other's, aligned as for narrowband legs; the sidecar names G722.
// Before, Start refused the call ("only 8 kHz codecs are recorded").
func TestStereoB2BWideband(t *testing.T) {
	sbt.CheckGoroutines(t)
	r := newRig(t, rigOptions{callerCodec: "G722", calleeCodec: "PCMU", bridgeCodecs: []string{"G722", "PCMU", "PCMA", "telephone-event"}})
	if c1, c2 := r.b.Leg1().Flow().Codec().Name(), r.b.Leg2().Flow().Codec().Name(); c1 != "G722" || c2 != "PCMU" {
		t.Fatalf("legs negotiated %s and %s, want G722 and PCMU", c1, c2)
	}
	rec, dir := newRecorder(t, recorder.Config{Layout: recorder.Stereo, Name: "{call}"})
	ev := watch(rec)
	if err := rec.AddB2B(r.b); err != nil {
		t.Fatal(err)
	}
	if err := rec.Start(); err != nil {
		t.Fatal(err)
	}
	ev.waitState(t, recorder.Recording, 5*time.Second)
	r.startTones(300, 600)
	ev.waitVoice(t, 0, true, 5*time.Second)
	ev.waitVoice(t, 1, true, 5*time.Second)
	time.Sleep(2 * time.Second)
	if err := rec.Stop(""); err != nil {
		t.Fatal(err)
	}
	files := rec.Files()
	wav := sbt.ReadRecording(t, filepath.Join(dir, files[0]))
	info := sbt.ReadRecordingInfo(t, filepath.Join(dir, files[1]))
	if len(wav.Channels) != 2 || wav.SampleRate != 8000 {
		t.Fatalf("wav: %d channels, %d Hz", len(wav.Channels), wav.SampleRate)
	}
	left, right := wav.Channel(t, 0), wav.Channel(t, 1)
	levels(t, "left", left, 300, 600)
	levels(t, "right", right, 600, 300)
	ta, tb := sbt.CheckAligned(t, left, 300, right, 600, 8000, 0, 20*time.Millisecond)
	t.Logf("onsets: left %v, right %v", ta, tb)
	if chs := info.Files[0].Channels; len(chs) != 2 || chs[0].Codec != "G722" || chs[1].Codec != "PCMU" {
		t.Errorf("sidecar channels: %+v", chs)
	}
}
