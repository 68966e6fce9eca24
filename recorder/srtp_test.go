package recorder_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/b2b"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/media/dsp"
	"github.com/switchboard-sip/switchboard/recorder"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestRecordSRTPCall: a baresip caller over SIP/TLS with SRTP
// (srtp-mand) playing 300 Hz talks through a recorded back-to-back call
// to a plain RTP baresip playing 600 Hz. The recorder sits above the
// SRTP transform: the left channel (the SRTP leg) holds 300 Hz and the
// right 600 Hz, as in a plain call.
func TestRecordSRTPCall(t *testing.T) {
	sbt.CheckGoroutines(t)
	callee := peers.StartBaresip(t, peers.BaresipOptions{User: "plaincallee", AutoAnswer: true, Codecs: []string{"PCMU"},
		AudioFile: peers.WriteWAV(t, dsp.Sine(8000, 600, 60*time.Second, 0.3), 8000)})
	srv := sbt.NewTLSServer(t, sbt.TLSOptions{})
	calls := make(chan *b2b.Call, 1)
	errs := make(chan error, 1)
	out := srv.HandleWith(t, endpoint.Settings{OwnerURI: "sip:out@127.0.0.1"}, nil)
	srv.HandleWith(t, endpoint.Settings{OwnerURI: "sip:bridge@127.0.0.1", SRTP: "required"},
		endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
			b, err := b2b.New(b2b.Leg{Call: c}, b2b.Leg{Call: out.NewConversation().NewCall(), Destination: callee.URI()}, b2b.Options{})
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
	caller := peers.StartBaresip(t, peers.BaresipOptions{User: "srtpcaller", Codecs: []string{"PCMU"},
		AudioFile:   peers.WriteWAV(t, dsp.Sine(8000, 300, 60*time.Second, 0.3), 8000),
		ExtraConfig: "module\tsrtp.so", AccountParams: ";mediaenc=srtp-mand"})
	if err := caller.Dial(srv.TLSURI("bridge")); err != nil {
		t.Fatal(err)
	}
	var b *b2b.Call
	select {
	case b = <-calls:
	case err := <-errs:
		t.Fatal(err)
	case <-time.After(15 * time.Second):
		t.Fatal("no b2b call")
	}
	if b.Leg1().Negotiated().Crypto == nil || b.Leg2().Negotiated().Crypto != nil {
		t.Fatal("want SRTP on leg 1 only")
	}
	rec, dir := newRecorder(t, recorder.Config{Layout: recorder.Stereo})
	ev := watch(rec)
	if err := rec.AddB2B(b); err != nil {
		t.Fatal(err)
	}
	if err := rec.Start(); err != nil {
		t.Fatal(err)
	}
	ev.waitVoice(t, 0, true, 10*time.Second)
	ev.waitVoice(t, 1, true, 10*time.Second)
	time.Sleep(2 * time.Second)
	if err := caller.Hangup(); err != nil {
		t.Fatal(err)
	}
	ev.waitState(t, recorder.Stopped, 10*time.Second)
	<-b.Done()
	wav := sbt.ReadRecording(t, filepath.Join(dir, rec.Files()[0]))
	levels(t, "left (SRTP caller)", wav.Channel(t, 0), 300, 600)
	levels(t, "right (RTP callee)", wav.Channel(t, 1), 600, 300)
}
