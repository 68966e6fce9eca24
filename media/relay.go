package media

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-sip/switchboard/internal/serial"
	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/media/codec"
	"github.com/switchboard-sip/switchboard/media/dsp"
)

// This file implements the media relay of a back-to-back call: what one
// leg's session receives is sent by the other leg's session.

// RelayOptions configures a Relay. The zero value is valid.
type RelayOptions struct {
	// NoInbandDTMF stops the relay from playing key presses as in-band
	// tones to a leg that negotiated no telephone-event; the presses are
	// then only reported to the OnDTMF handler (for SIP INFO, say).
	// Default false: such a leg hears the tones.
	NoInbandDTMF bool
}

// RelayStats are the counters of a Relay, one set per direction.
type RelayStats struct {
	// AtoB counts what the first session received and the relay handled;
	// BtoA what the second session received.
	AtoB, BtoA RelayDirectionStats
}

// RelayDirectionStats count the packets of one direction of a Relay. Each
// packet the receiving session hands to the relay is counted once; a
// packet the other session does not send because it is on hold (see
// Session.SetSending) counts as relayed.
type RelayDirectionStats struct {
	// Forwarded counts audio packets forwarded without decoding (both legs
	// use the same codec).
	Forwarded uint64
	// Transcoded counts audio packets decoded and re-encoded with the
	// other leg's codec.
	Transcoded uint64
	// DTMF counts RFC 4733 telephone-event packets: relayed with the other
	// leg's payload type, played as in-band tones, or only reported.
	DTMF uint64
	// Recovered counts lost packets of a transcoded stream recreated from
	// the packet after them (Opus in-band FEC, RFC 7587 section 3.3) and
	// sent in their place: the other leg hears them instead of its own
	// concealment. Each is also counted in Transcoded.
	Recovered uint64
	// Dropped counts packets not relayed: late or duplicated, malformed,
	// of a payload type the leg no longer uses, with no codec on the other
	// leg, or that failed to send.
	Dropped uint64
}

// Relay forwards the media of a back-to-back call between the sessions of
// its two legs. Each session keeps its own SSRC, sequence numbers and
// timestamps toward its peer: the relay rewrites them, carrying over the
// source's timestamp steps (silence, DTMF), its losses (as gaps in the
// sequence numbers) and its marker bits, and keeps each outgoing stream
// continuous when the source changes SSRC or jumps (re-INVITE, another
// media server): the next packet then follows by the time that really
// passed and carries the marker bit.
//
// When both legs use the same codec the payload is forwarded without
// decoding; otherwise it is transcoded (PCMU ↔ PCMA, G.722, Opus), across
// RTP clock rates (Opus's 48 kHz against 8000) with timestamps, gaps and
// RFC 4733 durations converted, and a lost Opus packet recreated from the
// next one's in-band FEC (RelayDirectionStats.Recovered). The codecs and
// telephone-event payload types are read from the sessions for every
// packet, so a re-INVITE that changes them (Session.SetCodec) takes effect
// at once. RFC 4733 key presses are relayed with the other leg's
// telephone-event payload type; to a leg that negotiated none they are
// played as in-band tones (see RelayOptions.NoInbandDTMF). Every key press
// is also reported to the OnDTMF handler. Comfort noise is not relayed.
//
// The relay is the consumer of both sessions' received packets
// (Session.TakePackets): late and duplicated packets are dropped rather
// than reordered, and nothing is decoded unless the legs' codecs differ.
// Observers of either session (Session.ObserveHeard, ObserveSent) still
// see both directions, decoded once per packet for all of them; the
// sessions still report received key presses to their own OnDTMF. The relay starts no goroutine: it runs on the
// sessions' reader goroutines. Its methods are safe for concurrent use.
type Relay struct {
	a, b   *Session
	fa, fb *Flow
	ab, ba *relayFlow

	onDTMF serial.Handlers[relayedKey]

	mu      sync.Mutex
	started bool
	closed  bool
	once    sync.Once

	releaseA, releaseB func()
}

