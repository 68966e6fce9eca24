package b2b_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/b2b"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/media/dsp"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestTranscodingG722ToPCMU: baresip with only G.722 calls a bridge whose
// endpoint accepts G722 first; the bridge calls a test-kit phone that has
// PCMU and PCMA only. The relay transcodes with resampling both ways: the
// PCMU phone hears baresip's 500 Hz and baresip, at 16 kHz, hears the
// phone's 900 Hz.
func TestTranscodingG722ToPCMU(t *testing.T) { testBaresipToPCMU(t, "G722", 16000, "wide") }

// testBaresipToPCMU is a call from baresip with only codec (whose audio it
// records at rate Hz), as user, through a bridge that accepts codec
// first, to a test-kit phone with PCMU and PCMA only: each hears the
// other's tone through the relay's transcoding.
func testBaresipToPCMU(t *testing.T, codec string, rate int, user string) {
	t.Helper()
	callee := sbt.NewPhone(t, "ulaw")
	srv := sbt.NewServer(t)
	calls, errs := make(chan *b2b.Call, 1), make(chan error, 1)
	ep := srv.HandleWith(t, endpoint.Settings{OwnerURI: "sip:bridge@127.0.0.1",
		Codecs: []string{codec, "PCMU", "PCMA", "telephone-event"}}, nil)
	ep.HandleCalls(bridgeTo(ep, callee.URI(), calls, errs))
	wav := filepath.Join(t.TempDir(), "500.wav")
	if out, err := exec.Command("sox", "-n", "-r", fmt.Sprint(rate), "-c", "1", "-b", "16", wav, "synth", "60", "sine", "500", "vol", "0.3").CombinedOutput(); err != nil {
		t.Fatalf("sox: %v: %s (install sox)", err, out)
	}
	caller := peers.StartBaresip(t, peers.BaresipOptions{User: user, Codecs: []string{codec}, AudioFile: wav})
	if err := caller.Dial(srv.URI("bridge")); err != nil {
		t.Fatal(err)
	}
	var b *b2b.Call
	select {
	case b = <-calls:
	case err := <-errs:
		t.Fatalf("b2b: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("no back-to-back call")
	}
	if a, c := b.Leg1().Negotiated().Codec.Name, b.Leg2().Negotiated().Codec.Name; a != codec || c != "PCMU" {
		t.Fatalf("legs negotiated %s and %s, want %s and PCMU", a, c, codec)
	}
	pc := callee.NextCall(t)
	pc.StartTone(900)
	pc.WaitTone(t, 500, 5*time.Second)
	if f := dsp.ToneFraction(pc.Listen(t, time.Second), 8000, 500); f < 0.9 {
		t.Errorf("PCMU phone hears 500 Hz in %.0f%%", f*100)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pc.StopTone()
	pc.Hangup(t)
	if _, err := caller.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
		t.Fatalf("BYE did not reach baresip: %v", err)
	}
	rec, got := caller.RecordingSamples(t)
	if got != rate {
		t.Fatalf("baresip recorded at %d Hz, want %d", got, rate)
	}
	if f := dsp.ToneFraction(rec, rate, 900); f < 0.4 {
		t.Errorf("baresip hears 900 Hz in %.0f%% through the transcoder", f*100)
	}
	if st := b.Relay(); st != nil {
		if s := st.Stats(); s.AtoB.Transcoded == 0 || s.BtoA.Transcoded == 0 {
			t.Errorf("relay %+v: nothing transcoded", s)
		}
	}
}

// bridgeTo is a handler that bridges each call to dest through a new
// call of out, and hands the established b2b call (or the error) over.
func bridgeTo(out *endpoint.Endpoint, dest string, calls chan<- *b2b.Call, errs chan<- error) endpoint.Handler {
	return endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		b, err := b2b.New(b2b.Leg{Call: c}, b2b.Leg{Call: out.NewConversation().NewCall(), Destination: dest}, b2b.Options{})
		if err == nil {
			err = b.Establish(ctx)
		}
		if err != nil {
			errs <- err
			return
		}
		c.HandOff()
		calls <- b
	})
}
