//go:build opus

package codec

import (
	"gopkg.in/hraban/opus.v2"
)

// Opus (RFC 6716) comes from libopus through gopkg.in/hraban/opus.v2, which
// needs cgo and the library's headers (Debian: libopus-dev and, for the
// package's stream reader, libopusfile-dev). It is built only with the
// opus build tag, so that the default build stays pure Go; without the
// tag, ByName does not know "opus" and endpoints do not offer it.

// Opus encoder settings. 24 kbit/s is well above what wideband speech
// needs with SILK (RFC 7587 section 3.1.1: 16–20 kbit/s) and leaves room
// for the in-band FEC copy of each frame; libopus adds that copy only when
// it expects loss, so the encoder assumes 10%. Complexity 5 of 10 about
// halves the encoder's cost against the default 10 (about 250 against
// 400–700 µs per 20 ms frame here, bench/README.md) for the same tone SNR
// at 1 kHz and 3 dB less at 6 kHz; at 3 the 6 kHz tone is lost, so 5 is
// the floor.
const (
	opusComplexity   = 5
	opusSampleRate   = 16000
	opusBitrate      = 24000
	opusLossPercent  = 10
	opusDefaultPT    = 111
	opusUnit         = opusSampleRate / 400 // 2.5 ms, the shortest Opus frame
	opusMaxSamples   = opusMaxSamples48 * opusSampleRate / 48000
	opusClockPerPCM  = 48000 / opusSampleRate
	opusFrame20ms    = opusSampleRate / 50
	opusMaxFrameSize = 1275 // bytes in one frame (RFC 6716 section 3.2.1)
)

// Opus returns the Opus codec (RFC 7587) with the dynamic payload type
// 111; [WithPayloadType] gives it the payload type a call negotiated.
//
// Its RTP clock rate is 48000 Hz whatever the audio bandwidth, as RFC 7587
// section 4.1 requires: a 20 ms packet advances the timestamp by 960. The
// PCM it consumes and produces is mono at 16000 Hz: Switchboard's wideband
// path (players, mixer, relay) runs at 16 kHz, libopus encodes from and
// decodes to 16 kHz directly, and an Opus stream's decoder may run at any
// of its rates (RFC 6716 section 2), so no 48 kHz audio is ever made. The
// encoder is limited to wideband (8 kHz audio bandwidth), mono, VoIP mode
// at 24 kbit/s and complexity 5 with in-band FEC; receiving, any Opus
// stream (stereo or fullband) is decoded to mono 16 kHz.
//
// The codec also implements [StreamCodec]; its own Encode and Decode use a
// fresh libopus state on every call, so continuous streams must take
// their coders from [NewEncoder] and [NewDecoder]. Their decoders
// implement [LossConcealer]: a lost packet is recovered from the in-band
// FEC of the packet after it when that has arrived, else concealed by
// libopus's PLC. The codec implements [Measurer]: a packet's duration is
// read from its TOC byte (RFC 6716 section 3.1).
func Opus() Codec { return opusCodec{pt: opusDefaultPT} }

func opusCodecAvailable() (Codec, bool) { return Opus(), true }

// opusCodec is comparable (callers compare codecs with ==) and small.
type opusCodec struct{ pt uint8 }

// Name returns "opus", the encoding name of RFC 7587 section 7.
func (opusCodec) Name() string { return "opus" }

// PayloadType returns the dynamic payload type, 111 unless set with
// WithPayloadType.
func (c opusCodec) PayloadType() uint8 { return c.pt }

// ClockRate returns 48000 (RFC 7587 section 4.1).
func (opusCodec) ClockRate() int { return 48000 }

// SampleRate returns 16000, the rate of the PCM the codec works in.
func (opusCodec) SampleRate() int { return opusSampleRate }

// WithPayloadType returns the codec with payload type pt.
func (opusCodec) WithPayloadType(pt uint8) Codec { return opusCodec{pt: pt} }

// Samples returns the duration of payload in 48 kHz RTP clock units, from
// its TOC byte; 0 when it cannot be an Opus packet.
func (opusCodec) Samples(payload []byte) int { return opusPacketSamples48(payload) }

// Encode encodes pcm as one packet from fresh encoder state.
func (opusCodec) Encode(dst []byte, pcm []int16) []byte {
	return newOpusEncoder().Encode(dst, pcm)
}

// Decode decodes payload from fresh decoder state.
func (opusCodec) Decode(dst []int16, payload []byte) []int16 {
	return newOpusDecoder().Decode(dst, payload)
}

// NewEncoder returns a per-stream Opus encoder.
func (opusCodec) NewEncoder() Encoder { return newOpusEncoder() }

// NewDecoder returns a per-stream Opus decoder, which also implements
// [LossConcealer].
func (opusCodec) NewDecoder() Decoder { return newOpusDecoder() }

// opusEncoder encodes one 16 kHz mono stream. It is not safe for
// concurrent use.
type opusEncoder struct {
	enc    *opus.Encoder // nil if libopus refused to start (never seen)
	buf    [opusMaxFrameSize * 4]byte
	pad    []int16
	frames [][]byte
	store  []byte
}

