//go:build opus

package endpoint_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/media"
	"github.com/switchboard-sip/switchboard/media/dsp"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestOpusCall (opus tag): two endpoints configured with codecs: [opus,
// PCMU, telephone-event] negotiate opus/48000/2 on the offerer's payload
// type, with telephone-event at Opus's 48 kHz clock (RFC 4733 section
// 2.1); a 6 kHz tone (wideband: G.711 cannot carry it) crosses the call
// both ways at 16 kHz, and an RFC 4733 key press is received as one key.
func TestOpusCall(t *testing.T) {
	set := endpoint.Settings{Codecs: []string{"opus", "PCMU", "telephone-event"}}
	alice := sbt.NewPhone(t, "alice", sbt.PhoneOptions{Settings: set})
	bob := sbt.NewPhone(t, "bob", sbt.PhoneOptions{Settings: set})
	a := alice.Dial(t, bob.URI())
	b := bob.NextCall(t)
	for _, pc := range []*sbt.PhoneCall{a, b} {
		n := pc.Negotiated()
		if n.Codec.Name != "opus" || n.Codec.PayloadType != 111 || n.Codec.ClockRate != 48000 || n.Codec.Channels != 2 {
			t.Fatalf("negotiated %+v, want opus/48000/2 on 111", n.Codec)
		}
		if !n.HasDTMF || n.DTMF.ClockRate != 48000 {
			t.Fatalf("telephone-event %+v, want the 48000 Hz one", n.DTMF)
		}
		if pc.SampleRate() != 16000 || pc.Flow().Codec().PayloadType() != 111 {
			t.Fatalf("flow at %d Hz, payload type %d", pc.SampleRate(), pc.Flow().Codec().PayloadType())
		}
	}
	a.Record()
	b.Record()
	a.StartTone(6000)
	b.StartTone(5000)
	b.WaitTone(t, 6000, 5*time.Second)
	a.WaitTone(t, 5000, 5*time.Second)
	if f := dsp.ToneFraction(b.Listen(t, time.Second), 16000, 6000); f < 0.9 {
		t.Errorf("bob hears 6 kHz in %.0f%% of a second", f*100)
	}
	if s := b.Flow().Stats(); s.PacketsLost != 0 {
		t.Errorf("bob lost %d packets on loopback", s.PacketsLost)
	}

	keys := make(chan media.DTMFEvent, 4)
	b.OnDTMF(func(ev media.DTMFEvent) { keys <- ev })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.SendDTMF(ctx, "7"); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-keys:
		if ev.Digit != '7' || ev.Source != media.DTMFRTP || ev.Duration < 40*time.Millisecond || ev.Duration > time.Second {
			t.Errorf("key %+v, want an RFC 4733 '7' of a plausible duration", ev)
		}
	case <-ctx.Done():
		t.Fatal("no key press received")
	}
	a.StopTone()
	b.StopTone()
	a.Hangup(t)
}
