//go:build opus

package b2b_test

import (
	"context"
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

// TestTranscodingOpusToPCMU (issue 19 acceptance, opus tag): baresip with
// only Opus calls a bridge whose endpoint accepts opus first; the bridge
// calls a test-kit phone that has PCMU and PCMA only. The relay transcodes
// between the 48 kHz RTP clock of Opus (16 kHz PCM) and PCMU's 8000 Hz
// both ways: the PCMU phone hears baresip's 500 Hz and baresip, at
// 48 kHz, hears the phone's 900 Hz.
func TestTranscodingOpusToPCMU(t *testing.T) {
	callee := sbt.NewPhone(t, "ulaw")
	srv := sbt.NewServer(t)
	calls, errs := make(chan *b2b.Call, 1), make(chan error, 1)
	ep := srv.HandleWith(t, endpoint.Settings{OwnerURI: "sip:bridge@127.0.0.1",
		Codecs: []string{"opus", "PCMU", "PCMA", "telephone-event"}}, nil)
	ep.HandleCalls(endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		b, err := b2b.New(b2b.Leg{Call: c}, b2b.Leg{Call: ep.NewConversation().NewCall(), Destination: callee.URI()}, b2b.Options{})
		if err == nil {
			err = b.Establish(ctx)
		}
		if err != nil {
			errs <- err
			return
		}
		c.HandOff()
		calls <- b
	}))
	wav := filepath.Join(t.TempDir(), "500.wav")
	if out, err := exec.Command("sox", "-n", "-r", "48000", "-c", "1", "-b", "16", wav, "synth", "60", "sine", "500", "vol", "0.3").CombinedOutput(); err != nil {
		t.Fatalf("sox: %v: %s (install sox)", err, out)
	}
	caller := peers.StartBaresip(t, peers.BaresipOptions{User: "webrtc", Codecs: []string{"opus"}, AudioFile: wav})
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
	if a, c := b.Leg1().Negotiated().Codec.Name, b.Leg2().Negotiated().Codec.Name; a != "opus" || c != "PCMU" {
		t.Fatalf("legs negotiated %s and %s, want opus and PCMU", a, c)
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
	rec, rate := caller.RecordingSamples(t)
	if rate != 48000 {
		t.Fatalf("baresip recorded at %d Hz, want 48000", rate)
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
