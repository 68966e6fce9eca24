package media

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/media/codec"
	"github.com/switchboard-sip/switchboard/media/dsp"
)

// g722Pair returns two sessions on loopback sending G.722 to each other,
// set up as the endpoint does: the codec is set after the session exists.
func g722Pair(t testing.TB) (a, b *Session) {
	t.Helper()
	pr := &PortRange{IP: netip.MustParseAddr("127.0.0.1")}
	ca, err := pr.Listen()
	if err != nil {
		t.Fatal(err)
	}
	cb, err := pr.Listen()
	if err != nil {
		t.Fatal(err)
	}
	a, b = NewSession(ca, SessionConfig{}), NewSession(cb, SessionConfig{})
	t.Cleanup(func() { a.Close(); b.Close() })
	a.SetRemote(b.LocalAddr())
	b.SetRemote(a.LocalAddr())
	a.SetCodec(codec.G722(), 101)
	b.SetCodec(codec.G722(), 101)
	return a, b
}

// TestG722FramesThroughTheJitterBuffer: a 6 kHz tone, which G.711 cannot
// carry, crosses a G.722 session pair and comes out of a jitter buffer
// configured with defaults (clock rate 8000, 160 timestamp units per
// frame) as 320-sample frames at 16 kHz that hold the tone; the receiver's
// jitter statistic is computed at the 8000 Hz RTP clock.
func TestG722FramesThroughTheJitterBuffer(t *testing.T) {
	a, b := g722Pair(t)
	r, err := b.TakeFrames("test", JitterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	played := make(chan error, 1)
	go func() { played <- Play(ctx, a, dsp.Sine(16000, 6000, 2*time.Second, 0.3)) }()

	var got []int16
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(5 * time.Second)
	for len(got) < 16000 {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("received %d samples of 16000", len(got))
		}
		pcm, st := r.ReadFrame(nil)
		if st == FrameEmpty {
			continue
		}
		if len(pcm) != 320 {
			t.Fatalf("frame of %d samples, want 320", len(pcm))
		}
		got = append(got, pcm...)
	}
	if f := dsp.ToneFraction(got[4000:], 16000, 6000); f < 0.9 {
		t.Fatalf("6 kHz in %.0f%% of the received audio", f*100)
	}
	if j := b.Stats().Jitter; j > 20*time.Millisecond {
		t.Fatalf("jitter %v on loopback: computed at the wrong clock rate?", j)
	}
	cancel()
	<-played
}

// TestG722DTMFAtTheRTPClock: an RFC 4733 event sent next to G.722 counts
// its duration in units of the 8000 Hz clock, and the audio after it
// continues 800 timestamp units (100 ms) later, not 1600.
func TestG722DTMFAtTheRTPClock(t *testing.T) {
	a, b := g722Pair(t)
	got := make(chan DTMFEvent, 1)
	b.OnDTMF(func(ev DTMFEvent) { got <- ev })
	var first, after uint32
	seen := make(chan struct{})
	n := 0
	release, err := b.TakePackets("test", func(pt uint8, _ uint16, ts uint32, _ bool, _ []byte) {
		switch {
		case pt == 9 && n == 0:
			first, n = ts, 1
		case pt == 9 && n == 2:
			after, n = ts, 3
			close(seen)
		case pt == 101 && n == 1:
			n = 2
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	frame := make([]int16, 320)
	if err := a.WriteFrame(frame); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // let the audio packet arrive first
	if err := a.SendDTMF(context.Background(), '5', 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := a.WriteFrame(frame); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-got:
		if ev.Digit != '5' || ev.Duration < 90*time.Millisecond || ev.Duration > 110*time.Millisecond {
			t.Fatalf("event %+v, want 5 of 100 ms", ev)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no event")
	}
	select {
	case <-seen:
	case <-time.After(3 * time.Second):
		t.Fatal("no audio after the event")
	}
	if d := after - first; d != 160+800 {
		t.Fatalf("audio after the event is %d units on, want 960 (one frame + 100 ms at 8 kHz)", d)
	}
}