func newOpusEncoder() *opusEncoder {
	e := &opusEncoder{}
	enc, err := opus.NewEncoder(opusSampleRate, 1, opus.AppVoIP)
	if err != nil {
		return e
	}
	// The setters fail only on out-of-range values; these are in range.
	_ = enc.SetBitrate(opusBitrate)
	_ = enc.SetMaxBandwidth(opus.Wideband)
	_ = enc.SetInBandFEC(true)
	_ = enc.SetPacketLossPerc(opusLossPercent)
	_ = enc.SetComplexity(opusComplexity)
	e.enc = enc
	return e
}

// opusDirect reports whether libopus encodes n samples at 16 kHz as one
// call: 2.5, 5, 10, 20, 40, 60, 80, 100 or 120 ms.
func opusDirect(n int) bool {
	switch n * 400 / opusSampleRate { // in units of 2.5 ms
	case 1, 2, 4, 8, 16, 24, 32, 40, 48:
		return n%opusUnit == 0
	}
	return false
}

// Encode appends one Opus packet holding pcm to dst. pcm of a duration
// libopus takes (2.5 to 120 ms, see opusDirect) is one encoder call; other
// multiples of 2.5 ms (30 or 50 ms, as a relay transcoding such packets
// makes) are encoded as equal shorter frames joined in one code 3 packet
// (RFC 6716 section 3.2.5); a length that is no multiple of 2.5 ms is
// padded with silence to one, and more than 120 ms is cut to 120 ms. An
// empty pcm, or the rare split packet whose frames libopus coded in
// different modes (they cannot share a TOC byte), keeps only what can be
// sent: the frames that match the first.
func (e *opusEncoder) Encode(dst []byte, pcm []int16) []byte {
	if e.enc == nil || len(pcm) == 0 {
		return dst
	}
	if r := len(pcm) % opusUnit; r != 0 {
		e.pad = append(append(e.pad[:0], pcm...), make([]int16, opusUnit-r)...)
		pcm = e.pad
	}
	pcm = pcm[:min(len(pcm), opusMaxSamples)]
	if opusDirect(len(pcm)) {
		n, err := e.enc.Encode(pcm, e.buf[:])
		if err != nil {
			return dst
		}
		return append(dst, e.buf[:n]...)
	}
	// Equal frames of the longest size that divides pcm: 20, 10, 5 or
	// 2.5 ms.
	size := opusUnit
	for _, s := range []int{opusFrame20ms, opusFrame20ms / 2, opusFrame20ms / 4} {
		if len(pcm)%s == 0 {
			size = s
			break
		}
	}
	e.frames, e.store = e.frames[:0], e.store[:0]
	var offs []int
	for i := 0; i+size <= len(pcm); i += size {
		n, err := e.enc.Encode(pcm[i:i+size], e.buf[:])
		if err != nil {
			return dst
		}
		offs = append(offs, len(e.store))
		e.store = append(e.store, e.buf[:n]...)
	}
	offs = append(offs, len(e.store))
	for i := 0; i+1 < len(offs); i++ {
		e.frames = append(e.frames, e.store[offs[i]:offs[i+1]])
	}
	for k := len(e.frames); k > 0; k-- {
		if out, ok := opusJoin(dst, e.frames[:k]); ok {
			return out
		}
	}
	return dst
}

// opusDecoder decodes one Opus stream to 16 kHz mono. It is not safe for
// concurrent use.
type opusDecoder struct {
	dec *opus.Decoder // nil if libopus refused to start (never seen)
	buf [opusMaxSamples]int16
	// last is the duration of the last packet decoded, in 16 kHz
	// samples: a malformed packet is concealed for that long.
	last int
}

func newOpusDecoder() *opusDecoder {
	d := &opusDecoder{last: opusFrame20ms}
	if dec, err := opus.NewDecoder(opusSampleRate, 1); err == nil {
		d.dec = dec
	}
	return d
}

// Decode appends the 16 kHz PCM of payload to dst. A payload that libopus
// rejects is concealed for the duration of the last good one, so that the
// stream stays continuous.
func (d *opusDecoder) Decode(dst []int16, payload []byte) []int16 {
	if d.dec == nil {
		return dst
	}
	n := opusPacketSamples48(payload) / opusClockPerPCM
	if n == 0 {
		return d.Conceal(dst, d.last, nil)
	}
	got, err := d.dec.Decode(payload, d.buf[:n:n])
	if err != nil || got <= 0 {
		return d.Conceal(dst, d.last, nil)
	}
	d.last = got
	return append(dst, d.buf[:got]...)
}

// Conceal appends n samples standing for a lost packet: decoded from the
// in-band FEC (LBRR) data of next, the packet after the lost one, when it
// has some (RFC 7587 section 3.3), else from libopus's packet-loss
// concealment, which continues the decoder's state. The decoder then
// decodes next itself as usual. Durations are whole 2.5 ms units; the rest
// of n is silence.
func (d *opusDecoder) Conceal(dst []int16, n int, next []byte) []int16 {
	if n <= 0 {
		return dst
	}
	m := min(n-n%opusUnit, opusMaxSamples)
	start := len(dst)
	if d.dec != nil && m > 0 {
		var err error
		if opusPacketSamples48(next) > 0 {
			err = d.dec.DecodeFEC(next, d.buf[:m:m])
		} else {
			err = d.dec.DecodePLC(d.buf[:m:m])
		}
		if err == nil {
			dst = append(dst, d.buf[:m]...)
		}
	}
	for len(dst)-start < n {
		dst = append(dst, 0)
	}
	return dst
}
