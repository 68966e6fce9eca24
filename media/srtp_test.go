package media

import (
	"bytes"
	"crypto/rand"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/switchboard-sip/switchboard/media/codec"
	"github.com/switchboard-sip/switchboard/media/dsp"
)

func srtpKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, SRTPKeyLen)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// srtpPair keys a and b for each other with suite.
func srtpPair(t testing.TB, a, b *Session, suite string) {
	t.Helper()
	ka, kb := srtpKey(t), srtpKey(t)
	if err := a.SetSRTP(&SRTPKeys{Suite: suite, Local: ka, Remote: kb}); err != nil {
		t.Fatal(err)
	}
	if err := b.SetSRTP(&SRTPKeys{Suite: suite, Local: kb, Remote: ka}); err != nil {
		t.Fatal(err)
	}
}

// sniffer forwards UDP between two sessions (a → sniffer → b and back)
// and keeps every RTP payload it forwards, as a capture on the wire
// would see them.
type sniffer struct {
	conn     *net.UDPConn
	captured chan []byte
}

func startSniffer(t testing.TB, a, b *Session) *sniffer {
	t.Helper()
	s := &sniffer{conn: relayPeer(t), captured: make(chan []byte, 1000)}
	a.SetRemote(relayAddr(s.conn))
	b.SetRemote(relayAddr(s.conn))
	aAddr, bAddr := a.LocalAddr(), b.LocalAddr()
	done := make(chan struct{})
	t.Cleanup(func() { s.conn.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := s.conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			to := bAddr
			if from == bAddr {
				to = aAddr
			}
			select {
			case s.captured <- bytes.Clone(buf[:n]):
			default:
			}
			_, _ = s.conn.WriteToUDPAddrPort(buf[:n], to)
		}
	}()
	return s
}

// capturedPCM decodes every captured packet's payload as PCMU, as a
// listener on the wire would.
func (s *sniffer) capturedPCM(t testing.TB) (pcm []int16, packets int) {
	t.Helper()
	for {
		select {
		case b := <-s.captured:
			var p rtp.Packet
			if p.Unmarshal(b) != nil || p.PayloadType != 0 {
				continue
			}
			packets++
			pcm = codec.PCMU().Decode(pcm, p.Payload)
		default:
			return pcm, packets
		}
	}
}

// TestSRTPSessionsHearEachOtherAndTheWireDoesNot: two sessions keyed
// for each other exchange tones (440 Hz one way, 1000 Hz the other)
// through a sniffing forwarder; each hears the other's tone, while the
// payloads captured on the wire, decoded as PCMU, carry neither. The same
// exchange without SRTP shows the tone on the wire, so the capture would
// tell if encryption stopped.
func TestSRTPSessionsHearEachOtherAndTheWireDoesNot(t *testing.T) {
	for _, tc := range []struct {
		name   string
		suite  string
		poller bool
	}{{"plain", "", false}, {"80", SuiteAES128SHA1_80, false}, {"32", SuiteAES128SHA1_32, false}, {"80-poller", SuiteAES128SHA1_80, true}} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := relayLeg(t, codec.PCMU(), 0), relayLeg(t, codec.PCMU(), 0)
			if tc.poller {
				// The sessions' sockets read by a Poller's loop (the
				// server's default) instead of their own goroutines.
				pl, err := NewPoller(1)
				if err != nil {
					t.Skipf("no poller: %v", err)
				}
				t.Cleanup(pl.Close)
				a, b = pollerLeg(t, pl), pollerLeg(t, pl)
			}
			if tc.suite != "" {
				srtpPair(t, a, b, tc.suite)
			}
			sn := startSniffer(t, a, b)
			heardA, heardB := &relayRecorder{}, &relayRecorder{}
			takeAudio(t, a, heardA)
			takeAudio(t, b, heardB)
			const frames = 25
			relaySendTone(t, a, 440, frames)
			relaySendTone(t, b, 1000, frames)
			relayWait(t, "both tones", func() bool {
				return len(heardA.samples()) >= frames*g711Frame && len(heardB.samples()) >= frames*g711Frame
			})
			if !dsp.HasTone(heardB.samples(), 8000, 440) || !dsp.HasTone(heardA.samples(), 8000, 1000) {
				t.Fatal("a tone did not get through")
			}
			wire, n := sn.capturedPCM(t)
			if n < frames {
				t.Fatalf("captured %d PCMU packets, want %d or more", n, frames)
			}
			onWire := dsp.HasTone(wire, 8000, 440) || dsp.HasTone(wire, 8000, 1000)
			if onWire != (tc.suite == "") {
				t.Fatalf("tone audible on the wire: %v, SRTP suite %q", onWire, tc.suite)
			}
			if st := a.Stats(); st.SRTPAuthFailed != 0 || b.Stats().SRTPAuthFailed != 0 {
				t.Fatalf("auth failures: %d, %d", st.SRTPAuthFailed, b.Stats().SRTPAuthFailed)
			}
		})
	}
}

