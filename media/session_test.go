package media

import (
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/media/codec"
)

func pair(t testing.TB) (*Session, *net.UDPConn) {
	t.Helper()
	pr := &PortRange{IP: netip.MustParseAddr("127.0.0.1")}
	c, err := pr.Listen()
	if err != nil {
		t.Fatal(err)
	}
	peer, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	s := NewSession(c, SessionConfig{Codec: codec.PCMU(), DTMFPayloadType: 101})
	s.SetRemote(peer.LocalAddr().(*net.UDPAddr).AddrPort())
	t.Cleanup(func() { s.Close(); peer.Close() })
	return s, peer
}

func send(t testing.TB, peer *net.UDPConn, to netip.AddrPort, b []byte) {
	t.Helper()
	if _, err := peer.WriteToUDPAddrPort(b, to); err != nil {
		t.Fatal(err)
	}
}

func TestSessionWriteFrameHeaders(t *testing.T) {
	s, peer := pair(t)
	frame := make([]int16, g711Frame)
	for i := 0; i < 3; i++ {
		if err := s.WriteFrame(frame); err != nil {
			t.Fatal(err)
		}
	}
	var prev rtp.Packet
	buf := make([]byte, 1500)
	for i := 0; i < 3; i++ {
		peer.SetReadDeadline(time.Now().Add(time.Second))
		n, _, err := peer.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatal(err)
		}
		var p rtp.Packet
		if err := p.Unmarshal(buf[:n]); err != nil {
			t.Fatal(err)
		}
		if p.PayloadType != 0 || len(p.Payload) != g711Frame || p.Marker != (i == 0) {
			t.Fatalf("packet %d: pt %d len %d marker %v", i, p.PayloadType, len(p.Payload), p.Marker)
		}
		if i > 0 && (p.SequenceNumber != prev.SequenceNumber+1 || p.Timestamp != prev.Timestamp+g711Frame || p.SSRC != prev.SSRC) {
			t.Fatalf("packet %d does not follow: %+v after %+v", i, p.Header, prev.Header)
		}
		prev = p
	}
	if s.Stats().PacketsSent != 3 {
		t.Fatalf("sent = %d", s.Stats().PacketsSent)
	}
}

func TestSessionDropsBadPacketsAndDecodesGoodOnes(t *testing.T) {
	s, peer := pair(t)
	var got atomic.Int64
	all := make(chan struct{})
	takeAudio(t, s, audio.SinkFunc(func(pcm []int16) {
		if got.Add(int64(len(pcm))) == 320 {
			close(all)
		}
	}))
	to := s.LocalAddr()
	good := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 1, SSRC: 9}, Payload: make([]byte, 160)}
	gb, _ := good.Marshal()
	withExt := good
	withExt.Header.SequenceNumber = 2
	withExt.Header.CSRC = []uint32{1, 2}
	withExt.Header.Extension = true
	withExt.Header.ExtensionProfile = 0xBEDE
	_ = withExt.Header.SetExtension(1, []byte{0xAA})
	eb, _ := withExt.Marshal()
	badVersion := append([]byte(nil), gb...)
	badVersion[0] = 0x40 // version 1
	badPadding := append([]byte(nil), gb...)
	badPadding[0] |= 0x20               // padding flag
	badPadding[len(badPadding)-1] = 255 // padding longer than the packet
	for _, b := range [][]byte{badVersion, badPadding, {0x80}, {}, gb, eb} {
		send(t, peer, to, b)
	}
	select {
	case <-all:
	case <-time.After(2 * time.Second):
		t.Fatalf("decoded %d samples, want 320 (stats %+v)", got.Load(), s.Stats())
	}
	if st := s.Stats(); st.PacketsReceived != 2 || st.Dropped < 3 {
		t.Fatalf("stats = %+v, want 2 received and >= 3 dropped", st)
	}
}

func TestSessionReportsEachDTMFOnce(t *testing.T) {
	s, peer := pair(t)
	digits := make(chan rune, 8)
	s.OnDTMF(func(e DTMFEvent) { digits <- e.Digit })
	to := s.LocalAddr()
	seq := uint16(1)
	key := func(ev byte, ts uint32) {
		for i := 0; i < 6; i++ { // 3 progress packets, then the end packet 3 times (RFC 4733 2.5.1.4)
			end := byte(0)
			if i >= 3 {
				end = 0x80
			}
			p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, SequenceNumber: seq, Timestamp: ts, SSRC: 5},
				Payload: []byte{ev, end | 10, 0, byte(160 * (i + 1))}}
			b, _ := p.Marshal()
			send(t, peer, to, b)
			seq++
		}
	}
	key(1, 1000)
	key(11, 3000) // '#'
	key(1, 5000)
	want := []rune{'1', '#', '1'}
	for _, w := range want {
		select {
		case d := <-digits:
			if d != w {
				t.Fatalf("digit %q, want %q", d, w)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("missing digit %q", w)
		}
	}
	select {
	case d := <-digits:
		t.Fatalf("extra digit %q: retransmitted end packets reported twice", d)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestPortRangeHandsOutEvenPortsAndReportsExhaustion(t *testing.T) {
	probe, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	base := probe.LocalAddr().(*net.UDPAddr).Port &^ 1
	probe.Close()
	pr := &PortRange{IP: netip.MustParseAddr("127.0.0.1"), Min: base, Max: base + 3}
	var conns []*net.UDPConn
	for {
		c, err := pr.Listen()
		if err != nil {
			if err != ErrNoPorts {
				t.Fatal(err)
			}
			break
		}
		if c.LocalAddr().(*net.UDPAddr).Port%2 != 0 {
			t.Fatalf("odd RTP port %v", c.LocalAddr())
		}
		conns = append(conns, c)
	}
	if len(conns) > 2 {
		t.Fatalf("got %d ports from a 2-port range", len(conns))
	}
	for _, c := range conns {
		c.Close()
	}
	if c, err := pr.Listen(); err != nil {
		t.Fatalf("port not reusable after close: %v", err)
	} else {
		c.Close()
	}
}

func BenchmarkSessionWriteFrame(b *testing.B) {
	s, _ := pair(b)
	frame := make([]int16, g711Frame)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.WriteFrame(frame); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSessionReceive measures the receive path (socket read, RTP
// parse, G.711 decode, sink) per packet.
func BenchmarkSessionReceive(b *testing.B) {
	s, peer := pair(b)
	done := make(chan struct{}, 1)
	var n atomic.Int64
	target := int64(b.N)
	takeAudio(b, s, audio.SinkFunc(func([]int16) {
		if n.Add(1) == target {
			done <- struct{}{}
		}
	}))
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 1}, Payload: make([]byte, 160)}
	pkt, _ := p.Marshal()
	to := s.LocalAddr()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := peer.WriteToUDPAddrPort(pkt, to); err != nil {
			b.Fatal(err)
		}
		if i%64 == 63 {
			time.Sleep(0) // let the reader keep up so the socket buffer does not overflow
		}
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		b.Logf("received %d of %d (socket buffer overflow)", n.Load(), b.N)
	}
}

// g711Frame is the number of samples in a 20 ms G.711 frame.
const g711Frame = 160
