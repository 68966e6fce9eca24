package media

import (
	"context"
	"errors"
	"net/netip"

	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/media/codec"
)

// ErrNoMedia is returned by the methods of a nil *Flow: the call has no
// media (yet).
var ErrNoMedia = errors.New("media: call has no media")

// Flow is the audio of one call as an application sees it (UCMA's
// AudioVideoFlow): play into it, receive from it, observe it, read its
// statistics. The session behind it — remote address, codec, direction,
// sockets — stays with the call's owner (the endpoint), which changes it
// as offer/answer requires.
//
// A nil *Flow is valid: it is what a call without media returns. Its
// methods return ErrNoMedia (or zero values, or a no-op remove func) and
// never panic. Methods are safe for concurrent use.
type Flow struct {
	s *Session
}

// NewFlow returns the Flow of s. Owners of sessions (the endpoint, tests)
// hand it to applications instead of the session itself.
func NewFlow(s *Session) *Flow { return &Flow{s: s} }

// Codec returns the codec in use, nil without media.
func (f *Flow) Codec() codec.Codec {
	if f == nil {
		return nil
	}
	return f.s.Codec()
}

// SampleRate returns the rate in Hz of the PCM the flow takes and gives:
// 8000 for G.711; 0 without media.
func (f *Flow) SampleRate() int {
	if c := f.Codec(); c != nil {
		return c.SampleRate()
	}
	return 0
}

// FrameSamples returns the number of samples in a 20 ms frame at the
// flow's sample rate; 0 without media.
func (f *Flow) FrameSamples() int { return FrameSamples(f.Codec()) }

// WriteFrame encodes one frame of PCM at the flow's sample rate and sends
// it. It does not pace (see Play).
func (f *Flow) WriteFrame(pcm []int16) error {
	if f == nil {
		return ErrNoMedia
	}
	return f.s.WriteFrame(pcm)
}

// WriteRTPPayload sends a payload already encoded with the flow's codec
// (pt is its payload type) and advances the timestamp by samples: what
// players and mixers do to encode once for many flows.
func (f *Flow) WriteRTPPayload(pt uint8, samples int, payload []byte, marker bool) error {
	if f == nil {
		return ErrNoMedia
	}
	return f.s.WriteRTPPayload(pt, samples, payload, marker)
}

// WriteComfortNoise stands for one frame of silence with RFC 3389 comfort
// noise when it was negotiated (see [Session.WriteComfortNoise]); it
// reports false when it was not, or without media.
func (f *Flow) WriteComfortNoise(samples int) (bool, error) {
	if f == nil {
		return false, nil
	}
	return f.s.WriteComfortNoise(samples)
}

// Play sends PCM at the flow's sample rate, paced at one 20 ms frame per
// tick, until it ends or ctx is done.
func (f *Flow) Play(ctx context.Context, pcm []int16) error {
	if f == nil {
		return ErrNoMedia
	}
	return Play(ctx, f.s, pcm)
}

// Receive makes sink the consumer of the flow's received audio (see
// Session.TakeAudio). owner names the taker in the error a second taker
// gets.
func (f *Flow) Receive(owner string, sink audio.Sink, opts AudioOptions) (release func(), err error) {
	if f == nil {
		return nil, ErrNoMedia
	}
	return f.s.TakeAudio(owner, sink, opts)
}

// Pull makes a jitter buffer the consumer of the flow's received audio;
// the caller's clock pulls frames from the returned reader (see
// Session.TakeFrames).
func (f *Flow) Pull(owner string, cfg JitterConfig) (*FrameReader, error) {
	if f == nil {
		return nil, ErrNoMedia
	}
	return f.s.TakeFrames(owner, cfg)
}

// ObserveHeard adds an observer of what the call hears (see
// Session.ObserveHeard). On a nil Flow it does nothing.
func (f *Flow) ObserveHeard(sink audio.Sink) (remove func()) {
	if f == nil {
		return func() {}
	}
	return f.s.ObserveHeard(sink)
}

// ObserveSent adds an observer of what the call sends (see
// Session.ObserveSent). On a nil Flow it does nothing.
func (f *Flow) ObserveSent(sink audio.Sink) (remove func()) {
	if f == nil {
		return func() {}
	}
	return f.s.ObserveSent(sink)
}

// Stats returns the flow's RTP counters; zero without media.
func (f *Flow) Stats() Stats {
	if f == nil {
		return Stats{}
	}
	return f.s.Stats()
}

// LocalAddr returns the flow's local RTP address; invalid without media.
func (f *Flow) LocalAddr() netip.AddrPort {
	if f == nil {
		return netip.AddrPort{}
	}
	return f.s.LocalAddr()
}

// session returns the session behind f, nil for a nil Flow.
func (f *Flow) session() *Session {
	if f == nil {
		return nil
	}
	return f.s
}

// JitterStats returns the statistics of the jitter buffer of the flow's
// consumer (Pull, or Receive with a jitter buffer); zero otherwise.
func (f *Flow) JitterStats() JitterStats {
	if f == nil {
		return JitterStats{}
	}
	return f.s.JitterStats()
}