// TestSRTPDropsForgedAndPlainPackets: with SRTP on, a packet whose
// authentication tag is altered, a plain RTP packet and a packet
// encrypted with another key are all dropped and counted, and none
// reaches the consumer; a good packet after them still does.
func TestSRTPDropsForgedAndPlainPackets(t *testing.T) {
	s, peer := pair(t)
	remoteKey := srtpKey(t)
	if err := s.SetSRTP(&SRTPKeys{Suite: SuiteAES128SHA1_80, Local: srtpKey(t), Remote: remoteKey}); err != nil {
		t.Fatal(err)
	}
	heard := &relayRecorder{}
	takeAudio(t, s, heard)
	enc, err := srtp.CreateContext(remoteKey[:16], remoteKey[16:], srtp.ProtectionProfileAes128CmHmacSha1_80)
	if err != nil {
		t.Fatal(err)
	}
	other := srtpKey(t)
	wrong, err := srtp.CreateContext(other[:16], other[16:], srtp.ProtectionProfileAes128CmHmacSha1_80)
	if err != nil {
		t.Fatal(err)
	}
	payload := codec.PCMU().Encode(nil, dsp.Sine(8000, 440, 20*time.Millisecond, 0.3))
	packet := func(seq uint16) []byte {
		p := rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: 9}, Payload: payload}
		b, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	forged, err := enc.EncryptRTP(nil, packet(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	forged[len(forged)-1] ^= 0x55
	otherKey, err := wrong.EncryptRTP(nil, packet(2), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]byte{forged, packet(3), otherKey} {
		send(t, peer, s.LocalAddr(), b)
	}
	relayWait(t, "three auth failures", func() bool { return s.Stats().SRTPAuthFailed == 3 })
	if n := s.Stats().PacketsReceived; n != 0 {
		t.Fatalf("%d bad packets received", n)
	}
	good, err := enc.EncryptRTP(nil, packet(4), nil)
	if err != nil {
		t.Fatal(err)
	}
	send(t, peer, s.LocalAddr(), good)
	relayWait(t, "the good packet", func() bool { return s.Stats().PacketsReceived == 1 })
	// A replay of the good packet is refused (RFC 3711 section 3.3.2).
	send(t, peer, s.LocalAddr(), good)
	relayWait(t, "the replay refused", func() bool { return s.Stats().SRTPAuthFailed == 4 })
}

func TestSRTPBadKeys(t *testing.T) {
	s, _ := pair(t)
	if err := s.SetSRTP(&SRTPKeys{Suite: "AES_256_CM_HMAC_SHA1_80", Local: srtpKey(t), Remote: srtpKey(t)}); !errors.Is(err, ErrSRTPSuite) {
		t.Fatalf("unknown suite: %v", err)
	}
	if err := s.SetSRTP(&SRTPKeys{Suite: SuiteAES128SHA1_80, Local: []byte("short"), Remote: srtpKey(t)}); err == nil {
		t.Fatal("short key accepted")
	}
	if s.SRTP() {
		t.Fatal("SRTP on after failed SetSRTP")
	}
	k := SRTPKeys{Suite: SuiteAES128SHA1_80, Local: srtpKey(t), Remote: srtpKey(t)}
	if got := k.String(); bytes.Contains([]byte(got), k.Local) || got != "SRTP "+SuiteAES128SHA1_80 {
		t.Fatalf("String() = %q", got)
	}
}

// BenchmarkRelaySRTP measures one relayed packet (receive, relay, send
// with its sendto) with plain RTP on both legs ("rtp") and with SRTP on
// both ("srtp": decrypt on the way in, encrypt on the way out), in the
// same run. Each iteration builds the next incoming packet, as the far
// phone would; with SRTP that includes the far phone's encryption, which
// "peer-encrypt" measures alone so that it can be subtracted.
func BenchmarkRelaySRTP(b *testing.B) {
	for _, name := range []string{"rtp", "srtp", "peer-encrypt"} {
		b.Run(name, func(b *testing.B) {
			on := name != "rtp"
			legA, legB := relayLeg(b, codec.PCMU(), 101), relayLeg(b, codec.PCMU(), 101)
			legB.SetRemote(relayAddr(relayPeer(b)))
			from := relayAddr(relayPeer(b))
			legA.SetRemote(from)
			inKey := srtpKey(b)
			var enc *srtp.Context
			if on {
				if err := legA.SetSRTP(&SRTPKeys{Suite: SuiteAES128SHA1_80, Local: srtpKey(b), Remote: inKey}); err != nil {
					b.Fatal(err)
				}
				if err := legB.SetSRTP(&SRTPKeys{Suite: SuiteAES128SHA1_80, Local: srtpKey(b), Remote: srtpKey(b)}); err != nil {
					b.Fatal(err)
				}
				var err error
				if enc, err = srtp.CreateContext(inKey[:16], inKey[16:], srtp.ProtectionProfileAes128CmHmacSha1_80); err != nil {
					b.Fatal(err)
				}
			}
			relayStart(b, legA, legB, RelayOptions{})
			payload := codec.PCMU().Encode(nil, dsp.Sine(8000, 440, 20*time.Millisecond, 0.3))
			out := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 7}, Payload: payload}
			plain := make([]byte, 1500)
			wire := make([]byte, 0, 1500)
			pcm := make([]int16, 0, 2*g711Frame)
			var in rtp.Packet
			b.ReportAllocs()
			for b.Loop() {
				out.SequenceNumber++
				out.Timestamp += g711Frame
				n, err := out.MarshalTo(plain)
				if err != nil {
					b.Fatal(err)
				}
				pkt := plain[:n]
				if on {
					if wire, err = enc.EncryptRTP(wire[:0], pkt, &out.Header); err != nil {
						b.Fatal(err)
					}
					if name == "peer-encrypt" {
						continue
					}
					var ok bool
					if pkt, ok = legA.unprotectRTP(wire); !ok {
						b.Fatal("decrypt failed")
					}
				}
				if err := in.Unmarshal(pkt); err != nil {
					b.Fatal(err)
				}
				pcm = legA.receive(&in, len(pkt), from, time.Now(), pcm)
			}
			b.StopTimer()
			if sent := legB.Stats().PacketsSent; name != "peer-encrypt" && sent < uint64(b.N)/2 {
				b.Fatalf("relayed %d of %d packets", sent, b.N)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/packet")
		})
	}
}

