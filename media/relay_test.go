package media

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/media/codec"
	"github.com/switchboard-sip/switchboard/media/dsp"
)

// relayLeg returns a session on 127.0.0.1 with its RTCP socket, closed on
// cleanup.
func relayLeg(t testing.TB, c codec.Codec, dtmfPT uint8) *Session {
	t.Helper()
	pr := PortRange{IP: netip.MustParseAddr("127.0.0.1")}
	rtpConn, rtcpConn, err := pr.ListenPair()
	if err != nil {
		t.Fatal(err)
	}
	s := NewSession(rtpConn, SessionConfig{Codec: c, DTMFPayloadType: dtmfPT, RTCP: rtcpConn})
	t.Cleanup(func() { s.Close() })
	return s
}

// relayPeer returns a plain UDP socket on 127.0.0.1, closed on cleanup.
func relayPeer(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func relayAddr(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

// relayConnect points two sessions at each other, as their SDP would.
func relayConnect(a, b *Session) {
	a.SetRemote(b.LocalAddr())
	b.SetRemote(a.LocalAddr())
}

// relayStart starts a relay between a and b, closed on cleanup.
func relayStart(t testing.TB, a, b *Session, opts RelayOptions) *Relay {
	t.Helper()
	r := newRelay(t, a, b, opts)
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// newRelay returns a relay between two sessions, not started.
func newRelay(t testing.TB, a, b *Session, opts RelayOptions) *Relay {
	t.Helper()
	r, err := NewRelay(NewFlow(a), NewFlow(b), opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// takeAudio makes sink the consumer of s's received audio.
func takeAudio(t testing.TB, s *Session, sink audio.Sink) (release func()) {
	t.Helper()
	release, err := s.TakeAudio("test", sink, AudioOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return release
}

// relayRecorder is an audio.Sink that keeps what it hears.
type relayRecorder struct {
	mu  sync.Mutex
	pcm []int16
}

func (r *relayRecorder) WriteAudio(pcm []int16) {
	r.mu.Lock()
	r.pcm = append(r.pcm, pcm...)
	r.mu.Unlock()
}

func (r *relayRecorder) samples() []int16 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int16(nil), r.pcm...)
}

// relayWait polls cond until it holds, failing the test after 3 s.
func relayWait(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func relayReadRTP(t testing.TB, c *net.UDPConn) rtp.Packet {
	t.Helper()
	buf := make([]byte, 1500)
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, _, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	var p rtp.Packet
	if err := p.Unmarshal(buf[:n]); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRelaySameCodecRewritesHeaders sends a stream that wraps its sequence
// number and timestamp, loses a packet, repeats a late one and changes
// SSRC; the far side gets the payloads unchanged in the leg's own stream.
func TestRelaySameCodecRewritesHeaders(t *testing.T) {
	legA, legB := relayLeg(t, codec.PCMU(), 101), relayLeg(t, codec.PCMU(), 101)
	phoneA, phoneB := relayPeer(t), relayPeer(t)
	legA.SetRemote(relayAddr(phoneA))
	legB.SetRemote(relayAddr(phoneB))
	r := relayStart(t, legA, legB, RelayOptions{})

	type src struct {
		ssrc   uint32
		seq    uint16
		ts     uint32
		marker bool
	}
	var sent [][]byte // payloads the far side must get, in order
	packet := func(h src, fill byte) {
		p := rtp.Packet{
			Header:  rtp.Header{Version: 2, PayloadType: 0, SSRC: h.ssrc, SequenceNumber: h.seq, Timestamp: h.ts, Marker: h.marker},
			Payload: bytes.Repeat([]byte{fill}, g711Frame),
		}
		b, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := phoneA.WriteToUDPAddrPort(b, legA.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	// Stream 1 wraps both counters; seq 65534 is lost; 65533 comes again late.
	seq, ts := uint16(65531), uint32(1<<32-320)
	for i := range 6 {
		if i == 3 {
			seq, ts = seq+1, ts+g711Frame // lost
		}
		packet(src{ssrc: 0x1111, seq: seq, ts: ts, marker: i == 0}, byte(i))
		sent = append(sent, bytes.Repeat([]byte{byte(i)}, g711Frame))
		seq, ts = seq+1, ts+g711Frame
	}
	packet(src{ssrc: 0x1111, seq: 65533, ts: 2*g711Frame - 320}, 0xee) // late (wrapped)
	// Stream 2: another SSRC with unrelated counters and no marker.
	for i := range 4 {
		packet(src{ssrc: 0x2222, seq: 7 + uint16(i), ts: 900_000 + uint32(i)*g711Frame}, byte(0x80+i))
		sent = append(sent, bytes.Repeat([]byte{byte(0x80 + i)}, g711Frame))
	}

	var got []rtp.Packet
	for range sent {
		got = append(got, relayReadRTP(t, phoneB))
	}
	for i, p := range got {
		if p.SSRC != legB.SSRC() || p.PayloadType != 0 || !bytes.Equal(p.Payload, sent[i]) {
			t.Fatalf("packet %d: ssrc %#x pt %d payload %x…, want ssrc %#x pt 0 payload %x…",
				i, p.SSRC, p.PayloadType, p.Payload[:2], legB.SSRC(), sent[i][:2])
		}
		if wantMarker := i == 0 || i == 6; p.Marker != wantMarker {
			t.Errorf("packet %d: marker %v, want %v", i, p.Marker, wantMarker)
		}
		if i == 0 {
			continue
		}
		dseq, dts := p.SequenceNumber-got[i-1].SequenceNumber, p.Timestamp-got[i-1].Timestamp
		switch i {
		case 3: // after the loss, which the far side must see
			if dseq != 2 || dts != 2*g711Frame {
				t.Errorf("packet %d (after a loss): seq +%d ts +%d, want +2 +320", i, dseq, dts)
			}
		case 6: // new source: continuous, by the time that passed
			if dseq != 1 || dts < g711Frame || dts > 8000 {
				t.Errorf("packet %d (new SSRC): seq +%d ts +%d, want +1 and 160…8000", i, dseq, dts)
			}
		default:
			if dseq != 1 || dts != g711Frame {
				t.Errorf("packet %d: seq +%d ts +%d, want +1 +160", i, dseq, dts)
			}
		}
	}
	relayWait(t, "relay counters", func() bool { return r.Stats().AtoB.Forwarded == uint64(len(sent)) })
	if st := r.Stats(); st.AtoB.Dropped != 1 || st.AtoB.Transcoded != 0 || st.BtoA != (RelayDirectionStats{}) {
		t.Errorf("stats %+v, want 1 late packet dropped and nothing else", st)
	}
}

// relayPhone is a far-end phone: a session connected to a leg that records
// what it hears.
func relayPhone(t testing.TB, leg *Session, c codec.Codec, dtmfPT uint8) (*Session, *relayRecorder) {
	t.Helper()
	p := relayLeg(t, c, dtmfPT)
	relayConnect(p, leg)
	rec := &relayRecorder{}
	takeAudio(t, p, rec)
	return p, rec
}

func relaySendTone(t testing.TB, s *Session, freq float64, frames int) {
	t.Helper()
	pcm := dsp.Sine(8000, freq, time.Duration(frames)*20*time.Millisecond, 0.3)
	for i := 0; i < len(pcm); i += g711Frame {
		if err := s.WriteFrame(pcm[i : i+g711Frame]); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRelayTranscodesPCMUAndPCMA plays a 440 Hz tone from a PCMU phone to a
// PCMA phone and 1000 Hz back; each hears the other's tone.
func TestRelayTranscodesPCMUAndPCMA(t *testing.T) {
	legA, legB := relayLeg(t, codec.PCMU(), 0), relayLeg(t, codec.PCMA(), 0)
	phoneA, heardA := relayPhone(t, legA, codec.PCMU(), 0)
	phoneB, heardB := relayPhone(t, legB, codec.PCMA(), 0)
	r := relayStart(t, legA, legB, RelayOptions{})

	const frames = 25
	relaySendTone(t, phoneA, 440, frames)
	relaySendTone(t, phoneB, 1000, frames)
	relayWait(t, "both tones", func() bool {
		return len(heardA.samples()) >= frames*g711Frame && len(heardB.samples()) >= frames*g711Frame
	})
	a, b := heardA.samples(), heardB.samples()
	if f := dsp.ToneFraction(b, 8000, 440); f < 0.95 {
		t.Errorf("PCMA phone hears 440 Hz in %.0f%% of the windows", 100*f)
	}
	if f := dsp.ToneFraction(a, 8000, 1000); f < 0.95 {
		t.Errorf("PCMU phone hears 1000 Hz in %.0f%% of the windows", 100*f)
	}
	if dsp.HasTone(b, 8000, 1000) || dsp.HasTone(a, 8000, 440) {
		t.Error("a phone hears its own tone")
	}
	if d := phoneB.Stats().Dropped + phoneA.Stats().Dropped; d != 0 {
		t.Errorf("phones dropped %d packets (wrong payload type?)", d)
	}
	st := r.Stats()
	if st.AtoB.Transcoded != frames || st.BtoA.Transcoded != frames || st.AtoB.Forwarded+st.BtoA.Forwarded != 0 {
		t.Errorf("stats %+v, want %d transcoded each way", st, frames)
	}
}

// TestRelayFollowsCodecChange forwards PCMU as is, then transcodes once the
// far leg switches to PCMA (a re-INVITE).
func TestRelayFollowsCodecChange(t *testing.T) {
	legA, legB := relayLeg(t, codec.PCMU(), 101), relayLeg(t, codec.PCMU(), 101)
	phoneA, _ := relayPhone(t, legA, codec.PCMU(), 101)
	phoneB := relayPeer(t)
	legB.SetRemote(relayAddr(phoneB))
	r := relayStart(t, legA, legB, RelayOptions{})

	frame := dsp.Sine(8000, 440, 20*time.Millisecond, 0.3)
	if err := phoneA.WriteFrame(frame); err != nil {
		t.Fatal(err)
	}
	first := relayReadRTP(t, phoneB)
	if first.PayloadType != 0 || !bytes.Equal(first.Payload, codec.PCMU().Encode(nil, frame)) {
		t.Fatalf("before: pt %d, payload not the PCMU frame", first.PayloadType)
	}
	legB.SetCodec(codec.PCMA(), 101)
	if err := phoneA.WriteFrame(frame); err != nil {
		t.Fatal(err)
	}
	second := relayReadRTP(t, phoneB)
	want := codec.PCMA().Encode(nil, codec.PCMU().Decode(nil, codec.PCMU().Encode(nil, frame)))
	if second.PayloadType != 8 || !bytes.Equal(second.Payload, want) {
		t.Fatalf("after: pt %d, payload not the transcoded frame", second.PayloadType)
	}
	if second.SequenceNumber != first.SequenceNumber+1 || second.Timestamp != first.Timestamp+g711Frame {
		t.Errorf("stream broken by the codec change: %v then %v", first.Header, second.Header)
	}
	relayWait(t, "relay counters", func() bool { return r.Stats().AtoB.Transcoded == 1 })
	if st := r.Stats().AtoB; st.Forwarded != 1 {
		t.Errorf("stats %+v, want 1 forwarded then 1 transcoded", st)
	}
}

// relayKeys collects key presses from several goroutines.
type relayKeys struct {
	mu   sync.Mutex
	keys []rune
	to   []*Session
}

func (k *relayKeys) add(to *Flow, ev DTMFEvent) {
	k.mu.Lock()
	k.keys = append(k.keys, ev.Digit)
	k.to = append(k.to, to.session())
	k.mu.Unlock()
}

func (k *relayKeys) String() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return string(k.keys)
}

// relayFence sends one frame of silence after what phone sent before and waits
// until the far phone hears it: packets arrive and are relayed in order,
// so everything sent before has been handled.
func relayFence(t testing.TB, phone *Session, heard *relayRecorder, before int) {
	t.Helper()
	if err := phone.WriteFrame(make([]int16, g711Frame)); err != nil {
		t.Fatal(err)
	}
	relayWait(t, "the fence frame", func() bool { return len(heard.samples()) >= before+g711Frame })
}

// TestRelayDTMFRewritesPayloadType relays key presses from a leg that
// negotiated telephone-event as 96 to one that uses 101; the far phone
// reports each once, and so does every OnDTMF handler of the relay but the
// one removed.
func TestRelayDTMFRewritesPayloadType(t *testing.T) {
	legA, legB := relayLeg(t, codec.PCMU(), 96), relayLeg(t, codec.PCMU(), 101)
	phoneA, _ := relayPhone(t, legA, codec.PCMU(), 96)
	phoneB, heardB := relayPhone(t, legB, codec.PCMU(), 101)
	var atPhone, atRelay relayKeys
	phoneB.OnDTMF(func(ev DTMFEvent) { atPhone.add(nil, ev) })
	r := relayStart(t, legA, legB, RelayOptions{})
	r.OnDTMF(atRelay.add)
	var second, removed relayKeys
	r.OnDTMF(removed.add)()
	r.OnDTMF(second.add)

	for _, key := range "5#" {
		if err := phoneA.SendDTMF(context.Background(), key, 40*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	relayFence(t, phoneA, heardB, 0)
	if got := atPhone.String(); got != "5#" {
		t.Errorf("far phone got keys %q, want \"5#\"", got)
	}
	if got := atRelay.String(); got != "5#" || atRelay.to[0] != legB || atRelay.to[1] != legB {
		t.Errorf("relay reported %q, want \"5#\" toward leg B", got)
	}
	if got := second.String(); got != "5#" {
		t.Errorf("second relay handler got %q, want \"5#\"", got)
	}
	if got := removed.String(); got != "" {
		t.Errorf("removed relay handler got %q", got)
	}
	if d := phoneB.Stats().Dropped; d != 0 {
		t.Errorf("far phone dropped %d packets (payload type not rewritten?)", d)
	}
	if len(heardB.samples()) != g711Frame {
		t.Errorf("far phone heard %d samples, want only the fence frame", len(heardB.samples()))
	}
	if st := r.Stats().AtoB; st.DTMF < 2*4 || st.Dropped != 0 {
		t.Errorf("stats %+v, want 2 events of at least 4 packets", st)
	}
}

// TestRelayDTMFInband relays a key press to a leg without telephone-event:
// the far phone hears the key as tones in a continuous stream, or, with
// NoInbandDTMF, hears nothing while the relay still reports it.
func TestRelayDTMFInband(t *testing.T) {
	for _, noInband := range []bool{false, true} {
		legA, legB := relayLeg(t, codec.PCMU(), 101), relayLeg(t, codec.PCMA(), 0)
		phoneA, _ := relayPhone(t, legA, codec.PCMU(), 101)
		phoneB := relayPeer(t)
		legB.SetRemote(relayAddr(phoneB))
		r := relayStart(t, legA, legB, RelayOptions{NoInbandDTMF: noInband})
		var atRelay relayKeys
		r.OnDTMF(atRelay.add)

		silence := make([]int16, g711Frame)
		if err := phoneA.WriteFrame(silence); err != nil {
			t.Fatal(err)
		}
		if err := phoneA.SendDTMF(context.Background(), '7', 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if err := phoneA.WriteFrame(silence); err != nil {
			t.Fatal(err)
		}
		// A silent frame, 100 ms of tone in 20 ms packets (a talkspurt:
		// marker bit), then a silent frame, which starts a talkspurt after
		// the event. Without tones, the key press is a gap of 100 ms.
		packets, gap := 2, uint32(g711Frame+800)
		if !noInband {
			packets, gap = 7, g711Frame
		}
		var pcm []int16
		var prevRelayed rtp.Packet
		for i := range packets {
			p := relayReadRTP(t, phoneB)
			pcm = codec.PCMA().Decode(pcm, p.Payload)
			if p.PayloadType != 8 || len(p.Payload) != g711Frame || p.Marker != (i <= 1 || i == packets-1) {
				t.Fatalf("noInband=%v: packet %d: pt %d, %d bytes, marker %v", noInband, i, p.PayloadType, len(p.Payload), p.Marker)
			}
			if i > 0 && (p.SequenceNumber != prevRelayed.SequenceNumber+1 || p.Timestamp != prevRelayed.Timestamp+g711Frame && !(i == packets-1 && p.Timestamp == prevRelayed.Timestamp+gap)) {
				t.Errorf("noInband=%v: packet %d does not follow: %v after %v", noInband, i, p.Header, prevRelayed.Header)
			}
			prevRelayed = p
		}
		if !allSilent(pcm[len(pcm)-g711Frame:]) {
			t.Errorf("noInband=%v: the last packet is not the silent frame", noInband)
		}
		var keys []rune
		det := dsp.NewDTMFDetector(8000)
		for i := 0; i < len(pcm); i += g711Frame {
			keys = append(keys, det.Write(pcm[i:i+g711Frame])...)
		}
		if want := map[bool]string{false: "7", true: ""}[noInband]; string(keys) != want {
			t.Errorf("noInband=%v: far phone heard keys %q, want %q", noInband, string(keys), want)
		}
		if got := atRelay.String(); got != "7" || atRelay.to[0] != legB {
			t.Errorf("noInband=%v: relay reported %q, want \"7\" toward leg B", noInband, got)
		}
	}
}

func allSilent(pcm []int16) bool {
	for _, v := range pcm {
		if v > 16 || v < -16 {
			return false
		}
	}
	return true
}

// TestRelayCloseRestoresSessions checks that the relay is the one consumer
// of its legs' media (a second taker is refused with an error naming the
// relay, and a leg with a consumer cannot be relayed), then closes the
// relay (twice, concurrently) and checks that the leg's media can be taken
// again and that Start after Close fails.
func TestRelayCloseRestoresSessions(t *testing.T) {
	legA, legB := relayLeg(t, codec.PCMU(), 101), relayLeg(t, codec.PCMU(), 101)
	phoneA, _ := relayPhone(t, legA, codec.PCMU(), 101)
	_, heardB := relayPhone(t, legB, codec.PCMU(), 101)
	heardA := &relayRecorder{}

	busy := relayLeg(t, codec.PCMU(), 101)
	releaseBusy := takeAudio(t, busy, heardA)
	if err := newRelay(t, legA, busy, RelayOptions{}).Start(); !errors.Is(err, ErrConsumed) || !strings.Contains(err.Error(), "test (audio)") {
		t.Fatalf("relaying a leg whose media is taken: %v", err)
	}
	releaseBusy()

	r := newRelay(t, legA, legB, RelayOptions{})
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	_, err := legA.TakeAudio("recorder", heardA, AudioOptions{})
	var ce *ConsumerError
	if !errors.As(err, &ce) || ce.Owner != "b2b relay" || ce.Mode != "packets" || err.Error() != "media: received media already taken by b2b relay (packets)" {
		t.Fatalf("second consumer of a relayed leg: %v", err)
	}
	if _, err := legB.TakeFrames("mixer", JitterConfig{}); !errors.Is(err, ErrConsumed) {
		t.Fatalf("second consumer (frames) of a relayed leg: %v", err)
	}
	relayFence(t, phoneA, heardB, 0)
	if n := len(heardA.samples()); n != 0 {
		t.Fatalf("relayed leg decoded %d samples", n)
	}

	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { r.Close() })
	}
	wg.Wait()
	if err := r.Start(); !errors.Is(err, ErrRelayClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
	takeAudio(t, legA, heardA)
	before := r.Stats()
	relaySendTone(t, phoneA, 440, 5)
	relayWait(t, "the leg's own audio", func() bool { return len(heardA.samples()) >= 5*g711Frame })
	if f := dsp.ToneFraction(heardA.samples(), 8000, 440); f < 0.95 {
		t.Errorf("leg hears 440 Hz in %.0f%% of the windows after Close", 100*f)
	}
	if r.Stats() != before || len(heardB.samples()) != g711Frame {
		t.Error("the relay still forwards after Close")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
}

// FuzzRelayPacket feeds arbitrary packets to one direction of a relay that
// transcodes and plays DTMF in-band (the far leg has no remote, so nothing
// is sent): it must not panic and must count every packet once.
func FuzzRelayPacket(f *testing.F) {
	legA, legB := relayLeg(f, codec.PCMU(), 96), relayLeg(f, codec.PCMA(), 0)
	f.Add([]byte{0, 0, 1, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{96, 0, 1, 0, 0, 0, 0, 1, 5, 0x8a, 0x03, 0x20, 96, 0, 2, 0, 0, 0, 0, 0, 5, 0x8a, 0x03, 0x20})
	f.Add([]byte{96, 0, 1, 0, 0, 0, 0, 1, 11, 0x0a, 0xff, 0xff, 0, 0xff, 0xf0, 0x80, 0, 0, 0, 0, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := newRelay(t, legA, legB, RelayOptions{})
		n := 0
		for ; len(data) >= 12; data = data[12:] {
			pt := data[0] & 0x7f
			seq := uint16(data[1])<<8 | uint16(data[2])
			ts := uint32(data[3])<<24 | uint32(data[4])<<16 | uint32(data[5])<<8 | uint32(data[6])
			r.ab.handle(pt, seq, ts, data[7]&1 != 0, data[8:12])
			n++
		}
		st := r.Stats().AtoB
		if total := st.Forwarded + st.Transcoded + st.DTMF + st.Dropped; total != uint64(n) {
			t.Fatalf("%d packets, counted %d: %+v", n, total, st)
		}
	})
}

// relayBench measures one direction of a relay per packet, its far leg
// sending to a socket that is never read (hold: not sending at all).
func relayBench(b *testing.B, dst codec.Codec, hold bool) {
	legA, legB := relayLeg(b, codec.PCMU(), 101), relayLeg(b, dst, 101)
	legB.SetRemote(relayAddr(relayPeer(b)))
	legB.SetSending(!hold)
	r := newRelay(b, legA, legB, RelayOptions{})
	payload := codec.PCMU().Encode(nil, dsp.Sine(8000, 440, 20*time.Millisecond, 0.3))
	seq, ts := uint16(1), uint32(0)
	b.ReportAllocs()
	for b.Loop() {
		r.ab.handle(0, seq, ts, false, payload)
		seq, ts = seq+1, ts+g711Frame
	}
	b.StopTimer()
	if st := r.Stats().AtoB; st.Dropped != 0 {
		b.Fatalf("dropped %d packets", st.Dropped)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/packet")
}

func BenchmarkRelaySameCodec(b *testing.B) {
	b.Run("send", func(b *testing.B) { relayBench(b, codec.PCMU(), false) })
	b.Run("hold", func(b *testing.B) { relayBench(b, codec.PCMU(), true) })
}

func BenchmarkRelayTranscode(b *testing.B) {
	b.Run("send", func(b *testing.B) { relayBench(b, codec.PCMA(), false) })
	// PCMU to G.722: decode, resample 8 to 16 kHz, encode (issue 19).
	b.Run("g722", func(b *testing.B) { relayBench(b, codec.G722(), false) })
	b.Run("hold", func(b *testing.B) { relayBench(b, codec.PCMA(), true) })
}

// BenchmarkRelayReceivePath measures one relayed packet from the receiving
// session's packet handling (statistics, latching, consumer, observers)
// to the other session's send, without the socket read: with no observer
// (the relay decodes nothing), with one heard observer on the receiving
// leg, and with a heard and a sent observer on each leg (four observers,
// two decodes per packet); each also with the far leg on hold, which
// leaves out the sendto syscall that dominates the rest.
func BenchmarkRelayReceivePath(b *testing.B) {
	for _, tc := range []struct {
		name      string
		observers int
		hold      bool
	}{{"no-observer", 0, false}, {"one-observer", 1, false}, {"four-observers", 4, false},
		{"no-observer-hold", 0, true}, {"one-observer-hold", 1, true}, {"four-observers-hold", 4, true}} {
		b.Run(tc.name, func(b *testing.B) {
			legA, legB := relayLeg(b, codec.PCMU(), 101), relayLeg(b, codec.PCMU(), 101)
			legB.SetRemote(relayAddr(relayPeer(b)))
			// On hold the far leg sends nothing: what is left is the
			// relay's and observers' own work, without the sendto.
			legB.SetSending(!tc.hold)
			from := relayAddr(relayPeer(b))
			legA.SetRemote(from)
			relayStart(b, legA, legB, RelayOptions{})
			var heard atomic.Int64
			count := audio.SinkFunc(func(pcm []int16) { heard.Add(int64(len(pcm))) })
			switch tc.observers {
			case 1:
				legA.ObserveHeard(count)
			case 4:
				legA.ObserveHeard(count)
				legA.ObserveSent(count)
				legB.ObserveHeard(count)
				legB.ObserveSent(count)
			}
			payload := codec.PCMU().Encode(nil, dsp.Sine(8000, 440, 20*time.Millisecond, 0.3))
			p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 7}, Payload: payload}
			pcm := make([]int16, 0, 2*g711Frame)
			b.ReportAllocs()
			for b.Loop() {
				p.SequenceNumber++
				p.Timestamp += g711Frame
				pcm = legA.receive(&p, 172, from, time.Now(), pcm)
			}
			b.StopTimer()
			st := legA.Stats()
			if tc.observers == 0 && (st.Decoded != 0 || heard.Load() != 0) {
				b.Fatalf("relay without observers decoded %d payloads", st.Decoded)
			}
			if tc.observers > 0 && heard.Load() == 0 {
				b.Fatal("observer saw nothing")
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/packet")
		})
	}
}

// TestRelayTranscodesG722AndPCMU: a G.722 phone (16 kHz) and a PCMU phone
// (8 kHz) hear each other's tones through a relay that decodes with one
// leg's decoder, resamples and encodes with the other leg's encoder; the
// G.722 side gets 160-octet packets 160 timestamp units apart.
func TestRelayTranscodesG722AndPCMU(t *testing.T) {
	legA, legB := relayLeg(t, codec.G722(), 0), relayLeg(t, codec.PCMU(), 0)
	phoneA, heardA := relayPhone(t, legA, codec.G722(), 0)
	phoneB, heardB := relayPhone(t, legB, codec.PCMU(), 0)
	r := relayStart(t, legA, legB, RelayOptions{})

	const frames = 25
	send := func(s *Session, rate int, freq float64) {
		pcm := dsp.Sine(rate, freq, frames*20*time.Millisecond, 0.3)
		for i := 0; i < len(pcm); i += rate / 50 {
			if err := s.WriteFrame(pcm[i : i+rate/50]); err != nil {
				t.Fatal(err)
			}
		}
	}
	send(phoneA, 16000, 500)
	send(phoneB, 8000, 900)
	relayWait(t, "both tones", func() bool {
		// The relay counts a packet after sending it: wait for the count too.
		st := r.Stats()
		return len(heardA.samples()) >= frames*320 && len(heardB.samples()) >= frames*g711Frame &&
			st.AtoB.Transcoded >= frames && st.BtoA.Transcoded >= frames
	})
	a, b := heardA.samples(), heardB.samples()
	if f := dsp.ToneFraction(b[g711Frame:], 8000, 500); f < 0.9 {
		t.Errorf("PCMU phone hears 500 Hz in %.0f%% of the windows", 100*f)
	}
	if f := dsp.ToneFraction(a[320:], 16000, 900); f < 0.9 {
		t.Errorf("G.722 phone hears 900 Hz in %.0f%% of the windows", 100*f)
	}
	if len(a) != frames*320 || len(b) != frames*g711Frame {
		t.Errorf("heard %d and %d samples, want %d and %d: frames resized", len(a), len(b), frames*320, frames*g711Frame)
	}
	if d := phoneB.Stats().Dropped + phoneA.Stats().Dropped; d != 0 {
		t.Errorf("phones dropped %d packets", d)
	}
	st := r.Stats()
	if st.AtoB.Transcoded != frames || st.BtoA.Transcoded != frames {
		t.Errorf("stats %+v, want %d transcoded each way", st, frames)
	}
}
