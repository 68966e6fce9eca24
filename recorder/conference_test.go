package recorder_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/conference"
	"github.com/switchboard-sip/switchboard/recorder"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestConferenceTracks: three phones in a conference, each playing its
// own tone. One recorder writes the mix and one track per participant as
// channels of one file, another one file per track in the participants'
// own G.711 (Native). The mix holds all three tones; each participant's
// track holds its own tone and the others at least 20 dB down; the
// sidecar labels each channel and file with the participant's URI. A
// fourth phone joins a second into the recording: following the roster,
// the per-track recorder gives it a file of the same length, silent until
// it joined, then holding its tone.
func TestConferenceTracks(t *testing.T) {
	sbt.CheckGoroutines(t)
	srv := sbt.NewServer(t)
	svc, err := conference.New(srv.Platform, conference.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	conf, err := svc.Create("x", conference.Options{})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"ann", "bob", "cy"}
	freqs := []float64{400, 1100, 2200}
	var calls []*sbt.PhoneCall
	for i, n := range names {
		pc := sbt.NewPhone(t, n).Dial(t, conf.URI())
		calls = append(calls, pc)
		pc.StartTone(freqs[i])
	}
	t.Cleanup(func() {
		for _, pc := range calls {
			pc.Hangup(t)
		}
	})
	sbt.WaitRoster(t, conf, 3, 5*time.Second)

	multi, dir := newRecorder(t, recorder.Config{Layout: recorder.MultiChannel})
	perTrack, dir2 := newRecorder(t, recorder.Config{Layout: recorder.FilePerTrack, Encoding: recorder.Native})
	for i, rec := range []*recorder.Recorder{multi, perTrack} {
		if err := rec.AddConference(conf, recorder.ConferenceOptions{PerParticipant: true, FollowRoster: i == 1}); err != nil {
			t.Fatal(err)
		}
		if err := rec.Start(); err != nil {
			t.Fatal(err)
		}
	}
	bad, _ := newRecorder(t, recorder.Config{Layout: recorder.MultiChannel})
	if err := bad.AddConference(conf, recorder.ConferenceOptions{PerParticipant: true, FollowRoster: true}); err != nil {
		t.Fatal(err)
	}
	if err := bad.Start(); err == nil || !strings.Contains(err.Error(), "FilePerTrack") {
		t.Errorf("following the roster into one multi-channel file: %v", err)
	}
	start := time.Now()
	time.Sleep(time.Second)
	late := sbt.NewPhone(t, "dee").Dial(t, conf.URI())
	joinedAt := time.Since(start)
	late.StartTone(3000)
	t.Cleanup(func() { late.Hangup(t) })
	time.Sleep(1500 * time.Millisecond)
	for _, rec := range []*recorder.Recorder{multi, perTrack} {
		if err := rec.Stop(""); err != nil {
			t.Fatal(err)
		}
	}

	files := multi.Files()
	wav := sbt.ReadRecording(t, filepath.Join(dir, files[0]))
	info := sbt.ReadRecordingInfo(t, filepath.Join(dir, files[1]))
	if len(wav.Channels) != 4 {
		t.Fatalf("%d channels, want the mix and three participants", len(wav.Channels))
	}
	if info.ConferenceID != "x" || info.Files[0].Channels[0].Source != "mix" {
		t.Errorf("sidecar: conference %q, channel 0 %+v", info.ConferenceID, info.Files[0].Channels[0])
	}
	mixCh := wav.Channel(t, 0)
	for _, f := range freqs {
		if l := sbt.ToneLevel(mixCh, 8000, f); l < -25 {
			t.Errorf("mix: %v Hz at %.1f dB", f, l)
		}
	}
	for i, n := range names {
		ch := wav.Channel(t, i+1)
		if who := info.Whom(files[0], i+1); !strings.Contains(who, n+"@") {
			t.Errorf("channel %d is labelled %q, want %s", i+1, who, n)
		}
		for j, f := range freqs {
			if j != i {
				levels(t, n+" channel", ch, freqs[i], f)
			}
		}
	}

	pfiles := perTrack.Files()
	if len(pfiles) != 6 {
		t.Fatalf("per-track files %v, want 5 wav and a sidecar", pfiles)
	}
	lateWAV := sbt.ReadRecording(t, filepath.Join(dir2, pfiles[4]))
	ls := lateWAV.Channel(t, 0)
	at := func(d time.Duration) int { return min(int(d/(time.Second/8000)), len(ls)) }
	before, after := sbt.ToneLevel(ls[:at(joinedAt-100*time.Millisecond)], 8000, 3000), sbt.ToneLevel(ls[at(joinedAt+300*time.Millisecond):], 8000, 3000)
	t.Logf("late joiner's file %s: %v; 3000 Hz before joining %.1f dB, after %.1f dB", pfiles[4], lateWAV.Duration(), before, after)
	if before > -60 || after < -20 || !strings.Contains(pfiles[4], "dee") {
		t.Errorf("late joiner's file %s: 3000 Hz at %.1f dB before joining, %.1f dB after", pfiles[4], before, after)
	}
	pinfo := sbt.ReadRecordingInfo(t, filepath.Join(dir2, pfiles[5]))
	if len(pinfo.Files) != 5 || !strings.Contains(pinfo.Files[4].Channels[0].Party, "dee@") {
		t.Errorf("sidecar files %+v", pinfo.Files)
	}
	var length time.Duration
	for k, name := range pfiles[:5] {
		w := sbt.ReadRecording(t, filepath.Join(dir2, name))
		if k == 0 {
			// The mix is no leg: Native writes it as PCM16.
			if w.Format != 1 {
				t.Errorf("%s: format %d, want PCM (1)", name, w.Format)
			}
			length = w.Duration()
			continue
		}
		if w.Format != 7 {
			t.Errorf("%s: format %d, want µ-law (7): the participant uses PCMU", name, w.Format)
		}
		if w.Duration() != length {
			t.Errorf("%s lasts %v, the mix %v", name, w.Duration(), length)
		}
		if k == 4 {
			continue // the late joiner, above
		}
		if !strings.Contains(name, names[k-1]) {
			t.Errorf("file %s not named after %s", name, names[k-1])
		}
		levels(t, name, w.Channel(t, 0), freqs[k-1], freqs[k%3])
	}
}