// BenchmarkSRTPTransform measures the SRTP work alone that a relayed
// packet adds: decrypting and authenticating it on the way in, and
// encrypting it on the way out (a 172-byte PCMU packet, 20 ms).
func BenchmarkSRTPTransform(b *testing.B) {
	s, _ := pair(b)
	k := srtpKey(b)
	if err := s.SetSRTP(&SRTPKeys{Suite: SuiteAES128SHA1_80, Local: srtpKey(b), Remote: k}); err != nil {
		b.Fatal(err)
	}
	enc, err := srtp.CreateContext(k[:16], k[16:], srtp.ProtectionProfileAes128CmHmacSha1_80)
	if err != nil {
		b.Fatal(err)
	}
	out := rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 7}, Payload: make([]byte, g711Frame)}
	const n = 4096 // packets encrypted ahead, outside the timer
	wire := make([][]byte, n)
	for i := range wire {
		out.SequenceNumber++
		plain, _ := out.Marshal()
		if wire[i], err = enc.EncryptRTP(nil, plain, nil); err != nil {
			b.Fatal(err)
		}
	}
	buf := make([]byte, 1500)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == n { // start a new stream: the replay window forbids reuse
			b.StopTimer()
			if err := s.SetSRTP(&SRTPKeys{Suite: SuiteAES128SHA1_80, Local: srtpKey(b), Remote: k}); err != nil {
				b.Fatal(err)
			}
			i = 0
			b.StartTimer()
		}
		m := copy(buf, wire[i])
		i++
		pkt, ok := s.unprotectRTP(buf[:m])
		if !ok {
			b.Fatal("decrypt failed")
		}
		s.wmu.Lock()
		_, err := s.protectRTP(pkt)
		s.wmu.Unlock()
		if err != nil {
			b.Fatal(err)
		}
	}
}

