package endpoint_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/media"
	"github.com/switchboard-sip/switchboard/media/codec"
	"github.com/switchboard-sip/switchboard/media/dsp"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// pcapPacket is one RTP packet of a capture and when it is sent.
type pcapPacket struct {
	at      time.Duration
	pt      uint8
	marker  bool
	seq     uint16
	ts      uint32
	payload []byte
}

// writeRTPPcap writes packets as a classic pcap file (Ethernet, IPv4,
// UDP from 10.0.0.1:4000 to 10.0.0.2:5000) that SIPp's play_pcap_audio
// plays with the capture's timing, and returns its path.
func writeRTPPcap(t testing.TB, packets []pcapPacket) string {
	t.Helper()
	be, le := binary.BigEndian, binary.LittleEndian
	// Global header: magic, version 2.4, zone, sigfigs, snaplen,
	// link type 1 (Ethernet).
	b := le.AppendUint32(nil, 0xa1b2c3d4)
	b = le.AppendUint16(b, 2)
	b = le.AppendUint16(b, 4)
	b = le.AppendUint32(b, 0)
	b = le.AppendUint32(b, 0)
	b = le.AppendUint32(b, 65535)
	b = le.AppendUint32(b, 1)
	start := time.Unix(1_700_000_000, 0)
	for _, p := range packets {
		rtp := []byte{0x80, p.pt & 0x7f, 0, 0, 0, 0, 0, 0, 0x5e, 0xed, 0x5e, 0xed}
		if p.marker {
			rtp[1] |= 0x80
		}
		be.PutUint16(rtp[2:], p.seq)
		be.PutUint32(rtp[4:], p.ts)
		rtp = append(rtp, p.payload...)
		udp := be.AppendUint16(nil, 4000)
		udp = be.AppendUint16(udp, 5000)
		udp = be.AppendUint16(udp, uint16(8+len(rtp)))
		udp = be.AppendUint16(udp, 0) // no checksum (RFC 768)
		udp = append(udp, rtp...)
		ip := []byte{0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2}
		be.PutUint16(ip[2:], uint16(20+len(udp)))
		var sum uint32
		for i := 0; i < 20; i += 2 {
			sum += uint32(be.Uint16(ip[i:]))
		}
		for sum > 0xffff {
			sum = sum&0xffff + sum>>16
		}
		be.PutUint16(ip[10:], ^uint16(sum))
		frame := append([]byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00}, ip...)
		frame = append(frame, udp...)
		at := start.Add(p.at)
		b = le.AppendUint32(b, uint32(at.Unix()))
		b = le.AppendUint32(b, uint32(at.Nanosecond()/1000))
		b = le.AppendUint32(b, uint32(len(frame)))
		b = le.AppendUint32(b, uint32(len(frame)))
		b = append(b, frame...)
	}
	path := filepath.Join(t.TempDir(), "rtp.pcap")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// talkspurtsWithCN returns a capture of PCMU packets of ptime: a tone
// for 1.2 s, a pause of 0.5 s announced by RFC 3389 comfort noise (and one
// update in it) during which the timestamps jump, the tone again, and
// comfort noise at the end, as a phone with voice activity detection
// sends. It also returns the number of audio packets.
func talkspurtsWithCN(ptime time.Duration) ([]pcapPacket, int) {
	n := int(ptime * 8000 / time.Second)
	enc := codec.PCMU().Encode(nil, dsp.Sine(8000, 440, 1200*time.Millisecond, 0.3))
	var out []pcapPacket
	var at time.Duration
	seq, ts := uint16(65000), uint32(12345)
	add := func(pt uint8, marker bool, payload []byte, units int, dur time.Duration) {
		out = append(out, pcapPacket{at: at, pt: pt, marker: marker, seq: seq, ts: ts, payload: payload})
		seq++
		ts += uint32(units)
		at += dur
	}
	audio := 0
	spurt := func() {
		for i := 0; i+n <= len(enc); i += n {
			add(0, i == 0, enc[i:i+n], n, ptime)
			audio++
		}
	}
	spurt()
	add(13, false, []byte{60}, 2000, 250*time.Millisecond) // -60 dBov
	add(13, false, []byte{60}, 2000, 250*time.Millisecond)
	spurt()
	add(13, false, []byte{60}, 0, 0)
	return out, audio
}

