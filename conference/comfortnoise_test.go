package conference_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/switchboard-sip/switchboard/conference"
	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/media/codec"
	"github.com/switchboard-sip/switchboard/media/dsp"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// uacCN is a SIPp caller whose SDP sends the conference's RTP to a plain
// UDP socket of the test (RAWPORT), offering PCMU and CN. CHECK is the
// ereg that the answer must (or, inverted, must not) match.
const uacCN = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="cn">
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
o=user1 53655765 2353687637 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio RAWPORT RTP/AVP 0 13
a=rtpmap:0 PCMU/8000
a=rtpmap:13 CN/8000

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="200">
    <action>
      <ereg regexp="a=rtpmap:13 CN/8000" search_in="body" CHECK assign_to="cn"/>
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
  <Reference variables="cn"/>
  <pause milliseconds="PAUSE"/>
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

// rawPacket is an RTP packet read by the test's socket.
type rawPacket struct {
	at time.Time
	h  rtp.Header
	p  []byte
}

// TestMixerSendsComfortNoiseOnTheWire: a conference configured with CN
// answers SIPp's offer of PCMU and CN with CN, and sends its RTP to a
// plain UDP socket of the test. A test phone talks (700 Hz), stops for
// 1.5 s and talks again. In the pause the socket reads RFC 3389 CN
// packets (PT 13, one octet) at about one per 200 ms and no audio; the
// 700 Hz comes in PCMU packets before and after, the first after the
// pause with the marker bit. A conference without CN configured answers
// the same offer without CN and sends no PT 13 packet.
func TestMixerSendsComfortNoiseOnTheWire(t *testing.T) {
	peers.RequireSIPp(t)
	for _, withCN := range []bool{true, false} {
		t.Run(fmt.Sprintf("cn=%v", withCN), func(t *testing.T) {
			cfg := conference.Config{AdHoc: true}
			check := `check_it_inverse="true"`
			if withCN {
				cfg.Codecs = []string{"PCMU", "CN", "telephone-event"}
				check = `check_it="true"`
			}
			srv, svc := newService(t, cfg)
			raw, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			var (
				mu  sync.Mutex
				got []rawPacket
				wg  sync.WaitGroup
			)
			wg.Go(func() {
				buf := make([]byte, 1500)
				for {
					n, err := raw.Read(buf)
					if err != nil {
						return
					}
					var p rtp.Packet
					if p.Unmarshal(buf[:n]) == nil {
						mu.Lock()
						got = append(got, rawPacket{at: time.Now(), h: p.Header, p: slices.Clone(p.Payload)})
						mu.Unlock()
					}
				}
			})
			sc := strings.NewReplacer("RAWPORT", fmt.Sprint(raw.LocalAddr().(*net.UDPAddr).Port),
				"CHECK", check, "PAUSE", "5000").Replace(uacCN)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			sipp := peers.StartSIPp(t, ctx, "-sf", peers.WriteScenario(t, sc), "-s", "conf-cn", "-m", "1",
				"-p", fmt.Sprint(peers.FreeSIPPort(t)), fmt.Sprintf("127.0.0.1:%d", srv.Port()))
			var conf *conference.Conference
			for conf == nil {
				if c, ok := svc.Conference("cn"); ok {
					conf = c
				} else {
					select {
					case <-sipp.Exited():
						res := sipp.Wait()
						t.Fatalf("sipp exit %d before joining\n%s", res.ExitCode, res.ErrorLog)
					case <-time.After(20 * time.Millisecond):
					}
				}
			}
			roster := waitRoster(t, conf, 1)
			// One packet from the socket: the conference's session sees
			// a live peer (SessionConfig.SilentPeerGrace) and latches to it.
			f, ok := conf.ParticipantFlow(roster[0].ID)
			if !ok {
				t.Fatal("no flow for the SIPp participant")
			}
			hello := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 1, SSRC: 99}, Payload: slices.Repeat([]byte{0xff}, 160)}
			b, _ := hello.Marshal()
			if _, err := raw.WriteToUDPAddrPort(b, f.LocalAddr()); err != nil {
				t.Fatal(err)
			}
			talker := sbt.NewPhone(t, "talker")
			pc := talker.Dial(t, conf.URI())
			waitRoster(t, conf, 2)
			pc.StartTone(700)
			time.Sleep(time.Second)
			pc.StopTone()
			stopped := time.Now()
			time.Sleep(1500 * time.Millisecond)
			resumed := time.Now()
			pc.StartTone(700)
			time.Sleep(time.Second)
			pc.StopTone()
			pc.Hangup(t)
			res := sipp.Wait()
			raw.Close()
			wg.Wait()
			if res.ExitCode != 0 {
				t.Fatalf("sipp exit %d (answer with CN: want %v)\n%s", res.ExitCode, withCN, res.ErrorLog)
			}
			in := func(from, to time.Time) (audio, cn []rawPacket) {
				for _, p := range got {
					if p.at.Before(from) || !p.at.Before(to) {
						continue
					}
					switch p.h.PayloadType {
					case 0:
						audio = append(audio, p)
					case 13:
						cn = append(cn, p)
					}
				}
				return audio, cn
			}
			// The pause as heard: the jitter buffer, the concealment of
			// the talker's last packets and the talk gate's 200 ms
			// hangover take up to about 400 ms.
			pauseAudio, pauseCN := in(stopped.Add(500*time.Millisecond), resumed)
			_, allCN := in(time.Time{}, time.Now())
			t.Logf("%d packets; in the 1 s pause %d audio, %d CN; %d CN in all", len(got), len(pauseAudio), len(pauseCN), len(allCN))
			if !withCN {
				if len(allCN) != 0 {
					t.Errorf("%d CN packets without CN negotiated", len(allCN))
				}
				if len(pauseAudio) < 45 {
					t.Errorf("%d audio packets in 1 s of silence without CN, want 50", len(pauseAudio))
				}
				return
			}
			if len(pauseAudio) != 0 {
				t.Errorf("%d audio packets in the pause", len(pauseAudio))
			}
			if len(pauseCN) < 4 || len(pauseCN) > 7 {
				t.Errorf("%d CN packets in 1 s of pause, want 5 or so (one per 200 ms)", len(pauseCN))
			}
			for _, p := range pauseCN {
				if len(p.p) != 1 || p.p[0] > 127 {
					t.Errorf("CN payload %v", p.p)
				}
			}
			before, _ := in(stopped.Add(-800*time.Millisecond), stopped)
			after, _ := in(resumed.Add(300*time.Millisecond), resumed.Add(time.Second))
			for name, ps := range map[string][]rawPacket{"before": before, "after": after} {
				var pcm []int16
				for _, p := range ps {
					pcm = codec.PCMU().Decode(pcm, p.p)
				}
				if fr := dsp.ToneFraction(pcm, 8000, 700); len(ps) < 30 || fr < 0.9 {
					t.Errorf("%s the pause: %d audio packets, 700 Hz in %.0f%%", name, len(ps), fr*100)
				}
			}
			// The first audio packet after the pause starts a talkspurt
			// and follows the pause's last CN (one more CN refresh may come
			// after the tone resumed, while the jitter buffer and the talk
			// gate catch up).
			i := slices.IndexFunc(got, func(p rawPacket) bool { return !p.at.Before(resumed) && p.h.PayloadType == 0 })
			switch {
			case i < 1:
				t.Errorf("no audio after the pause")
			case got[i-1].h.PayloadType != 13 || got[i].h.SequenceNumber != got[i-1].h.SequenceNumber+1 || !got[i].h.Marker:
				t.Errorf("the talkspurt after the pause: %+v, after %+v; want a marked audio packet right after a CN", got[i].h, got[i-1].h)
			default:
				if d := got[i].h.Timestamp - got[i-1].h.Timestamp; d%160 != 0 || d > 1600 {
					t.Errorf("timestamp from the last CN to the talkspurt advanced by %d", d)
				}
			}
			if st := conf.Mixer().Stats(); st.ComfortNoise == 0 {
				t.Errorf("mixer stats count no comfort noise: %+v", st)
			}
		})
	}
}
