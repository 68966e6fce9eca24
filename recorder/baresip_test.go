package recorder_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/b2b"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/media/dsp"
	"github.com/switchboard-sip/switchboard/recorder"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestStereoBaresipB2B: two baresip phones talk through a recorded
// back-to-back call, the caller in PCMU playing 300 Hz, the callee in
// PCMA playing 600 Hz. The relay transcodes; the stereo recording's left
// channel holds 300 Hz with 600 Hz at least 20 dB down, the right the
// reverse, each leg decoded with its own codec; the sidecar names the
// codecs and stops with the call when the caller hangs up. (Onset
// alignment is asserted with test phones, which can start tones at the
// same instant: baresip starts its file when its own call connects.)
func TestStereoBaresipB2B(t *testing.T) {
	callee := peers.StartBaresip(t, peers.BaresipOptions{User: "callee", AutoAnswer: true, Codecs: []string{"PCMA"},
		AudioFile: peers.WriteWAV(t, dsp.Sine(8000, 600, 60*time.Second, 0.3), 8000)})
	srv := sbt.NewServer(t)
	calls := make(chan *b2b.Call, 1)
	errs := make(chan error, 1)
	ep := srv.Handle(t, "bridge", nil)
	ep.HandleCalls(endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		b, err := b2b.New(b2b.Leg{Call: c}, b2b.Leg{Call: ep.NewConversation().NewCall(), Destination: callee.URI()}, b2b.Options{})
		if err == nil {
			err = b.Establish(ctx)
		}
		if err != nil {
			errs <- err
			return
		}
		c.HandOff()
		calls <- b
	}))
	caller := peers.StartBaresip(t, peers.BaresipOptions{User: "caller", Codecs: []string{"PCMU"},
		AudioFile: peers.WriteWAV(t, dsp.Sine(8000, 300, 60*time.Second, 0.3), 8000)})
	if err := caller.Dial(srv.URI("bridge")); err != nil {
		t.Fatal(err)
	}
	var b *b2b.Call
	select {
	case b = <-calls:
	case err := <-errs:
		t.Fatal(err)
	case <-time.After(15 * time.Second):
		t.Fatal("no b2b call")
	}
	if c1, c2 := b.Leg1().Flow().Codec().Name(), b.Leg2().Flow().Codec().Name(); c1 != "PCMU" || c2 != "PCMA" {
		t.Fatalf("legs negotiated %s and %s, want PCMU and PCMA", c1, c2)
	}
	rec, dir := newRecorder(t, recorder.Config{Layout: recorder.Stereo, Encoding: recorder.Native})
	ev := watch(rec)
	if err := rec.AddB2B(b); err != nil {
		t.Fatal(err)
	}
	if err := rec.Start(); err != nil {
		t.Fatal(err)
	}
	ev.waitVoice(t, 0, true, 10*time.Second)
	ev.waitVoice(t, 1, true, 10*time.Second)
	time.Sleep(3 * time.Second)
	if err := caller.Hangup(); err != nil {
		t.Fatal(err)
	}
	if sc := ev.waitState(t, recorder.Stopped, 10*time.Second); sc.Reason != recorder.StopSourceEnded {
		t.Errorf("stopped with %q after the hang-up", sc.Reason)
	}
	<-b.Done()
	wav := sbt.ReadRecording(t, filepath.Join(dir, rec.Files()[0]))
	info := sbt.ReadRecordingInfo(t, filepath.Join(dir, rec.Files()[1]))
	if wav.Format != 1 || len(wav.Channels) != 2 {
		t.Errorf("mixed codecs with Native: format %d (want PCM: no single law fits both), %d channels", wav.Format, len(wav.Channels))
	}
	levels(t, "left (caller, PCMU)", wav.Channel(t, 0), 300, 600)
	levels(t, "right (callee, PCMA)", wav.Channel(t, 1), 600, 300)
	chs := info.Files[0].Channels
	if len(chs) != 2 || chs[0].Codec != "PCMU" || chs[1].Codec != "PCMA" || info.StopReason != "source-ended" {
		t.Errorf("sidecar: %+v, stop %q", chs, info.StopReason)
	}
	if st := b.LastRelayStats(); st == nil || st.AtoB.Transcoded == 0 {
		t.Errorf("relay stats %+v: nothing transcoded", st)
	}
}
