package media

import (
	"errors"
	"fmt"
	"sync"

	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/media/codec"
)

// This file holds the receive-path model of a Session: exactly one
// consumer of the received media, taken explicitly, and any number of
// observers of what the session hears and sends.
//
// A consumer takes the received media in one of three modes:
//
//   - packets (TakePackets): each packet of the negotiated codec and of
//     telephone-event is handed over as it arrives, undecoded — a relay;
//   - frames (TakeFrames): packets go into a jitter buffer and the
//     consumer's clock pulls one decoded, concealed frame at a time — a
//     conference mixer or a recorder;
//   - audio (TakeAudio): each packet is decoded on arrival and pushed to a
//     sink, optionally through a jitter buffer played out by the session's
//     own 20 ms clock — an app such as echo, or a test phone's speaker.
//
// A second taker gets a *ConsumerError naming the current owner; the owner
// releases the media with the func (or FrameReader.Release) it was given.
//
// Observers (ObserveHeard, ObserveSent) see decoded PCM in every mode,
// the relay included. Each direction is decoded at most once per packet
// however many observers there are, and not at all when nobody needs PCM:
// a relay with no observer stays decode-free (Stats.Decoded counts).
// Received DTMF (RFC 4733) is reported to OnDTMF in every mode.

// ErrConsumed is matched (errors.Is) by the *ConsumerError returned when a
// session's received media already has a consumer.
var ErrConsumed = errors.New("media: received media already has a consumer")

// ConsumerError reports a second attempt to take a session's received
// media. Owner and Mode describe the current consumer.
type ConsumerError struct {
	// Owner is the name the current consumer gave when it took the media,
	// for example "b2b relay" or "conference conf-7".
	Owner string
	// Mode is how it consumes: "packets", "frames" or "audio".
	Mode string
}

func (e *ConsumerError) Error() string {
	return fmt.Sprintf("media: received media already taken by %s (%s)", e.Owner, e.Mode)
}

// Is makes errors.Is(err, ErrConsumed) true.
func (e *ConsumerError) Is(target error) bool { return target == ErrConsumed }

// PacketFunc receives a relayed packet: its payload type, sequence number,
// timestamp, marker bit and payload. It runs on the session's reader
// goroutine and must not block; payload is only valid during the call.
type PacketFunc func(pt uint8, seq uint16, ts uint32, marker bool, payload []byte)

type consumerMode uint8

const (
	consumePackets consumerMode = iota + 1
	consumeFrames
	consumeAudio
)

func (m consumerMode) String() string {
	switch m {
	case consumePackets:
		return "packets"
	case consumeFrames:
		return "frames"
	case consumeAudio:
		return "audio"
	}
	return "none"
}

// consumer is the taker of a session's received media. mu is held while
// media is delivered to it, so that release can promise that nothing is
// delivered after it returns.
type consumer struct {
	owner   string
	mode    consumerMode
	packets PacketFunc
	sink    audio.Sink
	jb      *JitterBuffer // frames, and audio with playout

	mu       sync.Mutex
	released bool
	dec      codec.Decoder // jitter buffer decoder (frames, playout)
	decFor   codec.Codec
}

// observer wraps a sink so that removal compares by wrapper, not by the
// sink's value (funcs are not comparable).
type observer struct{ sink audio.Sink }

// codecDecoder is a per-stream decoder together with the codec it decodes.
type codecDecoder struct {
	c   codec.Codec
	dec codec.Decoder
}

// decode decodes payload with c, making a new per-stream decoder when the
// codec changed.
func (d *codecDecoder) decode(c codec.Codec, dst []int16, payload []byte) []int16 {
	if d.c != c || d.dec == nil {
		d.c, d.dec = c, codec.NewDecoder(c)
	}
	return d.dec.Decode(dst, payload)
}

func (s *Session) take(c *consumer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cons != nil {
		return &ConsumerError{Owner: s.cons.owner, Mode: s.cons.mode.String()}
	}
	select {
	case <-s.closed:
		return ErrSessionClosed
	default:
	}
	s.cons = c
	return nil
}

// release removes c as the consumer and waits for a delivery in progress.
// It is idempotent. It must not be called from the consumer's own
// callback.
func (s *Session) release(c *consumer) {
	s.mu.Lock()
	if s.cons == c {
		s.cons = nil
	}
	s.mu.Unlock()
	c.mu.Lock()
	c.released = true
	c.mu.Unlock()
}

// ErrSessionClosed is returned when taking the media of a closed session.
var ErrSessionClosed = errors.New("media: session closed")

