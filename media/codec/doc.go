// Package codec holds the audio codecs of RTP payloads and the seam new
// ones plug into. [Codec] separates the RTP clock rate from the PCM
// sample rate (G.722 runs its clock at 8 kHz over 16 kHz audio);
// G.711 [PCMU] and [PCMA] are table-driven and stateless; codecs that keep
// state between packets implement [StreamCodec], and callers that take
// per-stream coders from [NewEncoder] and [NewDecoder] need no change when
// one is added. [G722] is such a codec: wideband sub-band ADPCM at
// 64 kbit/s, written in pure Go from ITU-T G.722 in the recommendation's
// fixed-point arithmetic, whose encoder and decoder carry predictor state
// from packet to packet. [ByName] looks codecs up by their SDP encoding
// name.
//
// [Opus] (RFC 7587) is built only with the opus build tag, from libopus
// through cgo (Debian: libopus-dev, libopusfile-dev); the default build
// stays pure Go and ByName does not know "opus". It runs a 48 kHz RTP
// clock over 16 kHz PCM, takes its negotiated payload type from
// [WithPayloadType], states its packets' duration ([Measurer]) and
// conceals losses itself, from the next packet's in-band FEC or with
// libopus's PLC ([LossConcealer]).
package codec
