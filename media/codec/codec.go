package codec

import "strings"

// Codec encodes and decodes one RTP audio payload format. Implementations
// are stateless and safe for concurrent use.
//
// The interface separates ClockRate, the rate at which RTP timestamps
// advance, from SampleRate, the rate of the PCM the codec consumes and
// produces. For G.711 both are 8000; for [G722] the clock rate is 8000 for
// historical reasons (RFC 3551) while the audio is sampled at 16000. Callers that size frames, advance timestamps and resample by these
// two methods, and that look codecs up with [ByName], keep working when
// another codec is added.
//
// Encode and Decode treat each call as an independent payload. A codec whose
// bitstream carries state from one packet to the next (G.722's ADPCM
// predictor) also implements [StreamCodec]; callers that process a
// continuous stream should therefore obtain per-stream coders with
// [NewEncoder] and [NewDecoder] rather than calling Encode and Decode on the
// Codec directly, so that such codecs need no caller changes.
type Codec interface {
	// Name returns the SDP encoding name, for example "PCMU".
	Name() string
	// PayloadType returns the static RTP payload type: 0 for PCMU, 8 for
	// PCMA, 9 for G722.
	PayloadType() uint8
	// ClockRate returns the RTP clock rate in Hz.
	ClockRate() int
	// SampleRate returns the rate in Hz of the mono PCM that Encode consumes
	// and Decode produces.
	SampleRate() int
	// Encode appends the encoded payload for the mono PCM samples to dst and
	// returns the extended slice.
	Encode(dst []byte, pcm []int16) []byte
	// Decode appends the mono PCM samples decoded from payload to dst and
	// returns the extended slice.
	Decode(dst []int16, payload []byte) []int16
}

// Encoder encodes the PCM of one continuous stream. An Encoder returned by
// [NewEncoder] for a stateful codec is not safe for concurrent use.
type Encoder interface {
	// Encode appends the encoded payload for the mono PCM samples to dst and
	// returns the extended slice.
	Encode(dst []byte, pcm []int16) []byte
}

// Decoder decodes the payloads of one continuous stream. A Decoder returned
// by [NewDecoder] for a stateful codec is not safe for concurrent use.
type Decoder interface {
	// Decode appends the mono PCM samples decoded from payload to dst and
	// returns the extended slice.
	Decode(dst []int16, payload []byte) []int16
}

// StreamCodec is implemented by codecs whose encoder or decoder keeps state
// between packets. NewEncoder and NewDecoder return fresh per-stream state.
type StreamCodec interface {
	Codec
	// NewEncoder returns an encoder for one new stream.
	NewEncoder() Encoder
	// NewDecoder returns a decoder for one new stream.
	NewDecoder() Decoder
}

// NewEncoder returns an Encoder for one stream of c. For a stateless codec
// such as G.711 it returns c itself; for a [StreamCodec] it returns a fresh
// per-stream encoder.
func NewEncoder(c Codec) Encoder {
	if sc, ok := c.(StreamCodec); ok {
		return sc.NewEncoder()
	}
	return c
}

// NewDecoder returns a Decoder for one stream of c. For a stateless codec
// such as G.711 it returns c itself; for a [StreamCodec] it returns a fresh
// per-stream decoder.
func NewDecoder(c Codec) Decoder {
	if sc, ok := c.(StreamCodec); ok {
		return sc.NewDecoder()
	}
	return c
}

// LossConcealer is implemented by decoders that conceal lost packets from
// their own state, better than a generic concealment of decoded PCM can:
// Opus's decoders recover a lost packet from the in-band FEC of the packet
// after it, or run libopus's packet-loss concealment. A jitter buffer
// calls Conceal in place of a missing packet, and then Decode for the
// packets that arrived, in order.
type LossConcealer interface {
	// Conceal appends n samples that stand for one lost packet to dst and
	// returns the extended slice. next is the payload of the packet that
	// follows the lost one when it has already arrived, else nil; Conceal
	// does not keep it.
	Conceal(dst []int16, n int, next []byte) []int16
}

// Measurer is implemented by codecs whose payloads state their own
// duration (an Opus TOC byte, RFC 6716 section 3.1), for receivers that
// must know the packet time of what they are sent.
type Measurer interface {
	// Samples returns the duration of payload in RTP clock units, 0 when
	// payload is malformed.
	Samples(payload []byte) int
}

// Samples returns the duration of payload, a payload of c, in RTP clock
// units: one unit per byte for G.711 and G.722 (RFC 3551 section 4.5),
// what the payload says for a [Measurer]; 0 when it cannot be told.
func Samples(c Codec, payload []byte) int {
	if m, ok := c.(Measurer); ok {
		return m.Samples(payload)
	}
	switch c.(type) {
	case g711, g722Codec:
		return len(payload)
	}
	return 0
}

// WithPayloadType returns c with the RTP payload type pt, for a codec whose
// payload type is dynamic (RFC 3551 section 3), chosen in each call's
// offer/answer: Opus's. A codec with a static payload type is returned
// unchanged.
func WithPayloadType(c Codec, pt uint8) Codec {
	if d, ok := c.(interface{ WithPayloadType(uint8) Codec }); ok {
		return d.WithPayloadType(pt)
	}
	return c
}

// ByName returns the codec whose SDP encoding name is name, compared
// case-insensitively. It knows "PCMU", "PCMA" and "G722", and "opus" in a
// build with the opus tag (see [Opus]); there its payload type is a
// default, to be set with [WithPayloadType].
func ByName(name string) (Codec, bool) {
	switch {
	case strings.EqualFold(name, "opus"):
		return opusCodecAvailable()
	case strings.EqualFold(name, "PCMU"):
		return PCMU(), true
	case strings.EqualFold(name, "PCMA"):
		return PCMA(), true
	case strings.EqualFold(name, "G722"):
		return G722(), true
	}
	return nil, false
}