// TakePackets makes f the consumer of the session's received packets of
// the negotiated codec and of telephone-event, undecoded, as they arrive:
// the mode of a relay. Statistics, latching and DTMF reporting still
// apply; comfort noise and unknown payload types are not handed over.
// owner names the taker in the error a second taker gets. After release
// returns f is not called again; release must not be called from f.
func (s *Session) TakePackets(owner string, f PacketFunc) (release func(), err error) {
	c := &consumer{owner: owner, mode: consumePackets, packets: f}
	if err := s.take(c); err != nil {
		return nil, err
	}
	return func() { s.release(c) }, nil
}

// TakeFrames makes a jitter buffer the consumer of the session's received
// audio; the caller's clock pulls one decoded frame per packet time from
// the returned FrameReader, which conceals what is missing: the mode of a
// conference mixer or a recorder.
func (s *Session) TakeFrames(owner string, cfg JitterConfig) (*FrameReader, error) {
	c := &consumer{owner: owner, mode: consumeFrames, jb: NewJitterBuffer(cfg)}
	if err := s.take(c); err != nil {
		return nil, err
	}
	return &FrameReader{s: s, c: c}, nil
}

// AudioOptions configures TakeAudio. The zero value pushes each packet's
// audio as it arrives.
type AudioOptions struct {
	// Jitter, when set, puts a jitter buffer between the network and the
	// sink, played out by the session's own 20 ms clock as a phone's
	// speaker would: the sink then gets one frame every 20 ms, lost
	// packets concealed.
	Jitter *JitterConfig
}

// TakeAudio makes sink the consumer of the session's received audio,
// decoded: on arrival, on the reader goroutine (late packets dropped), or
// with opts.Jitter on the session's playout clock goroutine. owner names
// the taker in the error a second taker gets. After release returns the
// sink is not called again; release must not be called from the sink.
func (s *Session) TakeAudio(owner string, sink audio.Sink, opts AudioOptions) (release func(), err error) {
	c := &consumer{owner: owner, mode: consumeAudio, sink: sink}
	if opts.Jitter != nil {
		c.jb = NewJitterBuffer(*opts.Jitter)
	}
	if err := s.take(c); err != nil {
		return nil, err
	}
	if c.jb != nil {
		s.wg.Go(func() { s.playout(c) })
	}
	return func() { s.release(c) }, nil
}

// ObserveHeard adds an observer of what the session hears: the decoded
// received audio, in every consumer mode. It runs on the goroutine that
// delivers the audio (the reader, or the clock pulling frames) after the
// consumer, and must not block or keep pcm. remove is idempotent; after it
// returns the sink is not called again unless a call was in progress.
func (s *Session) ObserveHeard(sink audio.Sink) (remove func()) {
	return s.observe(&s.heard, sink)
}

// ObserveSent adds an observer of what the session sends: PCM written
// with WriteFrame, and payloads sent already encoded (players, mixers, a
// relay) decoded once per packet for all sent observers. It runs on the
// sender's goroutine, which may differ from frame to frame (a player's
// clock, a relay's other leg), and must not block or keep pcm.
func (s *Session) ObserveSent(sink audio.Sink) (remove func()) {
	return s.observe(&s.sent, sink)
}

func (s *Session) observe(list *[]*observer, sink audio.Sink) func() {
	o := &observer{sink: sink}
	s.mu.Lock()
	*list = append((*list)[:len(*list):len(*list)], o)
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			out := make([]*observer, 0, len(*list))
			for _, x := range *list {
				if x != o {
					out = append(out, x)
				}
			}
			*list = out
			s.mu.Unlock()
		})
	}
}

// deliverHeard hands one received packet of the codec to the consumer and
// the heard observers, decoding at most once. It runs on the reader
// goroutine; pcm is the reader's scratch buffer. Decoded audio is handed
// on in 20 ms frames, whatever the sender's packet time (see rxFrames).
func (s *Session) deliverHeard(cons *consumer, heard []*observer, c codec.Codec, inOrder bool, seq uint16, ts uint32, marker bool, payload []byte, pcm []int16) []int16 {
	var frames []int16
	decoded := false
	decode := func() {
		if !decoded {
			pcm = s.heardDec.decode(c, pcm[:0], payload)
			s.decoded.Add(1)
			frames = s.rxFrames(c, pcm)
			decoded = true
		}
	}
	n := FrameSamples(c)
	if cons != nil {
		cons.mu.Lock()
		switch {
		case cons.released:
		case cons.mode == consumePackets:
			cons.packets(c.PayloadType(), seq, ts, marker, payload)
		case cons.jb != nil:
			// Frames are pulled (or played out) later; observers see them
			// then, concealed.
			cons.jb.pushCodec(c, seq, ts, payload)
			cons.mu.Unlock()
			return pcm
		case inOrder:
			decode()
			for i := 0; i+n <= len(frames); i += n {
				cons.sink.WriteAudio(frames[i : i+n])
			}
		}
		cons.mu.Unlock()
	}
	if len(heard) == 0 || !inOrder {
		return pcm
	}
	decode()
	for i := 0; i+n <= len(frames); i += n {
		for _, o := range heard {
			o.sink.WriteAudio(frames[i : i+n])
		}
	}
	return pcm
}