// NewRelay returns a relay between the sessions a and b of the two legs of
// a call. It forwards nothing until Start.
func NewRelay(a, b *Flow, opts RelayOptions) (*Relay, error) {
	if a == nil || b == nil {
		return nil, ErrNoMedia
	}
	r := &Relay{a: a.s, b: b.s, fa: a, fb: b}
	r.ab = &relayFlow{r: r, from: a.s, to: b.s, toFlow: b, opts: opts}
	r.ba = &relayFlow{r: r, from: b.s, to: a.s, toFlow: a, opts: opts}
	return r, nil
}

// OnDTMF adds a handler of key presses received by either leg, each
// reported once (on its first RFC 4733 end packet), whatever the relay
// does with it; to is the session of the other leg, where the key press
// is going. A back-to-back layer sends SIP INFO when to negotiated no
// telephone-event. Every handler added runs, in the order added, on the
// receiving session's reader goroutine, not under a lock, and must not
// block; remove removes this one (idempotent).
func (r *Relay) OnDTMF(f func(to *Flow, ev DTMFEvent)) (remove func()) {
	if f == nil {
		return func() {}
	}
	return r.onDTMF.Add(func(k relayedKey) { f(k.to, k.ev) })
}

// relayedKey is a key press reported to the OnDTMF handlers.
type relayedKey struct {
	to *Flow
	ev DTMFEvent
}

// Start starts relaying: the relay takes the received packets of both
// sessions (Session.TakePackets, owner "b2b relay"). It fails, taking
// neither, when a session's media already has a consumer. Starting a
// started relay does nothing; a closed one returns ErrRelayClosed.
func (r *Relay) Start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrRelayClosed
	}
	if r.started {
		return nil
	}
	ra, err := r.a.TakePackets(relayOwner, r.ab.handle)
	if err != nil {
		return err
	}
	rb, err := r.b.TakePackets(relayOwner, r.ba.handle)
	if err != nil {
		ra()
		return err
	}
	r.started, r.releaseA, r.releaseB = true, ra, rb
	return nil
}

// relayOwner is how a relay names itself as a session's consumer.
const relayOwner = "b2b relay"

// ErrRelayClosed is returned by Start after Close.
var ErrRelayClosed = errors.New("media: relay closed")

// Close stops relaying and releases both sessions' received media, which
// can then be taken again. It does not close the sessions. Once it
// returns, the relay sends no more packets. It is idempotent and safe to
// call concurrently.
func (r *Relay) Close() error {
	r.once.Do(func() {
		r.mu.Lock()
		started := r.started
		r.closed = true
		r.mu.Unlock()
		if started {
			// release waits for a packet being handed over.
			r.releaseA()
			r.releaseB()
		}
		for _, f := range [2]*relayFlow{r.ab, r.ba} {
			f.mu.Lock()
			f.closed = true
			f.mu.Unlock()
		}
	})
	return nil
}

// Stats returns the relay's counters.
func (r *Relay) Stats() RelayStats {
	return RelayStats{AtoB: r.ab.stats(), BtoA: r.ba.stats()}
}

// Limits of the timestamp and sequence rewriting.
const (
	// relayMaxSeqStep is the largest step of the source's sequence number
	// (in either direction) that continues its stream: 2 s of 20 ms
	// packets. A larger step is a new stream.
	relayMaxSeqStep = 100
	// relayMaxLateSeconds bounds how far back the timestamp of a late
	// packet may be; further back, it is a new stream.
	relayMaxLateSeconds = 10
	// relayMaxToneFrames bounds the in-band DTMF tone generated for one
	// telephone-event packet, in frames; a longer stretch (lost updates,
	// a bogus duration) is skipped as a gap in the timestamps.
	relayMaxToneFrames = 5
	// relayToneAmplitude is the peak of each of the two in-band DTMF
	// tones as a fraction of full scale: -12 dBFS, about -9 dBm0 in
	// G.711, within ITU-T Q.24's range.
	relayToneAmplitude = 0.25
)

