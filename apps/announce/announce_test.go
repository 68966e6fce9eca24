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

// TestAnnouncementOverG722: a G.722 caller hears the announcement at its
// pitch: resampled to 16 kHz, not 8 kHz samples played at twice the speed.
func TestAnnouncementOverG722(t *testing.T) { hearAnnouncement(t, "G722") }

// hearAnnouncement has a caller with only codec (16 kHz audio) call the
// hello app announcing an 8 kHz 1 kHz tone, checks that it hears 1 kHz
// and not 2 kHz (8 kHz samples sent as 16 kHz), and returns its call and
// half a second of what it heard.
func hearAnnouncement(t *testing.T, codec string) (*sbt.PhoneCall, []int16) {
	t.Helper()
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
	if _, err := announce.New(srv.Platform, announce.Config{File: path}, apps.WithCodecs(codec)); err != nil {
		t.Fatal(err)
	}
	ph := sbt.NewPhone(t, "wide", sbt.PhoneOptions{Settings: endpoint.Settings{Codecs: []string{codec}}})
	call := ph.Dial(t, srv.URI("hello"))
	call.WaitTone(t, 1000, 3*time.Second)
	rec := call.Listen(t, 500*time.Millisecond)
	if f := dsp.ToneFraction(rec, 16000, 1000); f < 0.9 {
		t.Fatalf("1 kHz in %.0f%% of 500 ms at 16 kHz", f*100)
	}
	if dsp.HasTone(rec, 16000, 2000) {
		t.Fatal("2 kHz heard: 8 kHz samples sent as 16 kHz")
	}
	return call, rec
}