// rxFrames re-frames pcm, a received packet decoded with c, into 20 ms
// frames: it returns the whole frames available, contiguous, and keeps the
// rest for the next packet. A 20 ms packet with nothing kept is returned
// as is; a 30 ms packet gives one frame and keeps 10 ms, which the next
// packet completes. The result is valid until the next call. It runs on
// the reader goroutine.
func (s *Session) rxFrames(c codec.Codec, pcm []int16) []int16 {
	n := FrameSamples(c)
	if s.rxFor != c {
		s.rxFor, s.rxRest = c, s.rxRest[:0]
	}
	if n <= 0 || (len(s.rxRest) == 0 && len(pcm) == n) {
		return pcm
	}
	s.rxBuf = append(append(s.rxBuf[:0], s.rxRest...), pcm...)
	whole := len(s.rxBuf) / n * n
	s.rxRest = append(s.rxRest[:0], s.rxBuf[whole:]...)
	return s.rxBuf[:whole]
}

// rtpSamples returns the duration in RTP timestamp units of a payload of
// c, for codecs whose payload size gives it: G.711 and G.722 carry one
// byte per timestamp unit (RFC 3551 section 4.5), so that their payloads
// can be cut and joined into packets of any packet time. It returns 0 for
// other codecs (an Opus payload states its duration, codec.Samples, but
// cannot be cut).
func rtpSamples(c codec.Codec, payload []byte) int {
	switch c.Name() {
	case "PCMU", "PCMA", "G722":
		if c.ClockRate() == 8000 {
			return len(payload)
		}
	}
	return 0
}

// FrameReader pulls a session's received audio through a jitter buffer,
// one frame per call: the consumer of TakeFrames. ReadFrame must be called
// from one goroutine at a time; Release from any.
type FrameReader struct {
	s *Session
	c *consumer
}

// ReadFrame pulls the next packet time of received audio, decoded and
// concealed, at the codec's sample rate (160 samples for 20 ms of G.711),
// and shows it to the heard observers. After Release it returns
// FrameEmpty.
func (r *FrameReader) ReadFrame(dst []int16) ([]int16, FrameStatus) {
	pcm, st := r.s.pull(r.c, dst)
	if st != FrameEmpty {
		r.s.showHeard(pcm)
	}
	return pcm, st
}

// Stats returns the jitter buffer's statistics.
func (r *FrameReader) Stats() JitterStats { return r.c.jb.Stats() }

// Release gives the session's received media back: it can be taken again.
// It is idempotent.
func (r *FrameReader) Release() { r.s.release(r.c) }

// pull pops one frame of c's jitter buffer, decoded with the session's
// current codec.
func (s *Session) pull(c *consumer, dst []int16) ([]int16, FrameStatus) {
	s.mu.Lock()
	cd := s.codec
	s.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.released || cd == nil {
		return dst[:0], FrameEmpty
	}
	if c.decFor != cd {
		c.dec, c.decFor = codec.NewDecoder(cd), cd
		c.jb.matchCodec(cd)
	}
	pcm, st := c.jb.PopPCM(dst, c.dec)
	if st != FrameEmpty {
		s.decoded.Add(1)
	}
	return pcm, st
}

func (s *Session) showHeard(pcm []int16) {
	s.mu.Lock()
	heard := s.heard
	s.mu.Unlock()
	for _, o := range heard {
		o.sink.WriteAudio(pcm)
	}
}

// playout is the 20 ms clock of TakeAudio with a jitter buffer: it pulls
// frames and pushes them to the sink and the heard observers, until the
// consumer is released or the session closes.
func (s *Session) playout(c *consumer) {
	t := newFrameTicker()
	defer t.Stop()
	var buf []int16
	for {
		select {
		case <-s.closed:
			return
		case <-t.C:
		}
		pcm, st := s.pull(c, buf[:0])
		buf = pcm
		c.mu.Lock()
		released := c.released
		if !released && st != FrameEmpty {
			c.sink.WriteAudio(pcm)
		}
		c.mu.Unlock()
		if released {
			return
		}
		if st != FrameEmpty {
			s.showHeard(pcm)
		}
	}
}

// showSent hands PCM the session sends to the sent observers.
func showSent(sent []*observer, pcm []int16) {
	for _, o := range sent {
		o.sink.WriteAudio(pcm)
	}
}

// JitterStats returns the statistics of the consumer's jitter buffer, zero
// when the consumer has none.
func (s *Session) JitterStats() JitterStats {
	s.mu.Lock()
	c := s.cons
	s.mu.Unlock()
	if c == nil || c.jb == nil {
		return JitterStats{}
	}
	return c.jb.Stats()
}
