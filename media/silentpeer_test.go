package media

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/switchboard-sip/switchboard/media/codec"
)

// TestSilentPeerStopsStream: a session whose remote address (from a
// stranger's SDP, say) never sends RTP or RTCP stops sending once
// SilentPeerGrace has passed, counting the packets it holds back; the
// first packet from the peer resumes the stream. Issue 14 item 7: one
// INVITE used to aim 32 s of music at an address that never asked.
func TestSilentPeerStopsStream(t *testing.T) {
	const grace = 300 * time.Millisecond
	pr := &PortRange{IP: netip.MustParseAddr("127.0.0.1")}
	c, err := pr.Listen()
	if err != nil {
		t.Fatal(err)
	}
	s := NewSession(c, SessionConfig{Codec: codec.PCMU(), SilentPeerGrace: grace})
	defer s.Close()
	victim, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close()
	s.SetRemote(victim.LocalAddr().(*net.UDPAddr).AddrPort())

	frame := make([]int16, 160)
	received := func(d time.Duration) int { // send a frame every 10 ms for d; count what arrives
		n := 0
		deadline := time.Now().Add(d)
		buf := make([]byte, 1500)
		for time.Now().Before(deadline) {
			_ = s.WriteFrame(frame)
			_ = victim.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
			if _, _, err := victim.ReadFromUDP(buf); err == nil {
				n++
			}
		}
		return n
	}
	if n := received(grace / 2); n == 0 {
		t.Fatal("nothing sent within the grace")
	}
	received(grace) // past the grace
	if n := received(300 * time.Millisecond); n != 0 {
		t.Fatalf("%d packets sent to a silent peer after the grace", n)
	}
	if st := s.Stats(); st.Suppressed == 0 {
		t.Fatalf("stats %+v: no packet counted as suppressed", st)
	}
	// The peer speaks: sending resumes.
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 1, SSRC: 7}, Payload: make([]byte, 160)}
	b, _ := p.Marshal()
	if _, err := victim.WriteToUDPAddrPort(b, s.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Second); s.Stats().PacketsReceived == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the peer's packet never arrived")
		}
	}
	if n := received(200 * time.Millisecond); n == 0 {
		t.Fatal("sending did not resume after the peer spoke")
	}
}

// TestStrangerCannotRevivePeer: once the stream to a silent SDP address
// is held back, neither an RTCP report from another host nor (without
// latching) RTP from another host resumes it; RTCP from the address's
// own host does. Issue 14 item 7: RTCP used to count as a sign of life
// from wherever it came.
func TestStrangerCannotRevivePeer(t *testing.T) {
	const grace = 200 * time.Millisecond
	pr := &PortRange{IP: netip.MustParseAddr("127.0.0.1")}
	c, err := pr.Listen()
	if err != nil {
		t.Fatal(err)
	}
	rtcpConn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	s := NewSession(c, SessionConfig{Codec: codec.PCMU(), SilentPeerGrace: grace, NoLatch: true,
		RTCP: rtcpConn, ReportInterval: time.Hour})
	defer s.Close()
	listen := func(ip net.IP) *net.UDPConn {
		u, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { u.Close() })
		return u
	}
	victim := listen(net.IPv4(127, 0, 0, 1))
	stranger := listen(net.IPv4(127, 0, 0, 3))
	s.SetRemote(victim.LocalAddr().(*net.UDPAddr).AddrPort())
	rtcpAddr := rtcpConn.LocalAddr().(*net.UDPAddr).AddrPort()

	frame := make([]int16, 160)
	received := func(d time.Duration) int {
		n := 0
		buf := make([]byte, 1500)
		for deadline := time.Now().Add(d); time.Now().Before(deadline); {
			_ = s.WriteFrame(frame)
			_ = victim.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
			if _, _, err := victim.ReadFromUDP(buf); err == nil {
				n++
			}
		}
		return n
	}
	received(grace + 50*time.Millisecond)
	if n := received(150 * time.Millisecond); n != 0 {
		t.Fatalf("%d packets reached the silent address after the grace", n)
	}
	rr := []byte{0x80, 201, 0, 1, 0, 0, 0, 9} // an empty receiver report, SSRC 9
	waitRTCP := func(want uint64) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Second); s.Stats().RTCPRecv < want; time.Sleep(2 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("RTCP %d never counted", want)
			}
		}
	}
	if _, err := stranger.WriteToUDPAddrPort(rr, rtcpAddr); err != nil {
		t.Fatal(err)
	}
	waitRTCP(1)
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 1, SSRC: 9}, Payload: make([]byte, 160)}
	b, _ := p.Marshal()
	if _, err := stranger.WriteToUDPAddrPort(b, s.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Second); s.Stats().PacketsReceived == 0; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the stranger's RTP never arrived")
		}
	}
	if n := received(150 * time.Millisecond); n != 0 {
		t.Fatalf("a stranger's RTCP and RTP revived the stream: %d packets to the silent address", n)
	}
	// The address's own host reports: the stream resumes.
	if _, err := victim.WriteToUDPAddrPort(rr, rtcpAddr); err != nil {
		t.Fatal(err)
	}
	waitRTCP(2)
	if n := received(150 * time.Millisecond); n == 0 {
		t.Fatal("RTCP from the remote's host did not resume the stream")
	}
}