// relayFlow is one direction of a Relay. handle runs on from's reader
// goroutine (a benchmark or fuzz test may call it directly, from one
// goroutine); mu guards closed and makes Close wait for a running handle.
type relayFlow struct {
	r        *Relay
	from, to *Session
	toFlow   *Flow
	opts     RelayOptions

	mu     sync.Mutex
	closed bool

	// The source stream as last relayed: its sequence number and
	// timestamp, the arrival time, and the duration (RTP clock units) the
	// destination's timestamp was advanced by after it.
	started bool
	seq     uint16
	ts      uint32
	at      time.Time
	dur     uint32

	// Per-stream coders, for codecs that keep state (G.722), and the
	// resampler between codecs of different sample rates (G.722 and
	// G.711).
	decCodec, encCodec codec.Codec
	dec                codec.Decoder
	enc                codec.Encoder
	rs                 *audio.FrameResampler
	pcm, tone          []int16
	out                []byte

	// ev is the telephone-event being played in-band.
	ev relayTone
	// Key presses reported: the timestamps of the last len(keys) (keyN
	// reported in all; a late end packet can follow a later key's, so one
	// remembered key is not enough to report each once), and the flood
	// bound (maxDTMFPerSecond, as Session.readDTMF).
	keys       [4]uint32
	keyN       int
	keyWindow  time.Time
	keyCount   int
	forwarded  atomic.Uint64
	transcoded atomic.Uint64
	dtmf       atomic.Uint64
	dropped    atomic.Uint64
	recovered  atomic.Uint64
}

// relayTone is the state of an RFC 4733 event converted to in-band tones.
type relayTone struct {
	active, ended bool
	ts            uint32 // the event's source timestamp
	done          uint32 // RTP clock units generated so far
	lo, hi        dsp.Oscillator
}

func (f *relayFlow) stats() RelayDirectionStats {
	return RelayDirectionStats{
		Forwarded:  f.forwarded.Load(),
		Transcoded: f.transcoded.Load(),
		Recovered:  f.recovered.Load(),
		DTMF:       f.dtmf.Load(),
		Dropped:    f.dropped.Load(),
	}
}

// handle is the packet handler installed on f.from (see
// Session.TakePackets).
func (f *relayFlow) handle(pt uint8, seq uint16, ts uint32, marker bool, payload []byte) {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	key, report := f.relay(pt, seq, ts, marker, payload, time.Now())
	f.mu.Unlock()
	if !report {
		return
	}
	f.r.onDTMF.Run(relayedKey{f.toFlow, key})
}

// relay sends one received packet on; it returns a key press to report.
func (f *relayFlow) relay(pt uint8, seq uint16, ts uint32, marker bool, payload []byte, now time.Time) (DTMFEvent, bool) {
	src, srcDTMF := f.from.Codec(), f.from.DTMFPayloadType()
	dst := f.to.Codec()
	if srcDTMF != 0 && pt == srcDTMF {
		return f.relayDTMF(seq, ts, marker, payload, now, src, dst)
	}
	if src == nil || dst == nil || pt != src.PayloadType() {
		f.dropped.Add(1)
		return DTMFEvent{}, false
	}
	same := sameCodec(src, dst)
	seqStep, gap, jump, ok := f.step(seq, ts, now, src.ClockRate())
	if !ok {
		f.dropped.Add(1)
		return DTMFEvent{}, false
	}
	srcDur := f.payloadDuration(src, payload)
	if !same && seqStep == 2 && !jump && f.recover(src, dst, gap, payload) {
		seqStep, gap = 1, 0 // the lost packet was sent in its place
	}
	out, dur, n := payload, srcDur, &f.forwarded
	if !same {
		if src.ClockRate() != dst.ClockRate() {
			// Opus's 48 kHz clock against G.711's 8000: the gap is
			// measured in the source's units, sent in the destination's.
			gap = uint32(int64(int32(gap)) * int64(dst.ClockRate()) / int64(src.ClockRate()))
		}
		f.pcm = f.decoder(src).Decode(f.pcm[:0], payload)
		pcm := f.pcm
		if src.SampleRate() != dst.SampleRate() {
			rs := f.resampler(src.SampleRate(), dst.SampleRate())
			if rs == nil {
				f.dropped.Add(1)
				return DTMFEvent{}, false
			}
			pcm = rs.Frame(pcm)
		}
		f.out = f.encoder(dst).Encode(f.out[:0], pcm)
		out, dur, n = f.out, uint32(len(pcm)*dst.ClockRate()/dst.SampleRate()), &f.transcoded
	}
	f.commit(seq, ts, now, srcDur)
	if err := f.to.writeRelayed(dst.PayloadType(), seqStep, gap, dur, marker || jump, out); err != nil {
		f.dropped.Add(1)
		return DTMFEvent{}, false
	}
	n.Add(1)
	return DTMFEvent{}, false
}

