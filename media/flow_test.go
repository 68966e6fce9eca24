package media

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/media/codec"
)

// TestNilFlowHasNoMedia: a call without media gives a nil Flow; playing,
// writing, receiving and pulling return ErrNoMedia, observing is a no-op,
// and nothing panics.
func TestNilFlowHasNoMedia(t *testing.T) {
	var f *Flow
	if err := f.Play(context.Background(), make([]int16, 160)); !errors.Is(err, ErrNoMedia) {
		t.Errorf("Play: %v", err)
	}
	if err := f.WriteFrame(make([]int16, 160)); !errors.Is(err, ErrNoMedia) {
		t.Errorf("WriteFrame: %v", err)
	}
	if err := f.WriteRTPPayload(0, 160, nil, false); !errors.Is(err, ErrNoMedia) {
		t.Errorf("WriteRTPPayload: %v", err)
	}
	if _, err := f.Receive("app", audio.SinkFunc(func([]int16) {}), AudioOptions{}); !errors.Is(err, ErrNoMedia) {
		t.Errorf("Receive: %v", err)
	}
	if _, err := f.Pull("mixer", JitterConfig{}); !errors.Is(err, ErrNoMedia) {
		t.Errorf("Pull: %v", err)
	}
	f.ObserveHeard(audio.SinkFunc(func([]int16) {}))()
	f.ObserveSent(audio.SinkFunc(func([]int16) {}))()
	if f.Codec() != nil || f.SampleRate() != 0 || f.FrameSamples() != 0 || f.Stats() != (Stats{}) || f.LocalAddr().IsValid() {
		t.Error("a nil Flow reports media")
	}
	if _, err := NewRelay(f, f, RelayOptions{}); !errors.Is(err, ErrNoMedia) {
		t.Errorf("NewRelay: %v", err)
	}
}

// wideband is a 16 kHz test codec with an 8 kHz RTP clock, as G.722 has:
// two bytes per sample, big endian.
type wideband struct{}

func (wideband) Name() string       { return "TEST16" }
func (wideband) PayloadType() uint8 { return 9 }
func (wideband) ClockRate() int     { return 8000 }
func (wideband) SampleRate() int    { return 16000 }
func (wideband) Encode(dst []byte, pcm []int16) []byte {
	for _, v := range pcm {
		dst = append(dst, byte(v>>8), byte(v))
	}
	return dst
}
func (wideband) Decode(dst []int16, p []byte) []int16 {
	for i := 0; i+1 < len(p); i += 2 {
		dst = append(dst, int16(p[i])<<8|int16(p[i+1]))
	}
	return dst
}

// TestFramesFollowTheCodec: with a 16 kHz codec a flow's 20 ms frame is
// 320 samples, Play sends 320-sample frames, and the RTP timestamp
// advances by the clock rate (160 per packet), not by the sample count;
// what is received is decoded at 16 kHz for observers.
func TestFramesFollowTheCodec(t *testing.T) {
	var c codec.Codec = wideband{}
	s, peer := pair(t)
	s.SetCodec(c, 0)
	f := NewFlow(s)
	if f.FrameSamples() != 320 || f.SampleRate() != 16000 {
		t.Fatalf("frame %d samples at %d Hz, want 320 at 16000", f.FrameSamples(), f.SampleRate())
	}
	if err := f.Play(context.Background(), make([]int16, 3*320)); err != nil {
		t.Fatal(err)
	}
	var prev rtp.Packet
	buf := make([]byte, 1500)
	for i := range 3 {
		_ = peer.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, _, err := peer.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		var p rtp.Packet
		if err := p.Unmarshal(buf[:n]); err != nil {
			t.Fatal(err)
		}
		if len(p.Payload) != 640 {
			t.Errorf("packet %d carries %d bytes, want 640 (320 samples)", i, len(p.Payload))
		}
		if i > 0 && p.Timestamp-prev.Timestamp != 160 {
			t.Errorf("timestamp step %d, want 160 (8 kHz clock)", p.Timestamp-prev.Timestamp)
		}
		prev = p
	}
	heard := make(chan int, 1)
	f.ObserveHeard(audio.SinkFunc(func(pcm []int16) {
		select {
		case heard <- len(pcm):
		default:
		}
	}))
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 9, SSRC: 3, SequenceNumber: 1}, Payload: make([]byte, 640)}
	b, _ := p.Marshal()
	if _, err := peer.WriteTo(b, net.UDPAddrFromAddrPort(s.LocalAddr())); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-heard:
		if n != 320 {
			t.Errorf("observer got %d samples, want 320", n)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("observer got nothing")
	}
}