const uacPTime = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="ptime">
  <send retrans="500">
    <![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 13
a=rtpmap:0 PCMU/8000
a=rtpmap:13 CN/8000
a=ptime:PTIME

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="200">
    <action>
      <ereg regexp="a=ptime:PTIME" search_in="body" check_it="true" assign_to="p"/>
    </action>
  </recv>
  <send>
    <![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Length: 0

    ]]>
  </send>
  <Reference variables="p"/>
  <nop><action><exec play_pcap_audio="PCAP"/></action></nop>
  <pause milliseconds="3600"/>
  <send retrans="500">
    <![CDATA[
BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 BYE
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
</scenario>
`

// heardCall is what a call's jitter buffer played.
type heardCall struct {
	st    []media.FrameStatus
	pcm   [][]int16
	stats media.JitterStats
	rtp   media.Stats
}

// TestSIPpPacketTimesAndComfortNoise: SIPp calls with a=ptime:30 and
// a=ptime:40 and plays a capture of PCMU packets of that duration with
// comfort noise (RFC 3389) in the pauses. The answer states the packet
// time; the call's jitter buffer, pulled every 20 ms, conceals nothing and
// counts no loss, plays the pauses as silence and the two talkspurts
// without a silent frame; the RTP statistics count no lost packet.
func TestSIPpPacketTimesAndComfortNoise(t *testing.T) {
	peers.RequireSIPp(t)
	for _, ms := range []int{30, 40} {
		t.Run(fmt.Sprintf("%dms", ms), func(t *testing.T) {
			srv := sbt.NewServer(t)
			heard := make(chan heardCall, 1)
			srv.Handle(t, "listen", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
				if c.Accept(ctx) != nil {
					return
				}
				r, err := c.Flow().Pull("test", media.JitterConfig{})
				if err != nil {
					t.Error(err)
					return
				}
				defer r.Release()
				var h heardCall
				tick := time.NewTicker(20 * time.Millisecond)
				defer tick.Stop()
				for ctx.Err() == nil {
					select {
					case <-ctx.Done():
					case <-tick.C:
						pcm, st := r.ReadFrame(nil)
						if st != media.FrameEmpty || len(h.st) > 0 {
							h.st, h.pcm = append(h.st, st), append(h.pcm, pcm)
						}
					}
				}
				h.stats, h.rtp = r.Stats(), c.Flow().Stats()
				heard <- h
			}))
			packets, audio := talkspurtsWithCN(time.Duration(ms) * time.Millisecond)
			sc := strings.NewReplacer("PTIME", fmt.Sprint(ms), "PCAP", writeRTPPcap(t, packets)).Replace(uacPTime)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res := peers.RunSIPp(t, ctx, "-sf", peers.WriteScenario(t, sc), "-s", "listen", "-m", "1",
				"-p", fmt.Sprint(peers.FreeSIPPort(t)), "-mp", fmt.Sprint(peers.FreeUDPPort(t)&^1), fmt.Sprintf("127.0.0.1:%d", srv.Port()))
			if res.ExitCode != 0 {
				t.Fatalf("sipp exit %d\n%s\n%s", res.ExitCode, res.ErrorLog, res.Stderr)
			}
			var h heardCall
			select {
			case h = <-heard:
			case <-time.After(5 * time.Second):
				t.Fatal("the call did not end")
			}
			js := h.stats
			t.Logf("%d frames pulled; jitter %+v; rtp received %d, lost %d", len(h.st), js, h.rtp.PacketsReceived, h.rtp.PacketsLost)
			if js.Concealed != 0 || js.Late != 0 || js.Silent < 2 {
				t.Errorf("jitter stats %+v", js)
			}
			if got := js.Played + js.Dropped; got != uint64(audio) {
				t.Errorf("played %d and dropped %d of %d audio packets", js.Played, js.Dropped, audio)
			}
			if h.rtp.PacketsLost != 0 || h.rtp.PacketsReceived != uint64(len(packets)) {
				t.Errorf("rtp stats: %d lost, %d received of %d", h.rtp.PacketsLost, h.rtp.PacketsReceived, len(packets))
			}
			// Two talkspurts of audio in every frame, silence between
			// and after them.
			spurts, in := 0, false
			for i, st := range h.st {
				silent := !slices.ContainsFunc(h.pcm[i], func(v int16) bool { return v != 0 })
				switch {
				case st == media.FrameNormal && !in:
					in = true
					spurts++
				case st != media.FrameNormal:
					in = false
					if st == media.FrameConcealed || !silent {
						t.Fatalf("frame %d between talkspurts is %v (silent %v): %v", i, st, silent, h.st)
					}
				}
				if in && silent {
					t.Fatalf("frame %d of a talkspurt is silent: %v", i, h.st)
				}
			}
			if spurts != 2 {
				t.Errorf("%d talkspurts: %v", spurts, h.st)
			}
		})
	}
}