// relayDTMF relays an RFC 4733 telephone-event packet (section 2.3): with
// the destination's payload type, or as in-band tones when it negotiated
// none.
func (f *relayFlow) relayDTMF(seq uint16, ts uint32, marker bool, payload []byte, now time.Time, src, dst codec.Codec) (DTMFEvent, bool) {
	if len(payload) < 4 {
		f.dropped.Add(1)
		return DTMFEvent{}, false
	}
	clock := 8000
	if src != nil {
		clock = src.ClockRate()
	}
	code, end := payload[0], payload[1]&0x80 != 0
	duration := uint32(payload[2])<<8 | uint32(payload[3])
	seqStep, gap, jump, ok := f.step(seq, ts, now, clock)
	if !ok {
		return f.relayLateEnd(code, end, ts, duration, clock, now, payload, dst)
	}
	key, report := f.keyPress(code, end, ts, duration, clock, now)

	if pt := f.to.DTMFPayloadType(); pt != 0 {
		// All packets of an event carry its start timestamp (section
		// 2.5.1.1); the destination's next timestamp is the event's end
		// so far.
		f.commit(seq, ts, now, duration)
		out, dur := payload, duration
		if dst != nil && dst.ClockRate() != clock {
			// Events are timed in each leg's audio clock (section 2.1):
			// Opus's 48 kHz against G.711's 8000. The gap and the
			// event's duration field are converted.
			dc := int64(dst.ClockRate())
			gap = uint32(int64(int32(gap)) * dc / int64(clock))
			dur = uint32(min(int64(duration)*dc/int64(clock), 0xffff))
			f.out = append(f.out[:0], payload...)
			f.out[2], f.out[3] = byte(dur>>8), byte(dur)
			out = f.out
		}
		if err := f.to.writeRelayed(pt, seqStep, gap, dur, marker || jump, out); err != nil {
			f.dropped.Add(1)
			return key, report
		}
		if report {
			// The first end packet of a key goes out three times at once
			// (RFC 4733 section 2.5.1.4), at the event's timestamp (the gap
			// takes back the duration just added): the source's own copies
			// may arrive after the next audio packet and be dropped as
			// late, which would leave the key to one packet on the next hop.
			for range 2 {
				if err := f.to.writeRelayed(pt, 1, 0-dur, dur, false, out); err != nil {
					break
				}
			}
		}
	} else if f.opts.NoInbandDTMF || dst == nil || int(code) >= len(dtmfDigits) || dst.ClockRate() != clock {
		// Nothing is sent: the stream's timestamps go on from the last
		// packet sent, but its sequence number is consumed so that the
		// next packet does not look like a loss.
		f.seq = seq
	} else if err := f.playTone(seq, ts, code, end, duration, seqStep, gap, jump, now, dst); err != nil {
		f.dropped.Add(1)
		return key, report
	}
	f.dtmf.Add(1)
	return key, report
}

