package echo_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/apps"
	"github.com/switchboard-sip/switchboard/apps/echo"
	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/media/dsp"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// soxTone writes a WAV of freq Hz at 16 kHz mono with sox (an independent
// generator), or fails the test.
func soxTone(t *testing.T, freq string, seconds string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tone.wav")
	out, err := exec.Command("sox", "-n", "-r", "16000", "-c", "1", "-b", "16", path,
		"synth", seconds, "sine", freq, "vol", "0.3").CombinedOutput()
	if err != nil {
		t.Fatalf("sox: %v: %s (install sox: apt-get install -y sox)", err, out)
	}
	return path
}

// echoCall has b call the echo at uri for three seconds and returns what b
// heard back and its rate.
func echoCall(t *testing.T, b *peers.Baresip, uri string) ([]int16, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.Dial(uri); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WaitEvent(ctx, "CALL_ESTABLISHED"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // the echo's round trip, recorded by baresip
	if err := b.Hangup(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
		t.Fatal(err)
	}
	return b.RecordingSamples(t)
}

// TestBaresipG722Echo: baresip with only its g722 module (no G.711 to fall
// back to) calls an echo configured for G722 and telephone-event, sending a
// 6 kHz tone at 16 kHz; what it receives back, recorded at 16 kHz, holds
// the tone, which G.711's 300–3400 Hz band cannot carry.
func TestBaresipG722Echo(t *testing.T) {
	srv := sbt.NewServer(t)
	if _, err := echo.New(srv.Platform, echo.Config{}, apps.WithCodecs("G722", "telephone-event")); err != nil {
		t.Fatal(err)
	}
	b := peers.StartBaresip(t, peers.BaresipOptions{User: "wide", Codecs: []string{"G722"}, AudioFile: soxTone(t, "6000", "30")})
	rec, rate := echoCall(t, b, srv.URI("echo"))
	if rate != 16000 {
		t.Fatalf("baresip recorded at %d Hz, want 16000 (G.722)", rate)
	}
	if f := dsp.ToneFraction(rec, 16000, 6000); f < 0.5 {
		t.Fatalf("6 kHz came back in %.0f%% of %d samples, want >= 50%%", f*100, len(rec))
	}
}

// TestBaresipG722Preferred: baresip offers PCMU before G722; an echo
// configured with G722 first answers with G722, and the 6 kHz tone comes
// back.
func TestBaresipG722Preferred(t *testing.T) {
	srv := sbt.NewServer(t)
	if _, err := echo.New(srv.Platform, echo.Config{}, apps.WithCodecs("G722", "PCMU", "PCMA", "telephone-event")); err != nil {
		t.Fatal(err)
	}
	b := peers.StartBaresip(t, peers.BaresipOptions{User: "both", Codecs: []string{"PCMU", "G722"}, AudioFile: soxTone(t, "6000", "30")})
	rec, rate := echoCall(t, b, srv.URI("echo"))
	if rate != 16000 {
		t.Fatalf("baresip recorded at %d Hz: G722 was not chosen", rate)
	}
	if f := dsp.ToneFraction(rec, 16000, 6000); f < 0.5 {
		t.Fatalf("6 kHz came back in %.0f%% of %d samples, want >= 50%%", f*100, len(rec))
	}
}
