package media

import (
	"net/netip"
	"testing"

	"github.com/pion/rtcp"

	"github.com/switchboard-sip/switchboard/media/codec"
)

// FuzzRTCPReceive drives arbitrary datagrams through a session's RTCP
// receive path (handleRTCP: pion's compound-packet parser, sender and
// receiver reports about our stream, the liveness latch), from the remote
// host and from elsewhere: nothing may panic, and the statistics stay
// readable.
func FuzzRTCPReceive(f *testing.F) {
	pr := &PortRange{IP: netip.MustParseAddr("127.0.0.1")}
	c, err := pr.Listen()
	if err != nil {
		f.Fatal(err)
	}
	s := NewSession(c, SessionConfig{Codec: codec.PCMU()})
	defer s.Close()
	s.SetRemote(netip.MustParseAddrPort("127.0.0.1:40000"))
	seed := func(pkts ...rtcp.Packet) []byte {
		b, err := rtcp.Marshal(pkts)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	rr := rtcp.ReceptionReport{SSRC: s.SSRC(), FractionLost: 12, TotalLost: 3, LastSequenceNumber: 99, Jitter: 40}
	sdes := &rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{Source: 7,
		Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: "peer@host"}}}}}
	f.Add(seed(&rtcp.SenderReport{SSRC: 7, NTPTime: 1 << 40, RTPTime: 160, PacketCount: 5, OctetCount: 800, Reports: []rtcp.ReceptionReport{rr}}, sdes), uint8(0))
	f.Add(seed(&rtcp.ReceiverReport{SSRC: 7, Reports: []rtcp.ReceptionReport{rr, {SSRC: 9}}}, sdes), uint8(1))
	f.Add(seed(&rtcp.Goodbye{Sources: []uint32{7}, Reason: "bye"}), uint8(0))
	f.Add(seed(&rtcp.PictureLossIndication{SenderSSRC: 7, MediaSSRC: 9}), uint8(2))
	f.Add([]byte{0x81, 200, 0, 0xff}, uint8(0))          // length beyond the datagram
	f.Add([]byte{0x9f, 201, 0, 1, 0, 0, 0, 7}, uint8(0)) // 31 report blocks announced, none there
	f.Add([]byte{0xa0, 202, 0, 0}, uint8(3))             // padding bit on an empty packet
	f.Fuzz(func(t *testing.T, b []byte, src uint8) {
		from := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 40001+uint16(src%2))
		if src&2 != 0 {
			from = netip.MustParseAddrPort("192.0.2.9:40001")
		}
		s.handleRTCP(b, from)
		_ = s.Stats()
	})
}