// relayLateEnd handles a telephone-event packet that arrived after a later
// packet of the stream (network jitter reorders packets 20 ms apart): it is
// dropped, unless it is the first end packet of its event, when all the
// event's end packets were overtaken (by the audio that follows the key):
// the key is then reported and, to a leg with telephone-event at the same
// clock, its end is sent three times (RFC 4733 section 2.5.1.4) stamped with
// the destination's current timestamp, a new event for the receiver, so
// that the key is not lost. The stream's position is left as it was.
func (f *relayFlow) relayLateEnd(code byte, end bool, ts, duration uint32, clock int, now time.Time, payload []byte, dst codec.Codec) (DTMFEvent, bool) {
	key, report := f.keyPress(code, end, ts, duration, clock, now)
	if !report {
		f.dropped.Add(1)
		return DTMFEvent{}, false
	}
	if pt := f.to.DTMFPayloadType(); pt != 0 && (dst == nil || dst.ClockRate() == clock) {
		for range 3 {
			if err := f.to.writeRelayed(pt, 1, 0, 0, false, payload); err != nil {
				f.dropped.Add(1)
				return key, report
			}
		}
		f.dtmf.Add(1)
	}
	return key, report
}

// playTone sends the part of an in-band DTMF tone that a telephone-event
// packet adds: the event's duration field says how long the key has been
// pressed (RFC 4733 section 2.5.1.3), so every update extends the tone
// from what was played, in frames of 20 ms at most.
func (f *relayFlow) playTone(seq uint16, ts uint32, code byte, end bool, duration uint32, seqStep uint16, gap uint32, jump bool, now time.Time, dst codec.Codec) error {
	ev := &f.ev
	mark := jump
	if !ev.active || ev.ts != ts {
		lo, hi := dtmfFrequencies(code)
		*ev = relayTone{active: true, ts: ts}
		ev.lo = *dsp.NewOscillator(dst.SampleRate(), lo, relayToneAmplitude)
		ev.hi = *dsp.NewOscillator(dst.SampleRate(), hi, relayToneAmplitude)
		mark = true // a tone starts a talkspurt
	}
	if ev.ended || duration <= ev.done {
		f.seq = seq // retransmitted end packets and stale updates
		return nil
	}
	ev.ended = end
	n := duration - ev.done
	if !jump {
		// The first frame continues from what was played of the event.
		gap += ev.done
	}
	if limit := uint32(relayMaxToneFrames * dst.ClockRate() / 50); n > limit {
		gap += n - limit
		ev.done += n - limit
		n = limit
	}
	frame := uint32(dst.ClockRate() / 50) // 20 ms
	enc := f.encoder(dst)
	for n > 0 {
		k := min(n, frame)
		samples := int(k) * dst.SampleRate() / dst.ClockRate()
		f.pcm = growInt16(f.pcm, samples)
		f.tone = growInt16(f.tone, samples)
		ev.lo.Read(f.pcm)
		ev.hi.Read(f.tone)
		for i, v := range f.tone {
			f.pcm[i] += v // two tones of -12 dBFS peak cannot clip
		}
		f.out = enc.Encode(f.out[:0], f.pcm)
		f.commit(seq, ev.ts+ev.done, now, k)
		if err := f.to.writeRelayed(dst.PayloadType(), seqStep, gap, k, mark, f.out); err != nil {
			return err
		}
		ev.done += k
		n -= k
		seqStep, gap, mark = 1, 0, false
	}
	return nil
}

