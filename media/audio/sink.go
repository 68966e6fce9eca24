package audio

import "github.com/switchboard-sip/switchboard/media/codec"

// Sink receives mono PCM frames. WriteAudio must not block and must not
// keep pcm after it returns: callers reuse the buffer.
type Sink interface {
	WriteAudio(pcm []int16)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(pcm []int16)

// WriteAudio calls f(pcm).
func (f SinkFunc) WriteAudio(pcm []int16) { f(pcm) }

// Output is the sending half of a call's audio as a Player sees it: it
// takes payloads already encoded with its current codec, so that one
// encode serves every output of that codec. A call's *media.Flow and a
// *media.Session are Outputs.
//
// Codec is asked for every frame, so a codec changed by a re-INVITE takes
// effect at the next frame; nil means the output has no media and is
// skipped. WriteRTPPayload must not block and must not keep payload after
// it returns.
type Output interface {
	Codec() codec.Codec
	WriteRTPPayload(pt uint8, samples int, payload []byte, marker bool) error
}
