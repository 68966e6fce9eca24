// Package codec holds the audio codecs of RTP payloads and the seam new
// ones plug into. [Codec] separates the RTP clock rate from the PCM
// sample rate (G.722 will run its clock at 8 kHz over 16 kHz audio);
// G.711 [PCMU] and [PCMA] are table-driven and stateless; codecs that keep
// state between packets implement [StreamCodec], and callers that take
// per-stream coders from [NewEncoder] and [NewDecoder] need no change when
// one is added. [ByName] looks codecs up by their SDP encoding name.
package codec
