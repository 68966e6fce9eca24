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

// BatchOutput is an Output whose WriteRTPPayload only queues the packet
// (a listener's stream on a shared music port, media.SharedStream). A
// Player calls Flush on each distinct Batch once per tick, after writing
// the frame to every output, so that the whole tick leaves in one system
// call.
type BatchOutput interface {
	Output
	Batch() interface{ Flush() error }
}

// ComfortNoiseOutput is an Output that can stand for a frame of silence
// with RFC 3389 comfort noise, as a *media.Flow and a *media.Session can
// when CN was negotiated. A Player and the conference mixer call
// WriteComfortNoise instead of sending a silent frame: it reports true
// when it took the frame (sending a CN packet at the start of a pause and
// now and then a refresh, nothing in between, the RTP timestamp advancing
// by samples) and false when comfort noise is not negotiated, and the
// caller then sends the silent frame as audio. It must not block.
type ComfortNoiseOutput interface {
	Output
	WriteComfortNoise(samples int) (bool, error)
}