// keyPress reports a key press once, on the first end packet of its event
// (RFC 4733 section 2.5.1.4: the end packet is retransmitted with the same
// timestamp), at most maxDTMFPerSecond a second.
func (f *relayFlow) keyPress(code byte, end bool, ts, duration uint32, clock int, now time.Time) (DTMFEvent, bool) {
	if !end || int(code) >= len(dtmfDigits) {
		return DTMFEvent{}, false
	}
	for i := range min(f.keyN, len(f.keys)) {
		if f.keys[i] == ts {
			return DTMFEvent{}, false
		}
	}
	f.keys[f.keyN%len(f.keys)] = ts
	f.keyN++
	if now.Sub(f.keyWindow) >= time.Second {
		f.keyWindow, f.keyCount = now, 0
	}
	if f.keyCount++; f.keyCount > maxDTMFPerSecond {
		return DTMFEvent{}, false
	}
	return DTMFEvent{
		Digit:    rune(dtmfDigits[code]),
		Duration: time.Duration(duration) * time.Second / time.Duration(clock),
	}, true
}

// step places a packet of the source stream (sequence number seq,
// timestamp ts, RTP clock rate clock) after the last one relayed. It
// returns by how much the destination's sequence number advances (more
// than 1 carries a loss over), the gap to add to the destination's next
// timestamp (modulo 2^32: negative gaps wrap), whether the source jumped
// (new stream: the marker bit is set), and false for a late or duplicated
// packet.
//
// A packet continues the stream when its sequence number is at most
// relayMaxSeqStep ahead and its timestamp step is between -1 s (an event
// stamped with an earlier start) and the time that passed since the last
// packet plus 1 s; the destination's timestamp then advances by that step.
// Otherwise (a new SSRC, a timestamp or sequence reset) the destination's
// timestamp advances by the time that passed, at least by the last
// packet's duration.
func (f *relayFlow) step(seq uint16, ts uint32, now time.Time, clock int) (seqStep uint16, gap uint32, jump, ok bool) {
	if !f.started {
		return 1, 0, true, true
	}
	c := int64(clock)
	sd := int16(seq - f.seq)
	d := int64(int32(ts - f.ts))
	elapsed := int64(now.Sub(f.at).Seconds() * float64(clock))
	switch {
	case sd > 0 && sd <= relayMaxSeqStep && d >= -c && d <= elapsed+c:
		return uint16(sd), uint32(d) - f.dur, false, true
	case sd <= 0 && sd > -relayMaxSeqStep && d <= 0 && d >= -relayMaxLateSeconds*c:
		return 0, 0, false, false
	}
	return 1, uint32(max(elapsed-int64(f.dur), 0)), true, true
}

// recover sends the one packet lost just before next, of gap source clock
// units, transcoded, when the source's decoder can recreate it from next
// (codec.LossConcealer: Opus's in-band FEC, or its PLC when next has
// none). A transcoding relay is the only receiver of the source's Opus,
// so without this the other leg would hear its own codec's concealment
// of a gap that next could have filled. It reports whether the packet
// was sent.
func (f *relayFlow) recover(src, dst codec.Codec, gap uint32, next []byte) bool {
	lc, ok := f.decoder(src).(codec.LossConcealer)
	if !ok || gap == 0 || gap > uint32(src.ClockRate()/maxPacketDiv) {
		return false
	}
	f.pcm = lc.Conceal(f.pcm[:0], int(int64(gap)*int64(src.SampleRate())/int64(src.ClockRate())), next)
	pcm := f.pcm
	if src.SampleRate() != dst.SampleRate() {
		rs := f.resampler(src.SampleRate(), dst.SampleRate())
		if rs == nil {
			return false
		}
		pcm = rs.Frame(pcm)
	}
	f.out = f.encoder(dst).Encode(f.out[:0], pcm)
	dur := uint32(len(pcm) * dst.ClockRate() / dst.SampleRate())
	if err := f.to.writeRelayed(dst.PayloadType(), 1, 0, dur, false, f.out); err != nil {
		return false
	}
	f.recovered.Add(1)
	f.transcoded.Add(1)
	return true
}

// commit records the packet just relayed as the stream's last.
func (f *relayFlow) commit(seq uint16, ts uint32, now time.Time, dur uint32) {
	f.started = true
	f.seq, f.ts, f.at, f.dur = seq, ts, now, dur
}

