package media

import (
	"context"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/media/codec"
)

func TestSymmetricRTPLatchesToSource(t *testing.T) {
	s, _ := pair(t) // remote set to a socket that never sends
	other, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 1, SSRC: 3}, Payload: make([]byte, 160)}
	b, _ := p.Marshal()
	// The session latches before it hands the packet to its consumer, so
	// the packet's arrival at the sink is the moment to look.
	arrived := make(chan struct{}, 1)
	takeAudio(t, s, audio.SinkFunc(func([]int16) {
		select {
		case arrived <- struct{}{}:
		default:
		}
	}))
	send(t, other, s.LocalAddr(), b)
	waitSignal(t, arrived, "the packet from the new source")
	want := other.LocalAddr().(*net.UDPAddr).AddrPort()
	if s.Remote() != want {
		t.Fatalf("remote %v, want latched %v", s.Remote(), want)
	}
	// Our audio now goes where the media came from.
	if err := s.WriteFrame(make([]int16, g711Frame)); err != nil {
		t.Fatal(err)
	}
	other.SetReadDeadline(time.Now().Add(time.Second))
	if _, _, err := other.ReadFrom(make([]byte, 1500)); err != nil {
		t.Fatalf("no RTP at the latched address: %v", err)
	}
}

func TestSendDTMFFollowsRFC4733(t *testing.T) {
	s, peer := pair(t)
	if err := s.SendDTMF(context.Background(), '#', 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	var pkts []rtp.Packet
	for {
		peer.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, _, err := peer.ReadFrom(buf)
		if err != nil {
			break
		}
		var p rtp.Packet
		if err := p.Unmarshal(append([]byte(nil), buf[:n]...)); err != nil {
			t.Fatal(err)
		}
		pkts = append(pkts, p)
	}
	if len(pkts) < 6 {
		t.Fatalf("%d packets, want updates + 3 end packets", len(pkts))
	}
	ends := 0
	for i, p := range pkts {
		if p.PayloadType != 101 || p.Payload[0] != 11 {
			t.Fatalf("packet %d: pt %d event %d", i, p.PayloadType, p.Payload[0])
		}
		if p.Timestamp != pkts[0].Timestamp {
			t.Fatalf("packet %d changes the event timestamp", i)
		}
		if p.Marker != (i == 0) {
			t.Fatalf("packet %d marker %v", i, p.Marker)
		}
		if p.Payload[1]&0x80 != 0 {
			ends++
			if d := int(p.Payload[2])<<8 | int(p.Payload[3]); d != 800 {
				t.Fatalf("end duration %d, want 800 (100 ms)", d)
			}
		}
	}
	if ends != 3 {
		t.Fatalf("%d end packets, want 3", ends)
	}
	// Audio after the event continues after it, with a marker.
	_ = s.WriteFrame(make([]int16, g711Frame))
	peer.SetReadDeadline(time.Now().Add(time.Second))
	n, _, err := peer.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	var a rtp.Packet
	_ = a.Unmarshal(buf[:n])
	if a.PayloadType != 0 || !a.Marker || a.Timestamp != pkts[0].Timestamp+800 {
		t.Fatalf("audio after event: pt %d marker %v ts %d (event ts %d)", a.PayloadType, a.Marker, a.Timestamp, pkts[0].Timestamp)
	}
	if err := s.SendDTMF(context.Background(), 'x', 0); err == nil {
		t.Fatal("non-DTMF key accepted")
	}
}

func TestRTCPReportsBetweenSessions(t *testing.T) {
	pr := &PortRange{IP: netip.MustParseAddr("127.0.0.1")}
	mk := func() *Session {
		r, c, err := pr.ListenPair()
		if err != nil {
			t.Fatal(err)
		}
		if c.LocalAddr().(*net.UDPAddr).Port != r.LocalAddr().(*net.UDPAddr).Port+1 {
			t.Fatal("RTCP not on RTP+1")
		}
		s := NewSession(r, SessionConfig{Codec: codec.PCMU(), RTCP: c, ReportInterval: 100 * time.Millisecond})
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := mk(), mk()
	a.SetRemote(b.LocalAddr())
	b.SetRemote(a.LocalAddr())
	frame := make([]int16, g711Frame)
	for i := 0; i < 50; i++ {
		_ = a.WriteFrame(frame)
		_ = b.WriteFrame(frame)
	}
	// Reports go out every ReportInterval (100 ms): wait for the first
	// ones each way rather than for a fixed time.
	relayWait(t, "RTCP each way", func() bool {
		return a.Stats().RTCPRecv > 0 && b.Stats().RTCPRecv > 0 && a.Stats().RTCPSent > 0 && b.Stats().PacketsReceived == 50
	})
	if st := b.Stats(); st.PacketsReceived != 50 || st.PacketsLost != 0 {
		t.Fatalf("b received %d lost %d", st.PacketsReceived, st.PacketsLost)
	}
}

func TestDTMFFloodIsBounded(t *testing.T) {
	s, peer := pair(t)
	var n atomic.Int64
	s.OnDTMF(func(DTMFEvent) { n.Add(1) })
	to := s.LocalAddr()
	for i := 0; i < 2000; i++ {
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, SequenceNumber: uint16(i), Timestamp: uint32(i * 160), SSRC: 5},
			Payload: []byte{byte(i % 10), 0x80 | 10, 0, 160}}
		b, _ := p.Marshal()
		send(t, peer, to, b)
	}
	// The reader handles packets in order and reports DTMF inline, so once
	// an audio packet sent after the flood reaches the sink, the flood has
	// been handled. The sentinel itself may be lost to a full socket
	// buffer, so it is resent until one arrives.
	var sentinels atomic.Uint64
	arrived := make(chan struct{}, 1)
	takeAudio(t, s, audio.SinkFunc(func([]int16) {
		sentinels.Add(1)
		select {
		case arrived <- struct{}{}:
		default:
		}
	}))
	for seq, deadline := 2000, time.Now().Add(3*time.Second); ; seq++ {
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(seq), Timestamp: uint32(seq * 160), SSRC: 5}, Payload: make([]byte, 160)}
		b, _ := p.Marshal()
		send(t, peer, to, b)
		select {
		case <-arrived:
		case <-time.After(20 * time.Millisecond):
			if time.Now().Before(deadline) {
				continue
			}
			t.Fatal("the reader never caught up with the flood")
		}
		break
	}
	if got := n.Load(); got > maxDTMFPerSecond*2 || got == 0 {
		t.Fatalf("%d key presses reported from a flood, want 1..%d", got, maxDTMFPerSecond*2)
	}
	// The kernel may drop part of the burst before the reader sees it;
	// of what arrived, everything beyond the cap is dropped and counted.
	st := s.Stats()
	flood := st.PacketsReceived - sentinels.Load()
	if flood < 200 || st.Dropped+uint64(maxDTMFPerSecond*2) < flood {
		t.Fatalf("flood not counted as dropped: %+v (%d sentinels)", st, sentinels.Load())
	}
}

// waitSignal waits up to 3 s for a value on ch, failing the test with
// what it waited for.
func waitSignal(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(3 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}
