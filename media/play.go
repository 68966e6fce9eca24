package media

import (
	"context"
	"time"
)

// Play sends mono PCM at the session codec's sample rate to s, one 20 ms
// frame per tick, until the samples end or ctx is done. The last partial
// frame is padded with silence.
func Play(ctx context.Context, s *Session, pcm []int16) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	frame := make([]int16, FrameSamples)
	for off := 0; off < len(pcm); off += FrameSamples {
		n := copy(frame, pcm[off:])
		clear(frame[n:])
		if err := s.WriteFrame(frame); err != nil {
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
