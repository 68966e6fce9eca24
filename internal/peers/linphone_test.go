package peers_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/media/dsp"
)

// eventWaiter is a peer whose events a test waits for.
type eventWaiter interface {
	WaitEvent(ctx context.Context, typ string) (peers.Event, error)
	URI() string
}

// wait fails the test unless w reports an event of type typ before ctx ends.
func wait(t testing.TB, ctx context.Context, w eventWaiter, typ string) peers.Event {
	t.Helper()
	ev, err := w.WaitEvent(ctx, typ)
	if err != nil {
		t.Fatalf("%s: %v", w.URI(), err)
	}
	return ev
}

// TestLinphoneCallAudioThroughKamailio calls baresip from linphonec through
// a record-routing Kamailio and checks that each side recorded the other's
// tone and that the hang-up (an in-dialog BYE, loose-routed) reaches the
// far end.
func TestLinphoneCallAudioThroughKamailio(t *testing.T) {
	t.Parallel()
	b := peers.StartBaresip(t, peers.BaresipOptions{
		User:       "bob",
		AudioFile:  peers.WriteWAV(t, sine(440, 8000, 20), 8000),
		AutoAnswer: true,
	})
	k := peers.StartKamailio(t, peers.KamailioOptions{Backend: "127.0.0.1:" + strconv.Itoa(b.SIPPort())})
	l := peers.StartLinphone(t, peers.LinphoneOptions{User: "linda", AudioFile: peers.WriteWAV(t, sine(1000, 8000, 20), 8000)})
	rec, err := l.NewRecording()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Second)
	defer cancel()
	if err := l.Dial(k.URI("bob")); err != nil {
		t.Fatal(err)
	}
	wait(t, ctx, b, "CALL_ESTABLISHED")
	if ev := wait(t, ctx, l, "CALL_ESTABLISHED"); ev.ID != "1" {
		t.Errorf("linphone's CALL_ESTABLISHED = %+v, want call 1", ev)
	}
	time.Sleep(2 * time.Second)
	if err := l.Hangup(); err != nil {
		t.Fatal(err)
	}
	wait(t, ctx, b, "CALL_CLOSED")
	wait(t, ctx, l, "CALL_CLOSED")
	heardByL, rateL := l.RecordingSamples(t, rec)
	heardByB, rateB := b.RecordingSamples(t)
	// linphone's jitter buffer and concealment break the tone's phase now
	// and then, which a whole-file Goertzel (assertTone) punishes; count the
	// frames that carry the tone instead.
	heard := dsp.ToneFraction(heardByL, rateL, 440) * float64(len(heardByL)) / float64(rateL)
	leak := dsp.ToneFraction(heardByL, rateL, 1000)
	t.Logf("linphone heard %.1f s of baresip's 440 Hz (%.0f%% of frames with its own 1000 Hz)", heard, leak*100)
	if heard < 1.2 || leak > 0.1 {
		t.Errorf("linphone heard %.1f s of 440 Hz and %.0f%% of frames at 1000 Hz, want at least 1.2 s and under 10%%", heard, leak*100)
	}
	assertTone(t, "baresip's recording", heardByB, rateB, 1000, 440)
	trace := strings.Join(k.Trace(), "\n")
	for _, want := range []string{"INVITE sip:bob@", "200 INVITE from", "ACK ", "BYE ", "200 BYE from"} {
		if !strings.Contains(trace, want) {
			t.Errorf("Kamailio's trace has no %q:\n%s", want, trace)
		}
	}
}
