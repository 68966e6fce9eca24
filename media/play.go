package media

import (
	"context"

	"github.com/switchboard-sip/switchboard/media/codec"
)

// FrameWriter sends PCM one frame at a time: a *Session or a *Flow.
type FrameWriter interface {
	// Codec returns the codec in use, nil without media.
	Codec() codec.Codec
	// WriteFrame encodes and sends one frame of PCM at the codec's sample
	// rate.
	WriteFrame(pcm []int16) error
}

// Play sends mono PCM at the codec's sample rate to w, one 20 ms frame per
// tick, until the samples end or ctx is done. The last partial frame is
// padded with silence. It returns ErrNoCodec when w has no codec yet.
func Play(ctx context.Context, w FrameWriter, pcm []int16) error {
	n := FrameSamples(w.Codec())
	if n == 0 {
		return ErrNoCodec
	}
	t := newFrameTicker()
	defer t.Stop()
	frame := make([]int16, n)
	for off := 0; off < len(pcm); off += n {
		k := copy(frame, pcm[off:])
		clear(frame[k:])
		if err := w.WriteFrame(frame); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}
