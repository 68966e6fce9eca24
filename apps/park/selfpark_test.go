package park_test

import (
	"context"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/apps/park"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/media/dsp"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

const hiMusicHz = 3100

// TestSelfParkTimeoutChain: a call to the park address with neither
// Replaces nor Referred-By parks the caller itself: it hears the orbit
// announced (speech, no music), then the music. Its parker is unknown, so
// at the pickup timeout nobody is rung back: the call goes to the fallback
// URI when one is configured (the fallback phone hears the caller's tone),
// else it is disconnected; the log says why.
func TestSelfParkTimeoutChain(t *testing.T) {
	for _, withFallback := range []bool{false, true} {
		name := "disconnect"
		if withFallback {
			name = "fallback"
		}
		t.Run(name, func(t *testing.T) {
			var logs syncBuffer
			clock := &fakeClock{now: time.Unix(1e9, 0)}
			var fallback *sbt.Phone
			cfg := park.Config{PickupTimeout: 30 * time.Second}
			if withFallback {
				fallback = sbt.NewPhone(t, "operator")
				cfg.FallbackURI = fallback.URI()
			}
			// Music at a pitch the announcement's speech lacks, to tell them apart.
			r := newRig(t, cfg, park.WithClock(clock), park.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
				park.WithMusic(newMusicAt(t, hiMusicHz), ""))
			var ev eventLog
			r.svc.OnEvent(ev.add)
			caller, err := sbt.NewPhone(t, "caller").DialContext(context.Background(), r.svc.URI(), endpoint.EstablishOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer caller.Hangup(t)
			ev.waitFor(t, park.Parked)
			if l := r.svc.List(); len(l) != 1 || l[0].Parker != "" || !strings.Contains(l[0].Parked, "caller@") {
				t.Fatalf("parked %+v, want the caller with no parker", l)
			}
			// The announcement first: speech, not the music.
			rec := caller.Listen(t, 2*time.Second)
			if db := 20 * math.Log10(max(dsp.RMS(rec), 1e-10)); db < dsp.SilenceDB {
				t.Fatalf("silence (%.0f dB) instead of the announcement", db)
			}
			if f := dsp.ToneFraction(rec, 8000, hiMusicHz); f > 0.2 {
				t.Fatalf("music (%.0f%%) during the announcement", f*100)
			}
			caller.WaitTone(t, hiMusicHz, 10*time.Second)
			if !strings.Contains(logs.String(), "parker unknown") {
				t.Fatalf("the self-park is not logged with its reason:\n%s", logs.String())
			}
			caller.StartTone(950)
			clock.Advance(30 * time.Second)
			if withFallback {
				ev.waitFor(t, park.Fallback)
				op := fallback.NextCall(t)
				hears(t, op, 950, 0.7)
				op.Hangup(t)
			} else {
				ev.waitFor(t, park.Disconnected)
				caller.WaitTerminated(t, 5*time.Second)
			}
			ev.mu.Lock()
			defer ev.mu.Unlock()
			for _, e := range ev.ev {
				if e == park.RingBack {
					t.Fatal("rang back an unknown parker")
				}
			}
		})
	}
}
