package ivr_test

import (
	"context"
	"testing"
	"time"

	ivrapp "github.com/switchboard-sip/switchboard/apps/ivr"
	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/media/dsp"
)

// TestBaresipDemoMenu is issue 11's first acceptance test: baresip dials
// sip:ivr@ playing 440 Hz, hears the menu (energy in its recording),
// presses 1 (RFC 4733) and then hears its own 440 Hz echoed.
func TestBaresipDemoMenu(t *testing.T) {
	srv := startApp(t, "", ivrapp.Config{})
	bs := peers.StartBaresip(t, peers.BaresipOptions{User: "caller",
		AudioFile: peers.WriteWAV(t, dsp.Sine(8000, 440, 60*time.Second, 0.3), 8000)})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bs.Dial(srv.URI("ivr")); err != nil {
		t.Fatal(err)
	}
	if _, err := bs.WaitEvent(ctx, "CALL_ESTABLISHED"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // the menu plays
	if err := bs.SendDTMF("1"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // the echo of the caller's tone
	if err := bs.Hangup(); err != nil {
		t.Fatal(err)
	}
	if _, err := bs.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
		t.Fatal(err)
	}
	rec, rate := bs.RecordingSamples(t)
	menu := rec[:min(len(rec), 2*rate)]
	if rms := dsp.RMS(menu); rms < 0.01 {
		t.Fatalf("baresip heard no menu in its first 2 s (rms %.4f)", rms)
	}
	tail := rec[max(0, len(rec)-2*rate):] // the last 2 s, after the key
	// Speech trips a tone detector now and then (the menu measures about
	// 40 %, the invalid prompt after a wrong key as much); the echo holds
	// the tone throughout.
	t.Logf("440 Hz in %.0f%% of the menu, %.0f%% of the last 2 s", 100*dsp.ToneFraction(menu, rate, 440), 100*dsp.ToneFraction(tail, rate, 440))
	if f := dsp.ToneFraction(tail, rate, 440); f < 0.9 {
		t.Fatalf("baresip hears its own 440 Hz in %.0f%% of the last 2 s after pressing 1", f*100)
	}
}
