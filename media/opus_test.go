//go:build opus

package media

import (
	"context"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/switchboard-sip/switchboard/media/codec"
	"github.com/switchboard-sip/switchboard/media/dsp"
)

// opusPT is the dynamic payload type these tests negotiate, other than
// the codec's default 111, so that a sender using the default is caught.
const opusPT = 96

func opusCodec() codec.Codec { return codec.WithPayloadType(codec.Opus(), opusPT) }

// RFC 7587 section 4.1: a session sending Opus stamps 48 kHz time (960
// per 20 ms packet) on the negotiated payload type, and the packets carry
// the 16 kHz tone it was given.
func TestOpusSendTimestamps(t *testing.T) {
	pr := &PortRange{IP: netip.MustParseAddr("127.0.0.1")}
	c, err := pr.Listen()
	if err != nil {
		t.Fatal(err)
	}
	s := NewSession(c, SessionConfig{})
	defer s.Close()
	peer, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	s.SetRemote(peer.LocalAddr().(*net.UDPAddr).AddrPort())
	s.SetCodec(opusCodec(), 0)
	if n := FrameSamples(s.Codec()); n != 320 {
		t.Fatalf("FrameSamples(opus) = %d, want 320 (20 ms at 16 kHz)", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() { _ = Play(ctx, s, dsp.Sine(16000, 1000, 400*time.Millisecond, 0.3)) }()

	dec := codec.NewDecoder(codec.Opus())
	var pcm []int16
	var prev rtp.Header
	buf := make([]byte, 1500)
	for i := range 20 {
		_ = peer.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, _, err := peer.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		var p rtp.Packet
		if err := p.Unmarshal(buf[:n]); err != nil {
			t.Fatal(err)
		}
		if p.PayloadType != opusPT {
			t.Fatalf("packet %d: payload type %d, want the negotiated %d", i, p.PayloadType, opusPT)
		}
		if d := codec.Samples(codec.Opus(), p.Payload); d != 960 {
			t.Fatalf("packet %d: payload of %d units (TOC %#x), want 960", i, d, p.Payload[0])
		}
		if i > 0 && (p.Timestamp-prev.Timestamp != 960 || p.SequenceNumber-prev.SequenceNumber != 1) {
			t.Fatalf("packet %d: timestamp step %d, sequence step %d; want 960 and 1", i,
				p.Timestamp-prev.Timestamp, p.SequenceNumber-prev.SequenceNumber)
		}
		prev = p.Header
		pcm = dec.Decode(pcm, p.Payload)
	}
	if f := dsp.ToneFraction(pcm[1600:], 16000, 1000); f < 0.9 {
		t.Fatalf("1 kHz in %.0f%% of the received audio", f*100)
	}
}

// toneSteps is a tone that changes pitch every 20 ms, so that only the
// lost packet itself (its FEC copy) can say what it held; concealment
// from the past continues the previous pitch.
func toneSteps(packets int) ([]int16, []float64) {
	r := rand.New(rand.NewPCG(3, 5))
	out := make([]int16, 0, packets*320)
	freqs := make([]float64, packets)
	phase := 0.0
	for k := range packets {
		freqs[k] = 300 + 100*float64(r.IntN(28))
		if k > 0 && math.Abs(freqs[k]-freqs[k-1]) < 300 {
			freqs[k] = freqs[k-1] + 700
		}
		for range 320 {
			phase += 2 * math.Pi * freqs[k] / 16000
			out = append(out, int16(8000*math.Sin(phase)))
		}
	}
	return out, freqs
}

func power16k(x []int16, freq float64) float64 {
	k := 2 * math.Cos(2*math.Pi*freq/16000)
	var s1, s2 float64
	for _, v := range x {
		s1, s2 = float64(v)+k*s1-s2, s1
	}
	return s1*s1 + s2*s2 - k*s1*s2
}

// A session's jitter buffer (defaults: 8000 Hz clock, as a mixer or
// recorder pulls) receives Opus over a socket with every seventh packet
// missing: it switches to the 48 kHz clock, counts each missing packet
// once as concealed, and recovers each from the in-band FEC of the packet
// after it, so the lost packet's own pitch dominates where it belongs.
// Measured: +22 dB with FEC; a buffer that hands the decoder no next
// packet (PLC only) gives -15 dB, the previous pitch continued.
func TestOpusJitterBufferRecoversLossWithFEC(t *testing.T) {
	s, tx := ptimeReceiver(t)
	s.SetCodec(opusCodec(), 0)
	r, err := s.TakeFrames("test", JitterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()

	in, freqs := toneSteps(120)
	enc := codec.NewEncoder(codec.Opus())
	lost := map[int]bool{}
	for k := 10; k < 115; k += 7 {
		lost[k] = true
	}
	w := &rtpSender{t: t, conn: tx, to: s.LocalAddr(), seq: 65500, ts: 123456}
	// Lock-step: one packet sent and received, then one frame pulled, so
	// that every packet is exactly the buffer's depth early, whatever
	// the machine's load.
	var out []int16
	var st []FrameStatus
	received := uint64(0)
	for k := 0; k < len(freqs)+10; k++ {
		if k < len(freqs) {
			p := enc.Encode(nil, in[k*320:(k+1)*320])
			if lost[k] {
				w.seq++
			} else {
				w.send(opusPT, k == 0, p)
				received++
				deadline := time.Now().Add(3 * time.Second)
				for s.Stats().PacketsReceived < received {
					if time.Now().After(deadline) {
						t.Fatalf("packet %d not received", k)
					}
					time.Sleep(time.Millisecond)
				}
			}
			w.ts += 960
		}
		pcm, fs := r.ReadFrame(nil)
		if len(pcm) != 320 {
			t.Fatalf("frame of %d samples, want 320", len(pcm))
		}
		if fs == FrameEmpty && len(st) == 0 {
			continue
		}
		out, st = append(out, pcm...), append(st, fs)
	}
	js := r.Stats()
	// The pulls after the stream's end conceal concealFrames frames of
	// underrun before the buffer goes empty.
	if js.Concealed != uint64(len(lost)+concealFrames) || js.Late != 0 || js.Dropped != 0 || js.Played != received {
		t.Fatalf("jitter stats %+v: want %d concealed, %d played", js, len(lost)+concealFrames, received)
	}
	const delay = 104 // libopus's delay at 16 kHz (media/codec's opusDelay)
	var ratio float64
	for k := range lost {
		if st[k] != FrameConcealed {
			t.Fatalf("frame %d is %v, want concealed: %v", k, st[k], st)
		}
		seg := out[k*320+delay+40 : k*320+delay+280]
		ratio += 10 * math.Log10(power16k(seg, freqs[k])/power16k(seg, freqs[k-1]))
	}
	ratio /= float64(len(lost))
	t.Logf("%d lost packets: the lost packet's pitch %+.1f dB over the previous one's", len(lost), ratio)
	if ratio < 6 {
		t.Fatalf("lost packets not recovered from FEC: own pitch only %+.1f dB over the previous one", ratio)
	}
}

func power8k(x []int16, freq float64) float64 {
	k := 2 * math.Cos(2*math.Pi*freq/8000)
	var s1, s2 float64
	for _, v := range x {
		s1, s2 = float64(v)+k*s1-s2, s1
	}
	return s1*s1 + s2*s2 - k*s1*s2
}

// A relay transcoding Opus to PCMU (a WebRTC gateway's leg to a phone) is
// the only receiver of the Opus stream, so it recovers each lost packet
// from the in-band FEC of the next and sends it in its place: the PCMU
// phone gets every packet, in sequence, 160 ticks apart, and the lost
// packets hold their own pitch, not the previous packet's.
func TestOpusRelayRecoversLossToPCMU(t *testing.T) {
	legA, legB := relayLeg(t, opusCodec(), 0), relayLeg(t, codec.PCMU(), 0)
	phoneA, phoneB := relayPeer(t), relayPeer(t)
	legA.SetRemote(relayAddr(phoneA))
	legB.SetRemote(relayAddr(phoneB))
	r := relayStart(t, legA, legB, RelayOptions{})

	const packets = 60
	in, freqs := toneSteps(packets)
	enc := codec.NewEncoder(codec.Opus())
	lost := map[int]bool{}
	for k := 10; k < packets-2; k += 7 {
		lost[k] = true
	}
	w := &rtpSender{t: t, conn: phoneA, to: legA.LocalAddr(), seq: 65530, ts: 4000000000}
	var out []int16
	var prev rtp.Header
	for k := range packets {
		p := enc.Encode(nil, in[k*320:(k+1)*320])
		if lost[k] {
			w.seq++
			w.ts += 960
			continue
		}
		w.send(opusPT, k == 0, p)
		w.ts += 960
		n := 1
		if lost[k-1] {
			n = 2 // the recovered packet, then this one
		}
		for range n {
			q := relayReadRTP(t, phoneB)
			if len(out) > 0 && (q.SequenceNumber-prev.SequenceNumber != 1 || q.Timestamp-prev.Timestamp != 160) {
				t.Fatalf("packet %d: sequence step %d, timestamp step %d; want 1 and 160", len(out)/160,
					q.SequenceNumber-prev.SequenceNumber, q.Timestamp-prev.Timestamp)
			}
			if q.PayloadType != 0 || len(q.Payload) != 160 {
				t.Fatalf("packet %d: PT %d, %d bytes; want PCMU, 160", len(out)/160, q.PayloadType, len(q.Payload))
			}
			prev = q.Header
			out = codec.PCMU().Decode(out, q.Payload)
		}
	}
	st := r.Stats().AtoB
	if st.Recovered != uint64(len(lost)) || st.Transcoded != packets || st.Dropped != 0 {
		t.Fatalf("relay stats %+v: want %d recovered, %d transcoded", st, len(lost), packets)
	}
	const delay = 104 / 2 // libopus's delay, at 8 kHz
	var ratio float64
	for k := range lost {
		seg := out[k*160+delay+20 : k*160+delay+140]
		ratio += 10 * math.Log10(power8k(seg, freqs[k])/power8k(seg, freqs[k-1]))
	}
	ratio /= float64(len(lost))
	t.Logf("%d lost packets recovered by the relay: own pitch %+.1f dB over the previous one's", len(lost), ratio)
	if ratio < 6 {
		t.Fatalf("recovered packets hold %+.1f dB of their own pitch over the previous one's: FEC not used", ratio)
	}
}

// RFC 4733 section 2.1: telephone-events are timed in the audio's clock,
// so a relay between an Opus leg (events at 48 kHz) and a PCMU leg (8000)
// converts the events' timestamps and duration fields: a 80 ms key press
// is 3840 units on one side and 640 on the other, and the audio after it
// continues at the event's end.
func TestOpusRelayConvertsDTMFClock(t *testing.T) {
	legA, legB := relayLeg(t, opusCodec(), 110), relayLeg(t, codec.PCMU(), 101)
	phoneA, phoneB := relayPeer(t), relayPeer(t)
	legA.SetRemote(relayAddr(phoneA))
	legB.SetRemote(relayAddr(phoneB))
	r := relayStart(t, legA, legB, RelayOptions{})
	keys := make(chan rune, 4)
	r.OnDTMF(func(_ *Flow, ev DTMFEvent) { keys <- ev.Digit })

	enc := codec.NewEncoder(codec.Opus())
	tone, _ := toneSteps(2)
	w := &rtpSender{t: t, conn: phoneA, to: legA.LocalAddr(), seq: 100, ts: 48000}
	w.send(opusPT, true, enc.Encode(nil, tone[:320]))
	first := relayReadRTP(t, phoneB)
	w.ts += 960
	start := w.ts
	for i, d := range []uint16{960, 1920, 2880, 3840, 3840, 3840} {
		end := byte(0)
		if i >= 3 {
			end = 0x80
		}
		w.send(110, i == 0, []byte{5, end | 10, byte(d >> 8), byte(d)})
		q := relayReadRTP(t, phoneB)
		got := uint16(q.Payload[2])<<8 | uint16(q.Payload[3])
		if q.PayloadType != 101 || q.Timestamp != first.Timestamp+160 || got != d/6 || q.Payload[1]&0x80 != end {
			t.Fatalf("event packet %d: PT %d ts +%d duration %d end %v; want PT 101, ts +160, duration %d",
				i, q.PayloadType, q.Timestamp-first.Timestamp, got, q.Payload[1]&0x80 != 0, d/6)
		}
	}
	w.ts = start + 3840
	w.send(opusPT, false, enc.Encode(nil, tone[320:]))
	q := relayReadRTP(t, phoneB)
	// The relay repeats the key's first end packet (RFC 4733 section
	// 2.5.1.4): the repeats, identical to it, may come first.
	for repeats := 0; q.PayloadType == 101 && repeats < 4; repeats++ {
		if q.Timestamp != first.Timestamp+160 || q.Payload[1]&0x80 == 0 {
			t.Fatalf("after the event: PT 101 at ts +%d end %v, want a repeat of its end", q.Timestamp-first.Timestamp, q.Payload[1]&0x80 != 0)
		}
		q = relayReadRTP(t, phoneB)
	}
	if q.PayloadType != 0 || q.Timestamp != first.Timestamp+160+640 {
		t.Fatalf("audio after the event: PT %d at ts +%d, want PCMU at +800", q.PayloadType, q.Timestamp-first.Timestamp)
	}
	select {
	case k := <-keys:
		if k != '5' {
			t.Fatalf("key %q, want 5", k)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("key press not reported")
	}
}
