package media

import (
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/switchboard-sip/switchboard/media/codec"
)

// FuzzSessionReceive drives arbitrary datagrams through a session's
// receive path as its reader does (parse, statistics, latching, the
// jitter-buffer consumer, an observer, RFC 4733 and comfort noise), with
// the sender's address varying: nothing may panic.
func FuzzSessionReceive(f *testing.F) {
	tone := codec.PCMU().Encode(nil, make([]int16, 160))
	seed := func(pt uint8, seq uint16, ts uint32, marker bool, payload []byte) []byte {
		b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: ts, SSRC: 7, Marker: marker}, Payload: payload}).Marshal()
		return b
	}
	f.Add(seed(0, 1, 160, true, tone), uint8(0))
	f.Add(seed(0, 65535, 0xffffff00, false, tone[:80]), uint8(1))
	f.Add(seed(101, 9, 800, true, []byte{5, 0x0a, 0, 160}), uint8(0))  // RFC 4733 key 5
	f.Add(seed(101, 10, 800, false, []byte{5, 0x8a, 1, 64}), uint8(0)) // its end
	f.Add(seed(101, 11, 800, false, []byte{200}), uint8(0))            // short event
	f.Add(seed(13, 12, 960, false, []byte{60}), uint8(2))              // comfort noise
	f.Add(seed(13, 13, 1120, false, nil), uint8(2))
	f.Add(seed(0, 14, 1280, false, make([]byte, 480*4)), uint8(3))             // 240 ms in one packet
	f.Add([]byte{0x90, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0, 0}, uint8(0)) // extension header
	f.Add([]byte{0xa0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 9}, uint8(0))          // padding beyond the end
	pr := &PortRange{IP: netip.MustParseAddr("127.0.0.1")}
	c, err := pr.Listen()
	if err != nil {
		f.Fatal(err)
	}
	s := NewSession(c, SessionConfig{Codec: codec.PCMU(), DTMFPayloadType: 101})
	defer s.Close()
	s.SetRemote(netip.MustParseAddrPort("127.0.0.1:40000"))
	r, err := s.TakeFrames("fuzz", JitterConfig{})
	if err != nil {
		f.Fatal(err)
	}
	defer r.Release()
	var heard frameSink
	defer s.ObserveHeard(&heard)()
	s.OnDTMF(func(DTMFEvent) {})
	var p rtp.Packet
	var pcm []int16
	now := time.Now()
	f.Fuzz(func(t *testing.T, b []byte, src uint8) {
		if p.Unmarshal(b) != nil || p.Version != 2 {
			return
		}
		from := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 40000+uint16(src%4))
		now = now.Add(20 * time.Millisecond)
		pcm = s.receive(&p, len(b), from, now, pcm)
		r.ReadFrame(nil)
		_ = s.Stats()
	})
}
