//go:build opus

package echo_test

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/switchboard-sip/switchboard/apps"
	"github.com/switchboard-sip/switchboard/apps/echo"
	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/media/dsp"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestBaresipOpusEcho (issue 19 acceptance, opus tag): baresip with only
// its opus module (libopus of its own, an independent encoder and
// decoder) calls an echo configured for opus and telephone-event, sending
// a 6 kHz tone at 48 kHz. The call negotiates opus/48000/2; the echo
// decodes at 16 kHz and re-encodes, and what baresip hears back holds the
// tone, which G.711's band cannot carry: the whole path (SDP, 48 kHz
// timestamps, the 16 kHz codec rate, FEC-enabled encoding) works against
// a real Opus peer.
func TestBaresipOpusEcho(t *testing.T) {
	srv := sbt.NewServer(t)
	if _, err := echo.New(srv.Platform, echo.Config{}, apps.WithCodecs("opus", "telephone-event")); err != nil {
		t.Fatal(err)
	}
	wav := filepath.Join(t.TempDir(), "6k.wav")
	if out, err := exec.Command("sox", "-n", "-r", "48000", "-c", "1", "-b", "16", wav,
		"synth", "30", "sine", "6000", "vol", "0.3").CombinedOutput(); err != nil {
		t.Fatalf("sox: %v: %s (install sox)", err, out)
	}
	b := peers.StartBaresip(t, peers.BaresipOptions{User: "webrtc", Codecs: []string{"opus"}, AudioFile: wav})
	rec, rate := echoCall(t, b, srv.URI("echo"))
	t.Logf("baresip recorded %d samples at %d Hz", len(rec), rate)
	if rate != 48000 {
		t.Fatalf("baresip recorded at %d Hz, want 48000 (opus)", rate)
	}
	if f := dsp.ToneFraction(rec, rate, 6000); f < 0.5 {
		t.Fatalf("6 kHz came back in %.0f%% of %d samples, want >= 50%%", f*100, len(rec))
	}
}
