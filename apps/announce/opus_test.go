//go:build opus

package announce_test

import (
	"testing"

	"github.com/switchboard-sip/switchboard/media/dsp"
)

// TestAnnouncementOverOpus (opus tag): an Opus caller hears the hello
// app's 8 kHz announcement at its pitch: the player resamples to Opus's
// 16 kHz PCM and stamps 48 kHz time, so neither the pitch nor the speed
// changes.
func TestAnnouncementOverOpus(t *testing.T) {
	call, rec := hearAnnouncement(t, "opus")
	if n := call.Negotiated().Codec; n.Name != "opus" || n.ClockRate != 48000 {
		t.Fatalf("negotiated %+v, want opus/48000", n)
	}
	if dsp.HasTone(rec, 16000, 333) || dsp.HasTone(rec, 16000, 3000) {
		t.Fatal("the tone moved: timestamps or rates mixed up between 48 kHz and 16 kHz")
	}
}