// payloadDuration returns the duration of an audio payload in RTP clock
// units: one unit per byte for G.711 and G.722, what an Opus payload's TOC
// says (codec.Samples), whatever the packet time; for other codecs, 20 ms.
func (f *relayFlow) payloadDuration(c codec.Codec, payload []byte) uint32 {
	if n := codec.Samples(c, payload); n > 0 {
		return uint32(n) // any packet time
	}
	return uint32(c.ClockRate() / 50)
}

func (f *relayFlow) decoder(c codec.Codec) codec.Decoder {
	if f.dec == nil || !sameCodec(f.decCodec, c) {
		f.decCodec, f.dec = c, codec.NewDecoder(c)
	}
	return f.dec
}

// resampler returns the stream's resampler from src to dst Hz, making a
// new one when the rates changed (a re-INVITE), or nil for rates the
// resampler does not take.
func (f *relayFlow) resampler(src, dst int) *audio.FrameResampler {
	if f.rs != nil {
		if s, d := f.rs.Rates(); s == src && d == dst {
			return f.rs
		}
	}
	rs, err := audio.NewFrameResampler(src, dst)
	if err != nil {
		return nil
	}
	f.rs = rs
	return rs
}

func (f *relayFlow) encoder(c codec.Codec) codec.Encoder {
	if f.enc == nil || !sameCodec(f.encCodec, c) {
		f.encCodec, f.enc = c, codec.NewEncoder(c)
	}
	return f.enc
}

// sameCodec reports whether a payload of codec a can be sent as one of
// codec b. Codecs are compared by name and rates, not with ==, which
// panics on codec types that are not comparable and would tell apart two
// values of the same format.
func sameCodec(a, b codec.Codec) bool {
	return a != nil && b != nil && strings.EqualFold(a.Name(), b.Name()) &&
		a.ClockRate() == b.ClockRate() && a.SampleRate() == b.SampleRate()
}

func growInt16(b []int16, n int) []int16 {
	if cap(b) < n {
		return make([]int16, n)
	}
	return b[:n]
}

// dtmfFrequencies returns the low and high frequency in Hz of the key of
// RFC 4733 event code (0–15) per ITU-T Q.23.
func dtmfFrequencies(code byte) (lo, hi float64) {
	const keypad = "123A456B789C*0#D"
	i := strings.IndexByte(keypad, dtmfDigits[code])
	rows := [4]float64{697, 770, 852, 941}
	cols := [4]float64{1209, 1336, 1477, 1633}
	return rows[i/4], cols[i%4]
}

// writeRelayed sends a payload for a Relay with the session's own SSRC.
// Unlike WriteRTPPayload, which sends at the next timestamp and then
// advances it, it places the packet gap after the next timestamp (modulo
// 2^32, so a negative gap wraps) and then makes the next timestamp the
// packet's plus dur: the relay thus carries over the source's timestamp
// steps, which it only knows when the later packet arrives. The sequence
// number advances by seqStep (at least 1). Nothing is sent while sending
// is disabled or the remote is unknown (the timestamp still advances), nor
// during the session's own RFC 4733 event (section 2.5.1.1). It lives
// here, next to its only caller, and uses Session's outgoing stream state
// under wmu as WriteRTPPayload does.
func (s *Session) writeRelayed(pt uint8, seqStep uint16, gap, dur uint32, marker bool, payload []byte) error {
	s.mu.Lock()
	remote, canSend, cd, sent := s.remote, s.canSend, s.codec, s.sent
	s.mu.Unlock()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.inEvent {
		return nil
	}
	s.showSentLocked(sent, cd, pt, payload)
	ts := s.ts + gap
	s.ts = ts + dur
	if !canSend || !remote.IsValid() {
		s.marker = true
		return nil
	}
	s.seq += max(seqStep, 1) - 1 // writeLocked adds the last 1
	s.marker = s.marker || marker
	return s.writeLocked(pt, ts, payload, remote)
}
