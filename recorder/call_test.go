package recorder_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/media/dsp"
	"github.com/switchboard-sip/switchboard/recorder"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestCallBothDirections: an application answers a PCMA call and plays
// 1000 Hz to it while the phone sends 400 Hz; a recorder on the
// application's call records both directions, one file per track in
// A-law (Native: the call's own codec). The heard file holds the phone's
// 400 Hz, the sent file the prompt's 1000 Hz, each without the other; the
// files are named and labelled after the parties; the recording stops
// when the phone hangs up.
func TestCallBothDirections(t *testing.T) {
	sbt.CheckGoroutines(t)
	srv := sbt.NewServer(t)
	answered := make(chan *endpoint.Call, 1)
	srv.Handle(t, "prompt", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		if err := c.Accept(ctx); err != nil {
			return
		}
		answered <- c
		_ = c.Flow().Play(ctx, dsp.Sine(8000, 1000, 10*time.Second, 0.3))
		<-ctx.Done()
	}))
	phone := sbt.NewPhone(t, "pat", sbt.PhoneOptions{Settings: endpoint.Settings{Codecs: []string{"PCMA"}}})
	pc := phone.Dial(t, srv.URI("prompt"))
	pc.StartTone(400)
	call := <-answered

	rec, dir := newRecorder(t, recorder.Config{Layout: recorder.FilePerTrack, Encoding: recorder.Native})
	ev := watch(rec)
	if err := rec.AddCall(call, recorder.Both, recorder.TrackOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := rec.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	pc.Hangup(t)
	if sc := ev.waitState(t, recorder.Stopped, 5*time.Second); sc.Reason != recorder.StopSourceEnded {
		t.Errorf("stopped with %q after the hang-up", sc.Reason)
	}
	files := rec.Files()
	if len(files) != 3 || !strings.Contains(files[0], "pat") || !strings.Contains(files[1], "sent") {
		t.Fatalf("files %v", files)
	}
	heard := sbt.ReadRecording(t, filepath.Join(dir, files[0]))
	sent := sbt.ReadRecording(t, filepath.Join(dir, files[1]))
	if heard.Format != 6 || sent.Format != 6 {
		t.Errorf("formats %d and %d, want A-law (6)", heard.Format, sent.Format)
	}
	levels(t, "heard", heard.Channel(t, 0), 400, 1000)
	levels(t, "sent", sent.Channel(t, 0), 1000, 400)
	info := sbt.ReadRecordingInfo(t, filepath.Join(dir, files[2]))
	if info.CallID != call.CallID() || info.Files[0].Channels[0].Source != "heard" || info.Files[1].Channels[0].Source != "sent" ||
		!strings.Contains(info.Files[0].Channels[0].Party, "pat@") {
		t.Errorf("sidecar: %+v", info)
	}
}
