package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/media/dsp"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// toneFile writes 2 s of a sine at freq as an 8 kHz WAV (a music source
// that loops) and returns its path.
func toneFile(t *testing.T, dir string, freq float64) string {
	t.Helper()
	path := filepath.Join(dir, fmt.Sprintf("%.0f.wav", freq))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := audio.WriteWAV(f, &audio.Clip{SampleRate: 8000, Channels: 1, Samples: dsp.Sine(8000, freq, 2*time.Second, 0.3)}); err != nil {
		t.Fatal(err)
	}
	return path
}

// hears fails the test unless pc hears want (in nine tenths of a second
// of audio) and not the other tones.
func hears(t *testing.T, who string, pc *sbt.PhoneCall, want float64, not ...float64) {
	t.Helper()
	pc.ResetRecording()
	pc.WaitTone(t, want, 5*time.Second)
	rec := pc.Listen(t, time.Second)
	if f := dsp.ToneFraction(rec, pc.SampleRate(), want); f < 0.9 {
		t.Errorf("%s hears %.0f Hz in %.0f%% of a second", who, want, f*100)
	}
	for _, n := range not {
		if f := dsp.ToneFraction(rec, pc.SampleRate(), n); f > 0.1 {
			t.Errorf("%s hears %.0f Hz in %.0f%% of a second, want none", who, n, f*100)
		}
	}
}

// TestSIGHUPReloadsMusicAndParkTimers runs the built binary: a SIGHUP
// that changes the music source "one" (600 → 800 Hz), adds a source "two"
// (1000 Hz) and shortens the park pickup timeout (10m → 10s) applies all
// of it without a restart and without dropping a call: the listener of
// "one" who was there keeps hearing 600 Hz, a new listener of "one" hears
// 800 Hz, "two" plays 1000 Hz; the call parked before the reload keeps
// its 10-minute timeout while one parked after it is disconnected after
// 10 s (self-park: nobody to ring back).
func TestSIGHUPReloadsMusicAndParkTimers(t *testing.T) {
	dir := t.TempDir()
	bin := buildSwitchboard(t, dir)
	port := peers.FreeSIPPort(t)
	cfgPath := filepath.Join(dir, "switchboard.yaml")
	f600, f800, f1000 := toneFile(t, dir, 600), toneFile(t, dir, 800), toneFile(t, dir, 1000)
	config := func(music, pickup string) {
		t.Helper()
		body := fmt.Sprintf(`platform:
  udp: ["127.0.0.1:%d"]
  tcp: []
  rtp_port_min: 44000
  rtp_port_max: 44999
calls:
  rtp_timeout: -1s
drain_timeout: 1s
admin:
  listen: ""
apps:
  recording: {dir: %q}
  ivr: {message_dir: %q}
  music:
    sources: %s
  park:
    pickup_timeout: %s
`, port, dir, dir, music, pickup)
		if err := os.WriteFile(cfgPath, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	config(fmt.Sprintf("{one: {file: %q}}", f600), "10m")
	cmd, logs, exited := startServe(t, bin, dir, cfgPath, port)
	uri := func(user string) string { return fmt.Sprintf("sip:%s@127.0.0.1:%d", user, port) }

	before := sbt.NewPhone(t, "before").Dial(t, uri("moh-one"))
	hears(t, "the listener of one", before, 600)
	parkedBefore := sbt.NewPhone(t, "p1").Dial(t, uri("park"))
	logs.waitLog(t, `caller parked itself`, 5*time.Second)

	config(fmt.Sprintf("{one: {file: %q}, two: {file: %q}}", f800, f1000), "10s")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	logs.waitLog(t, `config reloaded.*applied=apps.music.sources,apps.park.timers restart_needed=""`, 10*time.Second)
	logs.waitLog(t, regexp.QuoteMeta(`music sources replaced; listeners keep what they hear" opened=one,two`), time.Second)

	hears(t, "the listener of one from before the reload", before, 600, 800)
	hears(t, "a new listener of one", sbt.NewPhone(t, "after").Dial(t, uri("moh-one")), 800, 600)
	hears(t, "a listener of the new source two", sbt.NewPhone(t, "two").Dial(t, uri("moh-two")), 1000)

	start := time.Now()
	parkedAfter := sbt.NewPhone(t, "p2").Dial(t, uri("park"))
	parkedAfter.WaitTerminated(t, 20*time.Second)
	if took := time.Since(start); took < 9*time.Second || took > 15*time.Second {
		t.Errorf("the call parked after the reload ended after %v, want its 10 s pickup timeout", took)
	}
	if st := parkedBefore.State(); st.String() != "established" {
		t.Errorf("the call parked before the reload is %v, want established (its timeout is 10m)", st)
	}
	hears(t, "the listener of one from before the reload, at the end", before, 600, 800)

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("serve exited with %v\n%s", err, logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("serve did not stop after SIGTERM\n%s", logs.String())
	}
}
