package recorder_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/conference"
	"github.com/switchboard-sip/switchboard/media/dsp"
	"github.com/switchboard-sip/switchboard/recorder"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestSeed002RecordingLeg: seed 002 with the package alone. A caller in a
// conference plays 700 Hz; one application endpoint joins two trusted
// legs with generated identities, one playing a 1200 Hz prompt, the other
// hooked to a Recorder (what it hears: the mix). The recording holds the
// prompt and the caller, and stops when the recording leg hangs up; the
// sidecar has the recording leg's Call-ID.
func TestSeed002RecordingLeg(t *testing.T) {
	sbt.CheckGoroutines(t)
	srv := sbt.NewServer(t)
	svc, err := conference.New(srv.Platform, conference.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	conf, err := svc.Create("seed", conference.Options{})
	if err != nil {
		t.Fatal(err)
	}
	caller := sbt.NewPhone(t, "caller").Dial(t, conf.URI())
	caller.StartTone(700)
	t.Cleanup(func() { caller.Hangup(t) })

	app := srv.Handle(t, "app", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	join := conference.JoinOptions{Trusted: true, GeneratedIdentity: true}
	player, err := conference.Join(ctx, app.NewConversation(), conf.URI(), join)
	if err != nil {
		t.Fatal(err)
	}
	recLeg, err := conference.Join(ctx, app.NewConversation(), conf.URI(), join)
	if err != nil {
		t.Fatal(err)
	}

	rec, dir := newRecorder(t, recorder.Config{})
	ev := watch(rec)
	if err := rec.AddCall(recLeg, recorder.Heard, recorder.TrackOptions{Label: "conference"}); err != nil {
		t.Fatal(err)
	}
	if err := rec.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if err := player.Flow().Play(ctx, dsp.Sine(8000, 1200, 1500*time.Millisecond, 0.3)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if err := recLeg.Terminate(ctx); err != nil {
		t.Fatal(err)
	}
	if sc := ev.waitState(t, recorder.Stopped, 5*time.Second); sc.Reason != recorder.StopSourceEnded {
		t.Errorf("stopped with %q when the recording leg hung up", sc.Reason)
	}
	_ = player.Terminate(ctx)

	wav := sbt.ReadRecording(t, filepath.Join(dir, rec.Files()[0]))
	info := sbt.ReadRecordingInfo(t, filepath.Join(dir, rec.Files()[1]))
	s := wav.Channel(t, 0)
	caller700, prompt1200 := sbt.ToneLevel(s, 8000, 700), sbt.ToneLevel(s[4000:16000], 8000, 1200)
	t.Logf("recording %v: caller 700 Hz %.1f dB, prompt 1200 Hz %.1f dB (0.5–1.5 s)", wav.Duration(), caller700, prompt1200)
	if caller700 < -20 || prompt1200 < -20 {
		t.Errorf("the recording misses the caller (%.1f dB) or the prompt (%.1f dB)", caller700, prompt1200)
	}
	if _, ok := sbt.ToneOnset(s, 8000, 1200, 0); !ok {
		t.Error("no prompt onset in the recording")
	}
	if info.CallID != recLeg.CallID() || !slices.Contains(info.Parties, recLeg.RemoteURI()) || info.Files[0].Channels[0].Label != "conference" {
		t.Errorf("sidecar: call %q (want %q), parties %v, channel %+v", info.CallID, recLeg.CallID(), info.Parties, info.Files[0].Channels[0])
	}
}