// TestSRTPRekeyKeepsSendingContext: a new remote key (a re-INVITE with
// new a=crypto from the peer) keeps the sending context, whose rollover
// counter must not restart under the same local key (RFC 3711 section
// 9.1), also across a spell of plain RTP; a new local key replaces it;
// repeating the keys in force changes nothing.
func TestSRTPRekeyKeepsSendingContext(t *testing.T) {
	s, _ := pair(t)
	local := srtpKey(t)
	set := func(l, r []byte) *srtpState {
		t.Helper()
		if err := s.SetSRTP(&SRTPKeys{Suite: SuiteAES128SHA1_80, Local: l, Remote: r}); err != nil {
			t.Fatal(err)
		}
		return s.srtp.Load()
	}
	remote := srtpKey(t)
	first := set(local, remote)
	if again := set(local, remote); again != first {
		t.Error("the same keys made a new state")
	}
	second := set(local, srtpKey(t))
	if second.tx != first.tx || second.rtcpTx != first.rtcpTx || second.rx == first.rx {
		t.Error("a new remote key replaced the sending contexts or kept the receiving one")
	}
	if err := s.SetSRTP(nil); err != nil || s.SRTP() {
		t.Fatal("SetSRTP(nil) left SRTP on")
	}
	if third := set(local, srtpKey(t)); third.tx != first.tx {
		t.Error("plain RTP in between restarted the sending context")
	}
	if fourth := set(srtpKey(t), srtpKey(t)); fourth.tx == first.tx {
		t.Error("a new local key kept the old sending context")
	}
}

// TestSRTCPReportsAreProtected: two SRTP sessions with RTCP exchange
// reports every 50 ms as SRTCP (RFC 3711 section 3.4): each receives the
// other's and none fails authentication. Reports from a third session
// with other keys are dropped and counted.
func TestSRTCPReportsAreProtected(t *testing.T) {
	leg := func() *Session {
		pr := PortRange{IP: netip.MustParseAddr("127.0.0.1")}
		rtpConn, rtcpConn, err := pr.ListenPair()
		if err != nil {
			t.Fatal(err)
		}
		s := NewSession(rtpConn, SessionConfig{Codec: codec.PCMU(), RTCP: rtcpConn, ReportInterval: 50 * time.Millisecond})
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := leg(), leg()
	relayConnect(a, b)
	srtpPair(t, a, b, SuiteAES128SHA1_80)
	relayWait(t, "SRTCP both ways", func() bool { return a.Stats().RTCPRecv >= 2 && b.Stats().RTCPRecv >= 2 })
	if a.Stats().SRTPAuthFailed != 0 || b.Stats().SRTPAuthFailed != 0 {
		t.Fatalf("auth failures: %d, %d", a.Stats().SRTPAuthFailed, b.Stats().SRTPAuthFailed)
	}
	c := leg()
	if err := c.SetSRTP(&SRTPKeys{Suite: SuiteAES128SHA1_80, Local: srtpKey(t), Remote: srtpKey(t)}); err != nil {
		t.Fatal(err)
	}
	c.SetRemote(a.LocalAddr())
	relayWait(t, "c's reports dropped", func() bool { return a.Stats().SRTPAuthFailed >= 1 })
}

// pollerLeg is relayLeg with its sockets read by pl.
func pollerLeg(t testing.TB, pl *Poller) *Session {
	t.Helper()
	pr := PortRange{IP: netip.MustParseAddr("127.0.0.1")}
	rtpConn, rtcpConn, err := pr.ListenPair()
	if err != nil {
		t.Fatal(err)
	}
	s := NewSession(rtpConn, SessionConfig{Codec: codec.PCMU(), RTCP: rtcpConn, Poller: pl})
	t.Cleanup(func() { s.Close() })
	return s
}
