//go:build opus

package announce_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/apps"
	"github.com/switchboard-sip/switchboard/apps/announce"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/media/dsp"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestAnnouncementOverOpus (opus tag): an Opus caller hears the hello
// app's 8 kHz announcement at its pitch: the player resamples to Opus's
// 16 kHz PCM and stamps 48 kHz time, so neither the pitch nor the speed
// changes.
func TestAnnouncementOverOpus(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tone.wav")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := audio.WriteWAV(f, &audio.Clip{SampleRate: 8000, Channels: 1, Samples: dsp.Sine(8000, 1000, 2*time.Second, 0.3)}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	srv := sbt.NewServer(t)
	if _, err := announce.New(srv.Platform, announce.Config{File: path}, apps.WithCodecs("opus")); err != nil {
		t.Fatal(err)
	}
	ph := sbt.NewPhone(t, "wide", sbt.PhoneOptions{Settings: endpoint.Settings{Codecs: []string{"opus"}}})
	call := ph.Dial(t, srv.URI("hello"))
	if n := call.Negotiated().Codec; n.Name != "opus" || n.ClockRate != 48000 {
		t.Fatalf("negotiated %+v, want opus/48000", n)
	}
	call.WaitTone(t, 1000, 3*time.Second)
	rec := call.Listen(t, 500*time.Millisecond)
	if f := dsp.ToneFraction(rec, 16000, 1000); f < 0.9 {
		t.Fatalf("1 kHz in %.0f%% of 500 ms at 16 kHz", f*100)
	}
	if dsp.HasTone(rec, 16000, 2000) {
		t.Fatal("2 kHz heard: 8 kHz samples sent as 16 kHz")
	}
	if dsp.HasTone(rec, 16000, 333) || dsp.HasTone(rec, 16000, 3000) {
		t.Fatal("the tone moved: timestamps or rates mixed up between 48 kHz and 16 kHz")
	}
}
