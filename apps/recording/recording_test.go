package recording_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/apps/recording"
	"github.com/switchboard-sip/switchboard/conference"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/media/dsp"
	"github.com/switchboard-sip/switchboard/recorder"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// newApp starts the recorder app, with a conference service, on a test
// server; recordings go to a fresh directory.
func newApp(t *testing.T, cfg recording.Config) (*sbt.Server, *conference.Service, *recording.Service) {
	t.Helper()
	srv := sbt.NewServer(t)
	confs, err := conference.New(srv.Platform, conference.Config{AdHoc: true})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	svc, err := recording.New(srv.Platform, confs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srv, confs, svc
}

// waitRecordings waits until n recordings in the app's directory have
// ended (their sidecars have an end time) and returns them.
func waitRecordings(t *testing.T, svc *recording.Service, n int, within time.Duration) []recorder.Metadata {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		l, err := svc.Recordings()
		if err != nil {
			t.Fatal(err)
		}
		done := 0
		for _, md := range l {
			if !md.End.IsZero() {
				done++
			}
		}
		if done >= n {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d recordings complete after %v: %+v", done, n, within, l)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readSidecar reads the sidecar of recording md from the app's directory
// with recorder.ReadMetadata, as an application listing recordings would.
func readSidecar(t *testing.T, svc *recording.Service, md recorder.Metadata) *recorder.Metadata {
	t.Helper()
	name := strings.TrimSuffix(md.Files[0].Name, ".wav") + ".json"
	f, err := os.Open(filepath.Join(svc.Dir(), name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	side, err := recorder.ReadMetadata(f)
	if err != nil {
		t.Fatal(err)
	}
	if side.ID != md.ID {
		t.Fatalf("sidecar %s holds recording %s, want %s", name, side.ID, md.ID)
	}
	return side
}

// TestBaresipRecordsAMessage is the first acceptance test: baresip
// dials sip:record@ playing 700 Hz for 5 s and hangs up. The file holds
// the prompt's beep, then 700 Hz; its length matches the call within
// 0.2 s; the sidecar names the caller and says the caller hung up.
func TestBaresipRecordsAMessage(t *testing.T) {
	srv, _, svc := newApp(t, recording.Config{})
	bs := peers.StartBaresip(t, peers.BaresipOptions{User: "caller",
		AudioFile: peers.WriteWAV(t, dsp.Sine(8000, 700, 30*time.Second, 0.3), 8000)})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bs.Dial(srv.URI("record")); err != nil {
		t.Fatal(err)
	}
	if _, err := bs.WaitEvent(ctx, "CALL_ESTABLISHED"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	time.Sleep(5 * time.Second) // the caller's message
	if err := bs.Hangup(); err != nil {
		t.Fatal(err)
	}
	call := time.Since(start)
	if _, err := bs.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
		t.Fatal(err)
	}
	md := waitRecordings(t, svc, 1, 10*time.Second)[0]
	wav := sbt.ReadRecording(t, filepath.Join(svc.Dir(), md.Files[0].Name))
	mix := wav.Channel(t, 0)
	beep, ok := sbt.ToneOnset(mix, wav.SampleRate, recording.BeepHz, 0)
	if !ok {
		t.Fatal("no beep in the recording")
	}
	after := mix[min(len(mix), int((beep+400*time.Millisecond)*8000/time.Second)):]
	if lv := sbt.ToneLevel(after, 8000, 700); lv < -25 {
		t.Errorf("700 Hz after the beep (at %v) at %.1f dB: the caller is not in the recording", beep, lv)
	}
	if d := wav.Duration() - call; d < -200*time.Millisecond || d > 200*time.Millisecond {
		t.Errorf("recording lasts %v, the call %v: off by %v (want within 0.2 s)", wav.Duration(), call, d)
	}
	if len(md.Parties) == 0 || !strings.Contains(md.Parties[0], "caller@") {
		t.Errorf("sidecar parties %v do not name the caller", md.Parties)
	}
	if side := readSidecar(t, svc, md); side.StopReason != recording.StopHangUp {
		t.Errorf("sidecar stop reason %q, want %q", side.StopReason, recording.StopHangUp)
	}
	t.Logf("beep at %v; recording %v for a call of %v; stop %q", beep, wav.Duration(), call, md.StopReason)
}

// TestStopDigitEndsRecording: # ends the recording and the call, and the
// sidecar says why.
func TestStopDigitEndsRecording(t *testing.T) {
	srv, _, svc := newApp(t, recording.Config{})
	pc := sbt.NewPhone(t, "caller").Dial(t, srv.URI("record"))
	pc.StartTone(500)
	pc.WaitTone(t, recording.BeepHz, 10*time.Second) // the prompt reached the caller
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := pc.SendDTMF(ctx, "#"); err != nil {
		t.Fatal(err)
	}
	pc.WaitTerminated(t, 10*time.Second)
	md := waitRecordings(t, svc, 1, 10*time.Second)[0]
	if md.StopReason != "digit #" {
		t.Errorf("stop reason %q, want digit #", md.StopReason)
	}
}

// TestSeed002Literally builds seed 002 with the Go API alone: one
// application endpoint joins two calls with generated identities to one
// conference; one plays a WAV, the other is hooked to a Recorder. The
// recording holds the WAV and the caller.
func TestSeed002Literally(t *testing.T) {
	srv := sbt.NewServer(t)
	confs, err := conference.New(srv.Platform, conference.Config{})
	if err != nil {
		t.Fatal(err)
	}
	conf, _ := confs.Create("seed002", conference.Options{})
	caller := sbt.NewPhone(t, "caller").Dial(t, conf.URI())
	caller.StartTone(500)
	app := srv.Handle(t, "app", nil) // one application endpoint
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	opts := conference.JoinOptions{Trusted: true, GeneratedIdentity: true}
	player, err := conf.Join(ctx, app.NewConversation(), opts)
	if err != nil {
		t.Fatal(err)
	}
	recLeg, err := conf.Join(ctx, app.NewConversation(), opts)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rec, err := recorder.New(recorder.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.AddCall(recLeg, recorder.Heard, recorder.TrackOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := rec.Start(); err != nil {
		t.Fatal(err)
	}
	clip, err := audio.OpenWAV(peers.WriteWAV(t, dsp.Sine(8000, 1000, 2*time.Second, 0.3), 8000)) // the message
	if err != nil {
		t.Fatal(err)
	}
	message, err := clip.Mono(8000)
	if err != nil {
		t.Fatal(err)
	}
	if err := player.Flow().Play(ctx, message); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // the caller answers after the message
	if err := rec.Stop(recorder.StopRequested); err != nil {
		t.Fatal(err)
	}
	wav := sbt.ReadRecording(t, filepath.Join(dir, rec.Files()[0]))
	mix := wav.Channel(t, 0)
	if lv := sbt.ToneLevel(mix, 8000, 1000); lv < -30 {
		t.Errorf("the message (1000 Hz) at %.1f dB in the recording", lv)
	}
	if lv := sbt.ToneLevel(mix, 8000, 500); lv < -25 {
		t.Errorf("the caller (500 Hz) at %.1f dB in the recording", lv)
	}
	for _, p := range conf.PublicRoster() {
		if strings.HasPrefix(p.URI, "sip:gen-") {
			t.Errorf("a generated identity is visible to subscribers: %+v", p)
		}
	}
	caller.Hangup(t)
}

// TestConferenceBotHiddenPerParticipant is the conference
// acceptance test: three phones in conf-x, each with its own tone; the
// recording bot joins hidden (the RFC 4575 roster a SIPp subscriber
// receives does not list it; the application roster flags it trusted);
// the mix holds all three tones and each per-participant track its own
// participant's and not the others'.
func TestConferenceBotHiddenPerParticipant(t *testing.T) {
	srv, confs, svc := newApp(t, recording.Config{Conferences: recording.ConferencesConfig{PerParticipant: true}})
	tones := map[string]float64{"ann": 400, "bob": 700, "cat": 1100}
	conf, err := confs.Create("x", conference.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for name, hz := range tones {
		pc := sbt.NewPhone(t, name).Dial(t, conf.URI())
		pc.StartTone(hz)
		defer pc.Hangup(t)
	}
	sbt.WaitRoster(t, conf, 3, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rec, err := svc.RecordConference(ctx, conf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.RecordConference(ctx, conf); err == nil {
		t.Error("recording a conference twice succeeded")
	}
	roster := sbt.WaitRoster(t, conf, 4, 10*time.Second)
	hidden := 0
	for _, p := range roster {
		if p.Trusted {
			hidden++
		}
	}
	if hidden != 1 {
		t.Errorf("application roster %+v: want the bot flagged trusted", roster)
	}
	// A SIPp subscriber's full roster lists the three phones, not the bot.
	sc := `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="roster without the bot">
  <send retrans="500"><![CDATA[
SUBSCRIBE sip:conf-x@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:watcher@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:conf-x@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 SUBSCRIBE
Contact: sip:watcher@[local_ip]:[local_port]
Max-Forwards: 70
Event: conference
Expires: 60
Content-Length: 0

]]></send>
  <recv response="200"/>
  <recv request="NOTIFY">
    <action>
      <ereg regexp="sip:ann@127.0.0.1" search_in="body" check_it="true" assign_to="1"/>
      <ereg regexp="sip:bob@127.0.0.1" search_in="body" check_it="true" assign_to="2"/>
      <ereg regexp="sip:cat@127.0.0.1" search_in="body" check_it="true" assign_to="3"/>
      <ereg regexp="gen-|record@" search_in="body" check_it_inverse="true" assign_to="4"/>
    </action>
  </recv>
` + peers.ReplyOK + `  <Reference variables="1,2,3,4"/>
</scenario>`
	p := peers.StartSIPp(t, ctx, "-sf", peers.WriteScenario(t, sc), "-m", "1",
		"-p", fmt.Sprint(peers.FreeSIPPort(t)), fmt.Sprintf("127.0.0.1:%d", srv.Port()))
	if res := p.Wait(); res.ExitCode != 0 {
		t.Fatalf("SIPp subscriber: exit %d (the roster listed the bot, or a phone was missing)\n%s", res.ExitCode, res.ErrorLog)
	}
	time.Sleep(3 * time.Second) // record three seconds of the meeting
	if err := svc.StopConference("x"); err != nil {
		t.Fatal(err)
	}
	<-rec.Done()
	md := rec.Metadata()
	wav := sbt.ReadRecording(t, filepath.Join(svc.Dir(), md.Files[0].Name))
	if len(wav.Channels) != 4 {
		t.Fatalf("%d channels, want the mix and three participants", len(wav.Channels))
	}
	for hz := range tonesByHz(tones) {
		if lv := sbt.ToneLevel(wav.Channel(t, 0), 8000, hz); lv < -30 {
			t.Errorf("mix: %v Hz at %.1f dB", hz, lv)
		}
	}
	for _, ch := range md.Files[0].Channels[1:] {
		name := strings.TrimPrefix(strings.SplitN(ch.Label, "@", 2)[0], "sip:")
		own, ok := tones[name]
		if !ok {
			t.Errorf("channel %d labelled %q: not a participant", ch.Channel, ch.Label)
			continue
		}
		samples := wav.Channel(t, ch.Channel)
		ownLv := sbt.ToneLevel(samples, 8000, own)
		for other, hz := range tones {
			if other == name {
				continue
			}
			if lv := sbt.ToneLevel(samples, 8000, hz); lv > ownLv-20 {
				t.Errorf("%s's track holds %s's tone at %.1f dB (own %.1f dB)", name, other, lv, ownLv)
			}
		}
		if ownLv < -25 {
			t.Errorf("%s's track: own tone at %.1f dB", name, ownLv)
		}
	}
}

func tonesByHz(m map[string]float64) map[float64]bool {
	out := map[float64]bool{}
	for _, hz := range m {
		out[hz] = true
	}
	return out
}

// TestBadConfig: a missing directory, a prompt that is not audio and a
// bad pattern fail New with a message naming them.
func TestBadConfig(t *testing.T) {
	srv := sbt.NewServer(t)
	confs, err := conference.New(srv.Platform, conference.Config{})
	if err != nil {
		t.Fatal(err)
	}
	notAudio := filepath.Join(t.TempDir(), "notice.wav")
	if err := os.WriteFile(notAudio, []byte("not a wav file"), 0o644); err != nil {
		t.Fatal(err)
	}
	missingDir := filepath.Join(t.TempDir(), "no", "such")
	for name, tc := range map[string]struct {
		cfg  recording.Config
		want string
	}{
		"missing dir":         {recording.Config{Dir: missingDir}, missingDir},
		"prompt not audio":    {recording.Config{Dir: t.TempDir(), Notice: notAudio}, notAudio},
		"missing prompt":      {recording.Config{Dir: t.TempDir(), Beep: "/nonexistent/beep.wav"}, "/nonexistent/beep.wav"},
		"missing stop notice": {recording.Config{Dir: t.TempDir(), Conferences: recording.ConferencesConfig{StopNotice: "/nonexistent/stopped.wav"}}, "/nonexistent/stopped.wav"},
		"bad pattern":         {recording.Config{Dir: t.TempDir(), Conferences: recording.ConferencesConfig{Auto: "("}}, "conferences.auto"},
		"bad digit":           {recording.Config{Dir: t.TempDir(), StopDigit: "x"}, "stop digit"},
	} {
		if _, err := recording.New(srv.Platform, confs, tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %q", name, err, tc.want)
		}
	}
}

// toneWAV writes d of freq Hz (peak 0.3) as an 8 kHz WAV file: a prompt
// a test can tell from everything else by its spectrum.
func toneWAV(t *testing.T, freq float64, d time.Duration) string {
	t.Helper()
	return peers.WriteWAV(t, dsp.Sine(8000, freq, d, 0.3), 8000)
}

// heardLevel is the level of freq in the last 100 ms pc heard.
func heardLevel(pc *sbt.PhoneCall, freq float64) float64 {
	heard := pc.Recording()
	return sbt.ToneLevel(heard[max(0, len(heard)-800):], 8000, freq)
}

// TestAutoRecordedConferences: with conferences.auto set, a conference
// whose id matches is recorded from its creation (announced when
// Announce is set: the phone hears the notice, a configured 1900 Hz
// prompt, in full, although the bot joined a second before it), one
// that does not match is not; the recording ends with the conference,
// for that reason.
func TestAutoRecordedConferences(t *testing.T) {
	const noticeHz = 1900
	_, confs, svc := newApp(t, recording.Config{
		Notice:      toneWAV(t, noticeHz, 1500*time.Millisecond),
		Conferences: recording.ConferencesConfig{Auto: "^board-", Announce: true},
	})
	for _, id := range []string{"board-1", "lunch"} {
		conf, err := confs.Create(id, conference.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if id == "board-1" {
			sbt.WaitRoster(t, conf, 1, 10*time.Second) // the bot, alone
			// Not a wait for readiness: a notice played into the empty
			// room would now be mostly over before anyone hears it.
			time.Sleep(time.Second)
		}
		pc := sbt.NewPhone(t, "member-"+id).Dial(t, conf.URI())
		pc.Record()
		pc.StartTone(600)
		if id == "board-1" {
			pc.WaitTone(t, noticeHz, 10*time.Second) // the announcement
			if lv := heardLevel(pc, noticeHz); lv < -25 {
				t.Errorf("the notice heard at %.1f dB, want above -25 dB", lv)
			}
			pc.WaitNoTone(t, noticeHz, 5*time.Second)
			heard := pc.Recording()
			if d := time.Duration(dsp.ToneFraction(heard, 8000, noticeHz) * float64(len(heard)) / 8000 * float64(time.Second)); d < 1200*time.Millisecond {
				t.Errorf("heard %v of the 1.5 s notice: it did not wait for the member", d)
			}
			sbt.WaitRoster(t, conf, 2, 10*time.Second) // the member and the bot
		} else {
			sbt.WaitRoster(t, conf, 1, 10*time.Second)
			time.Sleep(500 * time.Millisecond) // time for a wrongly started bot to join
			if n := len(conf.Roster()); n != 1 {
				t.Errorf("conference %s: %d participants, want no bot", id, n)
			}
		}
		pc.Hangup(t)
		<-conf.Done()
	}
	l := waitRecordings(t, svc, 1, 10*time.Second)
	if len(l) != 1 || l[0].ConferenceID != "board-1" {
		t.Fatalf("recordings %+v, want one of board-1", l)
	}
	if l[0].StopReason != recording.StopConferenceEmpty {
		t.Errorf("stop reason %q, want %q", l[0].StopReason, recording.StopConferenceEmpty)
	}
	wav := sbt.ReadRecording(t, filepath.Join(svc.Dir(), l[0].Files[0].Name))
	if lv := sbt.ToneLevel(wav.Channel(t, 0), 8000, 600); lv < -30 {
		t.Errorf("the member's tone at %.1f dB in the conference recording", lv)
	}
}

// TestConferenceBotStopNotice: with Announce, a recording stopped from
// the Go API while the participants remain is announced before the bot
// leaves: the member hears the configured stop notice (2300 Hz) after
// StopConference and not before, and the notice is not in the recording.
func TestConferenceBotStopNotice(t *testing.T) {
	const noticeHz, stopHz = 1900, 2300
	_, confs, svc := newApp(t, recording.Config{
		Notice:      toneWAV(t, noticeHz, 500*time.Millisecond),
		Conferences: recording.ConferencesConfig{Announce: true, StopNotice: toneWAV(t, stopHz, time.Second)},
	})
	conf, err := confs.Create("y", conference.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pc := sbt.NewPhone(t, "member").Dial(t, conf.URI())
	defer pc.Hangup(t)
	pc.StartTone(600)
	sbt.WaitRoster(t, conf, 1, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rec, err := svc.RecordConference(ctx, conf)
	if err != nil {
		t.Fatal(err)
	}
	pc.WaitTone(t, noticeHz, 10*time.Second) // the start notice
	pc.WaitNoTone(t, noticeHz, 5*time.Second)
	if lv := sbt.ToneLevel(pc.Recording(), 8000, stopHz); lv > -45 {
		t.Fatalf("the stop notice (%d Hz) heard at %.1f dB before the stop", stopHz, lv)
	}
	pc.ResetRecording()
	if err := svc.StopConference("y"); err != nil {
		t.Fatal(err)
	}
	pc.WaitTone(t, stopHz, 10*time.Second)
	if lv := heardLevel(pc, stopHz); lv < -25 {
		t.Errorf("the stop notice heard at %.1f dB, want above -25 dB", lv)
	}
	sbt.WaitRoster(t, conf, 1, 10*time.Second) // the bot has left
	<-rec.Done()
	md := rec.Metadata()
	if md.StopReason != recorder.StopRequested {
		t.Errorf("stop reason %q, want %q", md.StopReason, recorder.StopRequested)
	}
	wav := sbt.ReadRecording(t, filepath.Join(svc.Dir(), md.Files[0].Name))
	mix := wav.Channel(t, 0)
	if lv := sbt.ToneLevel(mix, 8000, 600); lv < -30 {
		t.Errorf("the member's tone at %.1f dB in the recording", lv)
	}
	if lv := sbt.ToneLevel(mix, 8000, stopHz); lv > -45 {
		t.Errorf("the stop notice at %.1f dB in the recording, which had stopped", lv)
	}
}

// TestLimitsEndCall: the app's MaxDuration and SilenceTimeout end the
// recording and the call: the caller gets a BYE, the sidecar's stop
// reason says which limit, and the file holds what came before it.
func TestLimitsEndCall(t *testing.T) {
	t.Run("max duration", func(t *testing.T) {
		t.Parallel()
		srv, _, svc := newApp(t, recording.Config{MaxDuration: 2 * time.Second})
		pc := sbt.NewPhone(t, "caller").Dial(t, srv.URI("record"))
		pc.StartTone(500) // talks all along: only the limit ends the call
		pc.WaitTerminated(t, 15*time.Second)
		if r := pc.Reason(); r != endpoint.ReasonRemoteHangUp {
			t.Errorf("the caller's call ended with %q, want %q (a BYE from the app)", r, endpoint.ReasonRemoteHangUp)
		}
		md := waitRecordings(t, svc, 1, 10*time.Second)[0]
		if side := readSidecar(t, svc, md); side.StopReason != recorder.StopMaxDuration {
			t.Errorf("stop reason %q, want %q", side.StopReason, recorder.StopMaxDuration)
		}
		wav := sbt.ReadRecording(t, filepath.Join(svc.Dir(), md.Files[0].Name))
		if d := wav.Duration() - 2*time.Second; d < -200*time.Millisecond || d > 200*time.Millisecond {
			t.Errorf("recording lasts %v, want 2 s within 0.2 s", wav.Duration())
		}
		if lv := sbt.ToneLevel(wav.Channel(t, 0), 8000, 500); lv < -30 {
			t.Errorf("the caller (500 Hz) at %.1f dB in the recording", lv)
		}
	})
	t.Run("silence timeout", func(t *testing.T) {
		t.Parallel()
		srv, _, svc := newApp(t, recording.Config{SilenceTimeout: time.Second})
		pc := sbt.NewPhone(t, "caller").Dial(t, srv.URI("record"))
		// The caller says nothing: the call ends a second after the
		// prompts.
		pc.WaitTerminated(t, 15*time.Second)
		if r := pc.Reason(); r != endpoint.ReasonRemoteHangUp {
			t.Errorf("the caller's call ended with %q, want %q (a BYE from the app)", r, endpoint.ReasonRemoteHangUp)
		}
		md := waitRecordings(t, svc, 1, 10*time.Second)[0]
		if side := readSidecar(t, svc, md); side.StopReason != recorder.StopSilence {
			t.Errorf("stop reason %q, want %q", side.StopReason, recorder.StopSilence)
		}
		wav := sbt.ReadRecording(t, filepath.Join(svc.Dir(), md.Files[0].Name))
		mix := wav.Channel(t, 0)
		beep, ok := sbt.ToneOnset(mix, wav.SampleRate, recording.BeepHz, 0)
		if !ok {
			t.Fatal("no beep in the recording: the prompts did not count as voice")
		}
		// After the 300 ms beep, the second of silence, plus up to the
		// recorder's 300 ms latency (the file runs to the wall-clock
		// stop) and the voice detector's frames.
		if tail := wav.Duration() - beep - 300*time.Millisecond; tail < 900*time.Millisecond || tail > 2*time.Second {
			t.Errorf("recording goes on %v after the beep, want about the 1 s silence timeout", tail)
		}
	})
}

// TestConfiguredPrompts: a configured notice (900 Hz, 800 ms) and beep
// (1700 Hz, 300 ms) replace the embedded prompts: both are in the
// recording, in that order, 200 ms apart, then the caller; the embedded
// beep is not.
func TestConfiguredPrompts(t *testing.T) {
	const noticeHz, beepHz = 900, 1700
	srv, _, svc := newApp(t, recording.Config{
		Notice: toneWAV(t, noticeHz, 800*time.Millisecond),
		Beep:   toneWAV(t, beepHz, 300*time.Millisecond),
	})
	pc := sbt.NewPhone(t, "caller").Dial(t, srv.URI("record"))
	// The caller answers the beep (a tone during the prompts would leak
	// into their 10 ms onset windows).
	pc.WaitTone(t, beepHz, 10*time.Second)
	pc.WaitNoTone(t, beepHz, 5*time.Second)
	pc.StartTone(500)
	pc.Listen(t, time.Second)
	pc.Hangup(t)
	md := waitRecordings(t, svc, 1, 10*time.Second)[0]
	wav := sbt.ReadRecording(t, filepath.Join(svc.Dir(), md.Files[0].Name))
	mix := wav.Channel(t, 0)
	notice, ok := sbt.ToneOnset(mix, wav.SampleRate, noticeHz, 0)
	if !ok {
		t.Fatalf("no notice (%d Hz) in the recording", noticeHz)
	}
	beep, ok := sbt.ToneOnset(mix, wav.SampleRate, beepHz, 0)
	if !ok {
		t.Fatalf("no beep (%d Hz) in the recording", beepHz)
	}
	// The beep follows the notice's 800 ms and the 200 ms pause; on a
	// loaded machine a frame or three of the prompt leg reach the mixer
	// late, which shifts what follows by as much (seen: 60 ms).
	if gap := beep - notice; gap < 940*time.Millisecond || gap > 1200*time.Millisecond {
		t.Errorf("notice at %v, beep at %v: %v apart, want 1 s (800 ms notice, 200 ms pause)", notice, beep, gap)
	}
	if lv := sbt.ToneLevel(mix, 8000, recording.BeepHz); lv > -45 {
		t.Errorf("the embedded beep (%d Hz) at %.1f dB in the recording", recording.BeepHz, lv)
	}
	if lv := sbt.ToneLevel(mix[min(len(mix), int((beep+400*time.Millisecond)*8000/time.Second)):], 8000, 500); lv < -25 {
		t.Errorf("the caller (500 Hz) after the beep at %.1f dB", lv)
	}
}
