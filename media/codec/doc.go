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
package codec
