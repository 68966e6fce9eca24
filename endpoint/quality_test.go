package endpoint_test

import (
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/media"
	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/media/dsp"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestAudioSurvivesLossAndJitter: two test phones talk through a relay that
// drops 5 % of packets and delays each by 0–40 ms. With a jitter buffer at
// the listener, what it plays is continuous (no silent frame) and holds the
// talker's tone, and the session statistics report the loss.
func TestAudioSurvivesLossAndJitter(t *testing.T) {
	a := sbt.NewPhone(t, "talker")
	b := sbt.NewPhone(t, "listener")
	ca := a.Dial(t, b.URI())
	cb := b.NextCall(t)
	relay := sbt.NewRelay(t, sbt.RelayOptions{Loss: 0.05, Jitter: 40 * time.Millisecond, Seed: 42})
	// The listener plays out through a jitter buffer, as a phone's speaker
	// does; its recording observes what is played.
	release, err := cb.Flow().Receive("speaker", audio.SinkFunc(func([]int16) {}), media.AudioOptions{Jitter: &media.JitterConfig{Depth: 60 * time.Millisecond, Adaptive: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	relay.Attach(ca.Call, cb.Call)
	lost0 := cb.Flow().Stats().PacketsLost
	ca.StartTone(1000)
	time.Sleep(time.Second)
	cb.ResetRecording()
	time.Sleep(5 * time.Second)
	rec := cb.Recording()
	ca.Hangup(t)

	if len(rec) < 8000*45/10 {
		t.Fatalf("only %d samples played in 5 s", len(rec))
	}
	silent := 0
	for i := 0; i+160 <= len(rec); i += 160 {
		if dsp.RMS(rec[i:i+160]) < 0.003 { // about -50 dBFS
			silent++
		}
	}
	if silent > 0 {
		t.Errorf("%d silent 20 ms frames in the playout: audio not continuous", silent)
	}
	if f := dsp.ToneFraction(rec, 8000, 1000); f < 0.9 {
		t.Errorf("tone in %.0f%% of 20 ms windows, want >= 90%%", f*100)
	}
	st, js := cb.Flow().Stats(), cb.Flow().JitterStats()
	_, dropped := relay.Stats()
	lost := st.PacketsLost - lost0
	t.Logf("relay dropped %d; session lost %d of %d, jitter %v, late %d; jitter buffer %+v", dropped, lost, st.PacketsReceived, st.Jitter, st.Late, js)
	if dropped == 0 || lost == 0 {
		t.Fatal("no loss reported")
	}
	if frac := float64(lost) / float64(st.PacketsReceived+lost); frac < 0.02 || frac > 0.10 {
		t.Errorf("reported loss %.1f%%, want about 5%%", frac*100)
	}
	if st.Jitter < 5*time.Millisecond {
		t.Errorf("reported jitter %v under 0–40 ms random delay", st.Jitter)
	}
}
