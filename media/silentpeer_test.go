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
