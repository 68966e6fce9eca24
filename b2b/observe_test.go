package b2b_test

import (
	"sync"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/b2b"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/media/dsp"
)

// pcmLog is an observer that keeps what it is shown.
type pcmLog struct {
	mu  sync.Mutex
	pcm []int16
}

func (l *pcmLog) WriteAudio(pcm []int16) {
	l.mu.Lock()
	l.pcm = append(l.pcm, pcm...)
	l.mu.Unlock()
}

func (l *pcmLog) samples() []int16 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]int16(nil), l.pcm...)
}

// TestObserversOnRelayedCall: two baresip phones talk through a b2b relay
// (caller plays 500 Hz, callee 900 Hz). With no observer the relay
// forwards undecoded and nothing is decoded anywhere; observers on the
// caller's leg then hear both directions (500 Hz heard, 900 Hz sent),
// while packets still pass undecoded through the relay, and two heard
// observers cost one decode per packet, not two.
func TestObserversOnRelayedCall(t *testing.T) {
	callee := peers.StartBaresip(t, peers.BaresipOptions{User: "callee", AutoAnswer: true,
		AudioFile: peers.WriteWAV(t, dsp.Sine(8000, 900, 60*time.Second, 0.3), 8000)})
	br := newBridge(t, func(*endpoint.Call) string { return callee.URI() }, b2b.Options{})
	caller := peers.StartBaresip(t, peers.BaresipOptions{User: "caller",
		AudioFile: peers.WriteWAV(t, dsp.Sine(8000, 500, 60*time.Second, 0.3), 8000)})
	if err := caller.Dial(br.srv.URI("bridge")); err != nil {
		t.Fatal(err)
	}
	b := br.next(t)
	leg1, leg2 := b.Leg1().Flow(), b.Leg2().Flow()
	relay := b.Relay()
	if relay == nil || leg1 == nil || leg2 == nil {
		t.Fatal("bridged call without media")
	}
	waitFor(t, "media both ways", func() bool {
		st := relay.Stats()
		return st.AtoB.Forwarded > 50 && st.BtoA.Forwarded > 50
	})
	if d1, d2 := leg1.Stats().Decoded, leg2.Stats().Decoded; d1 != 0 || d2 != 0 {
		t.Fatalf("relay without observers decoded %d and %d payloads", d1, d2)
	}

	heard, heard2, sent := &pcmLog{}, &pcmLog{}, &pcmLog{}
	removeHeard := leg1.ObserveHeard(heard)
	removeHeard2 := leg1.ObserveHeard(heard2)
	removeSent := leg1.ObserveSent(sent)
	st0, rs0 := leg1.Stats(), relay.Stats()
	waitFor(t, "2 s observed each way", func() bool {
		return len(heard.samples()) >= 16000 && len(sent.samples()) >= 16000
	})
	st1, rs1 := leg1.Stats(), relay.Stats()
	removeHeard()
	removeHeard2()
	removeSent()

	if f := dsp.ToneFraction(heard.samples(), 8000, 500); f < 0.9 {
		t.Errorf("heard observer: caller's 500 Hz in %.0f%% of windows", 100*f)
	}
	if f := dsp.ToneFraction(heard2.samples(), 8000, 500); f < 0.9 {
		t.Errorf("second heard observer: caller's 500 Hz in %.0f%% of windows", 100*f)
	}
	if f := dsp.ToneFraction(sent.samples(), 8000, 900); f < 0.9 {
		t.Errorf("sent observer: callee's 900 Hz in %.0f%% of windows", 100*f)
	}
	if rs1.AtoB.Transcoded != rs0.AtoB.Transcoded || rs1.BtoA.Transcoded != rs0.BtoA.Transcoded ||
		rs1.AtoB.Forwarded == rs0.AtoB.Forwarded {
		t.Errorf("relay stopped forwarding undecoded while observed: %+v → %+v", rs0, rs1)
	}
	// One decode per packet heard (two observers) plus one per packet
	// sent, give or take the packets in flight when the counters were read.
	decoded := st1.Decoded - st0.Decoded
	packets := (st1.PacketsReceived - st0.PacketsReceived) + (st1.PacketsSent - st0.PacketsSent)
	if decoded == 0 || decoded > packets+4 {
		t.Errorf("decoded %d payloads for %d packets heard and sent: not once per packet", decoded, packets)
	}
	t.Logf("observed: %d packets, %d decodes; relay %+v", packets, decoded, rs1)
	if err := caller.Hangup(); err != nil {
		t.Fatal(err)
	}
	<-b.Done()
}

// waitFor polls cond every 20 ms for up to 15 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var _ audio.Sink = (*pcmLog)(nil)
