package media

// This file implements the receive jitter buffer and packet loss
// concealment.
//
// It does not use github.com/pion/interceptor/pkg/jitterbuffer (v0.1.51 was
// evaluated). That buffer keeps packets in a linked list ordered by the raw
// 16-bit sequence number, so order is wrong across the 65535→0 wrap; it
// starts playing after a packet count (50 by default) rather than after a
// playout delay; Pop on a missing packet returns an error without moving
// on, so one lost packet stalls playout until the caller intervenes;
// packets that arrive after their turn stay queued for good (overflow is
// only counted); it allocates a list node per packet and keeps the caller's
// *rtp.Packet, which aliases the read buffer. It has no consumer clock,
// lateness, adaptive depth or concealment, so wrapping it would leave
// nearly all of the work below to do anyway.

import (
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/switchboard-sip/switchboard/media/codec"
)

// FrameStatus says what a frame popped from a [JitterBuffer] holds.
type FrameStatus uint8

// Frame statuses.
const (
	// FrameEmpty means there is nothing to play: the buffer is still
	// filling up to its depth, or the stream has stopped (no packet for
	// longer than concealment lasts). PopPCM returns silence.
	FrameEmpty FrameStatus = iota
	// FrameNormal means the frame is a received packet.
	FrameNormal
	// FrameConcealed means the packet for this frame is missing (lost, or
	// not here in time). Pop returns no payload; PopPCM returns a
	// replacement made by a [Concealer].
	FrameConcealed
	// FrameSilence means the sender signalled silence: the frame is an
	// RFC 3389 comfort noise packet. It is not loss; PopPCM returns
	// silence.
	FrameSilence
)

// String returns "empty", "normal" or "concealed".
func (s FrameStatus) String() string {
	switch s {
	case FrameEmpty:
		return "empty"
	case FrameNormal:
		return "normal"
	case FrameConcealed:
		return "concealed"
	case FrameSilence:
		return "silence"
	}
	return "FrameStatus(" + strconv.Itoa(int(s)) + ")"
}

// JitterConfig configures a [JitterBuffer]. The zero value is valid and
// gives a fixed 60 ms buffer for 20 ms G.711 packets.
type JitterConfig struct {
	// Depth is the playout delay the buffer starts with, and keeps unless
	// Adaptive is set. It is rounded up to whole frames. Default 60 ms.
	Depth time.Duration `yaml:"depth"`
	// MaxDepth bounds the adaptive depth and sets the buffer's capacity.
	// Default 200 ms; never less than Depth.
	MaxDepth time.Duration `yaml:"max_depth"`
	// MinDepth is the lowest depth an adaptive buffer shrinks to. Default
	// 20 ms (one frame); never more than Depth.
	MinDepth time.Duration `yaml:"min_depth"`
	// Adaptive lets the depth follow the network: it grows when packets
	// arrive too late and shrinks slowly while they all arrive with time
	// to spare. See [JitterBuffer] for the exact rule.
	Adaptive bool `yaml:"adaptive"`
	// ClockRate is the RTP clock rate in Hz. Default 8000.
	ClockRate int `yaml:"clock_rate"`
	// FrameSamples is the number of RTP timestamp units in one frame
	// returned by PopPCM, and in one packet until packets of another
	// duration are pushed with PushSamples (see [JitterBuffer]). Default
	// 160 (20 ms at 8000 Hz).
	FrameSamples int `yaml:"frame_samples"`
	// SampleRate is the rate in Hz of the PCM that PopPCM returns, which
	// for G.722 differs from ClockRate. Default ClockRate. A session's
	// consumer (TakeFrames, TakeAudio) follows the negotiated codec's
	// sample rate instead, whatever is set here: 320 samples per 20 ms
	// frame for G.722 at the RTP clock rate of 8000 (RFC 3551).
	SampleRate int `yaml:"sample_rate"`
}

// JitterStats are the counters of a [JitterBuffer]. Every pushed packet
// ends up in exactly one of Played, Late, Duplicates and Dropped, or is
// still buffered.
type JitterStats struct {
	// Received counts pushed packets, comfort noise included.
	Received uint64
	// Played counts packets played (status FrameNormal). Played,
	// Concealed and Silent count packets, one packet time each, which is
	// a frame unless the sender's packet time differs from FrameSamples.
	Played uint64
	// Concealed counts packets concealed (status FrameConcealed): lost,
	// or not here in time. Comfort noise and the pause after it are not
	// concealed.
	Concealed uint64
	// Silent counts comfort noise packets played (status FrameSilence).
	Silent uint64
	// Late counts packets that arrived after their frame was played (or
	// concealed) and were discarded.
	Late uint64
	// Duplicates counts packets discarded because the same sequence number
	// was buffered or recently played.
	Duplicates uint64
	// Dropped counts packets discarded for any other reason: overflow
	// (the sender is further ahead than MaxDepth), reducing the delay to
	// the target depth, stray packets far outside the stream, and Reset.
	Dropped uint64
	// Reordered counts packets that arrived after a packet with a higher
	// sequence number and were still played in order.
	Reordered uint64
	// Depth is the current target playout delay.
	Depth time.Duration
}

// Tuning of the buffer, in frames or pops (one pop per frame).
const (
	// concealFrames is how many frames an underrun is concealed before
	// the buffer reports FrameEmpty; it matches the Concealer's fade.
	concealFrames = 3
	// marginBlock is the number of packets per block of the arrival
	// margin window; the window is the current and the previous block.
	marginBlock = 50
	// minMargins is how many margins the window needs before the buffer
	// acts on it.
	minMargins = 20
	// skipInterval is the least number of pops between two frames
	// dropped to reduce the delay.
	skipInterval = 10
	// shrinkInterval is how many pops without a late packet an adaptive
	// buffer waits before it lowers its depth by one frame (5 s).
	shrinkInterval = 250
	// maxGrowth bounds how many frames one late packet adds to the depth.
	maxGrowth = 2
	// historyFrames is how many played frames are remembered to tell a
	// duplicate from a late packet.
	historyFrames = 64
	// farFrames is how far outside the buffer a sequence number must be
	// to count as a jump of the stream rather than a late or early packet.
	farFrames = 64
	// ringSlack is the capacity beyond the maximum depth, for packets
	// that arrive early because the consumer's clock stalled.
	ringSlack = 4
)

type jbSlot struct {
	payload []byte
	cn      bool // an RFC 3389 comfort noise packet
	ts      uint32
	seq     uint16
	full    bool
	splice  bool // first frame after a rebase: does not continue the previous one
}

type playedFrame struct {
	ext   int64
	ts    uint32
	valid bool
}

type jbState uint8

const (
	stateIdle    jbState = iota // no stream: the next packet starts priming
	statePriming                // waiting for the depth to fill
	statePlaying
)

// marginWindow tracks the least and greatest arrival margin over the last
// one to two blocks of packets.
type marginWindow struct {
	cur, prev marginBlockStats
}

type marginBlockStats struct{ n, lo, hi int }

func (w *marginWindow) add(m int) {
	b := &w.cur
	if b.n == 0 || m < b.lo {
		b.lo = m
	}
	if b.n == 0 || m > b.hi {
		b.hi = m
	}
	b.n++
	if b.n == marginBlock {
		w.prev, w.cur = w.cur, marginBlockStats{}
	}
}

// shift adds d to every recorded margin: holding the playout point for a
// pop makes every packet one frame earlier relative to it.
func (w *marginWindow) shift(d int) {
	w.cur.lo += d
	w.cur.hi += d
	w.prev.lo += d
	w.prev.hi += d
}

func (w *marginWindow) bounds() (lo, hi, n int) {
	switch {
	case w.cur.n == 0:
		return w.prev.lo, w.prev.hi, w.prev.n
	case w.prev.n == 0:
		return w.cur.lo, w.cur.hi, w.cur.n
	}
	return min(w.cur.lo, w.prev.lo), max(w.cur.hi, w.prev.hi), w.cur.n + w.prev.n
}

// JitterBuffer turns RTP packets that arrive with variable delay, out of
// order, duplicated or not at all into a steady stream of frames, one per
// call of Pop or PopPCM.
//
// Push is called on the RTP reader goroutine; Pop or PopPCM is called by
// one consumer goroutine once per frame time (20 ms), driven by the
// consumer's own clock (a conference mixer, a recorder, a relay). Push,
// Stats and Reset are safe for concurrent use with everything; Pop and
// PopPCM must not be called concurrently with each other.
//
// Packet time: each packet pushed with Push carries the current packet
// time (FrameSamples at first). PushSamples gives a packet's duration: when
// the stream's packets are of another duration (10 to 60 ms, RFC 4566
// ptime), confirmed by two packets in a row or by the first packet of a
// stream, the buffer works in packets of that duration from then on (a
// change while playing restarts the stream, dropping what is buffered),
// and PopPCM re-frames: it still returns one FrameSamples frame per call,
// taking PCM from as many packets as that needs, so that the buffer's
// unit below (depth, margins, concealment, statistics) is the packet and
// a 40 ms packet is one packet, not two frames of which one is missing.
//
// Comfort noise: PushComfortNoise queues an RFC 3389 packet in sequence
// order. It plays as FrameSilence; the underrun after it is the sender's
// pause, not loss: the buffer reports FrameEmpty without concealing and
// primes again on the next packet.
//
// Packets are placed by sequence number, extended across the 65535→0 wrap;
// timestamps only distinguish a sender that paused (silence suppression)
// from a late packet. A timestamp jump with contiguous sequence numbers is
// therefore played without a gap. A sequence number jump of more than
// about a second, confirmed by a second packet that continues it, rebases
// the stream so that the new packets follow the buffered ones; call Reset
// when the SSRC changes.
//
// Playout: the first packet is played on the Depth-th pop after it
// arrived (pops before that return FrameEmpty). From then on each pop plays
// the next sequence number. A missing frame is concealed when a later
// packet is already buffered. When nothing at all is buffered (underrun),
// the buffer holds its playout point and conceals, so a packet that is
// merely late still plays, at the cost of one more frame of delay; after
// three such frames it reports FrameEmpty and primes again on the next
// packet.
//
// Delay control: each arriving packet's margin (how many pops before its
// turn it arrived) is recorded over the last 50 to 100 packets. When even
// the fastest packet of that window arrived more than one frame beyond the
// target depth ahead, one frame is dropped (at most every 200 ms, and only
// between two buffered frames), which brings a delay inflated by a burst,
// by underruns or by a sender clock running fast back to the target. When a
// frame is missing and the fastest packets have less margin than the
// target, the playout point is held instead of concealing past the frame,
// which raises the delay to the target.
//
// Adaptive rule: every packet that arrives late grows the target depth by
// its lateness, at most two frames per packet; so does an underrun that
// ends when the awaited packet arrives, unless its timestamp shows that the
// sender paused. After five seconds without a late packet, the target
// shrinks by one frame if the spread of the margins in the window (the
// jitter) is at least two frames less than the target, so that the slowest
// packets would still arrive a frame early; then five seconds more before
// the next step. The target stays within MinDepth and MaxDepth.
type JitterBuffer struct {
	cfg          JitterConfig // with defaults applied
	frameSamples int          // timestamp units per packet
	outSamples   int          // timestamp units per PopPCM frame
	frameDur     time.Duration
	clockRate    int
	sampleRate   int
	pcmLen       int
	adaptive     bool
	minT, maxT   int

	mu        sync.Mutex
	ring      []jbSlot
	stored    int
	state     jbState
	countdown int
	play      int64 // extended sequence number of the next frame to pop
	maxExt    int64 // highest extended sequence number received
	maxSeq    uint16
	target    int // depth in frames
	margins   marginWindow
	sinceSkip int
	sinceLate int
	splice    bool // the next frame does not continue the previous one
	holding   int  // consecutive underrun pops
	silent    bool // the last frame played was comfort noise
	// pending is a packet duration seen on the last packet that differs
	// from frameSamples; a second one in a row switches to it.
	pending int
	await   struct {
		active  bool
		ext     int64
		ts      uint32
		tsKnown bool
		pops    int
	}
	cand struct {
		valid   bool
		seq     uint16
		ts      uint32
		payload []byte
	}
	recent [historyFrames]playedFrame
	stats  JitterStats

	// Consumer side, used only by PopPCM.
	payload []byte
	conc    *Concealer
	outLen  int       // PCM samples per PopPCM frame
	fifo    []int16   // PCM of popped packets not yet returned
	segs    []fifoSeg // the statuses of fifo's samples, in order
	chunk   []int16   // scratch: one packet's PCM
}

// fifoSeg is a run of samples in the re-framing FIFO with one status.
type fifoSeg struct {
	n  int
	st FrameStatus
}

// NewJitterBuffer returns an empty buffer configured by cfg.
func NewJitterBuffer(cfg JitterConfig) *JitterBuffer {
	if cfg.ClockRate <= 0 {
		cfg.ClockRate = 8000
	}
	if cfg.FrameSamples <= 0 {
		cfg.FrameSamples = 160
	}
	if cfg.SampleRate <= 0 {
		cfg.SampleRate = cfg.ClockRate
	}
	if cfg.Depth <= 0 {
		cfg.Depth = 60 * time.Millisecond
	}
	if cfg.MaxDepth <= 0 {
		cfg.MaxDepth = 200 * time.Millisecond
	}
	if cfg.MinDepth <= 0 {
		cfg.MinDepth = 20 * time.Millisecond
	}
	jb := &JitterBuffer{
		cfg:        cfg,
		outSamples: cfg.FrameSamples,
		clockRate:  cfg.ClockRate,
		sampleRate: cfg.SampleRate,
		adaptive:   cfg.Adaptive,
		maxExt:     1 << 40,
		conc:       NewConcealer(cfg.SampleRate),
	}
	jb.setPacketTime(cfg.FrameSamples, cfg.Depth)
	jb.outLen = jb.pcmSamples(jb.outSamples)
	return jb
}

// pcmSamples converts timestamp units to PCM samples.
func (jb *JitterBuffer) pcmSamples(units int) int {
	return max(int(int64(units)*int64(jb.sampleRate)/int64(jb.clockRate)), 1)
}

// setPacketTime makes the buffer work in packets of samples timestamp
// units with a target depth of depth, rounded up to whole packets. It
// reallocates the ring and forgets the played history, so it is only
// called while nothing is buffered.
func (jb *JitterBuffer) setPacketTime(samples int, depth time.Duration) {
	cfg := jb.cfg
	frameDur := max(time.Duration(samples)*time.Second/time.Duration(cfg.ClockRate), 1)
	frames := func(d time.Duration) int {
		return max(int(min((d+frameDur-1)/frameDur, 1<<12)), 1)
	}
	target := frames(depth)
	maxT := max(frames(cfg.MaxDepth), frames(cfg.Depth))
	minT := min(frames(cfg.MinDepth), frames(cfg.Depth))
	if !cfg.Adaptive {
		target = frames(cfg.Depth)
		minT, maxT = target, target
	}
	if samples > jb.outSamples {
		// A packet longer than a frame is consumed over several pops of
		// PopPCM: keep a second one in hand, or every packet would have
		// to arrive just in time.
		target, minT, maxT = max(target, 2), max(minT, 2), max(maxT, 2)
	}
	target = min(max(target, minT), maxT)
	jb.frameSamples, jb.frameDur = samples, frameDur
	jb.target, jb.minT, jb.maxT = target, minT, maxT
	if n := maxT + ringSlack; n != len(jb.ring) {
		jb.ring = make([]jbSlot, n)
	}
	jb.recent = [historyFrames]playedFrame{}
	jb.pcmLen = jb.pcmSamples(samples)
	jb.pending = 0
}

// maxPacketDiv bounds the packet duration PushSamples accepts to a 1/5 of
// the clock rate: 200 ms, beyond any usual RFC 4566 maxptime.
const maxPacketDiv = 5

func (jb *JitterBuffer) slot(ext int64) *jbSlot {
	n := int64(len(jb.ring))
	return &jb.ring[((ext%n)+n)%n]
}

func (jb *JitterBuffer) history(ext int64) *playedFrame {
	return &jb.recent[((ext%historyFrames)+historyFrames)%historyFrames]
}

// Push adds a received packet of the current packet time. It copies
// payload, so the caller may reuse it at once. seq and ts are the packet's
// RTP sequence number and timestamp.
func (jb *JitterBuffer) Push(seq uint16, ts uint32, payload []byte) {
	jb.PushSamples(seq, ts, payload, 0)
}

// PushSamples adds a received packet that carries samples RTP timestamp
// units of audio (240 for a 30 ms G.711 packet); 0 means the current
// packet time, for codecs whose packets cannot be measured by their size.
// A stream of packets of another duration changes the buffer's packet
// time (see [JitterBuffer]). It copies payload.
func (jb *JitterBuffer) PushSamples(seq uint16, ts uint32, payload []byte, samples int) {
	jb.mu.Lock()
	defer jb.mu.Unlock()
	jb.push(seq, ts, payload, samples, false)
}

// PushComfortNoise adds an RFC 3389 comfort noise packet: the sender
// stops sending audio, which is silence, not loss, until its next packet.
// The noise level is not reproduced: the frame plays as silence.
func (jb *JitterBuffer) PushComfortNoise(seq uint16, ts uint32) {
	jb.mu.Lock()
	defer jb.mu.Unlock()
	jb.push(seq, ts, nil, 0, true)
}

func (jb *JitterBuffer) push(seq uint16, ts uint32, payload []byte, samples int, cn bool) {
	jb.stats.Received++
	if samples > 0 && samples <= jb.clockRate/maxPacketDiv && samples != jb.frameSamples {
		if jb.state == stateIdle || jb.pending == samples {
			// RFC 4566 ptime: the sender's packet time differs from
			// ours. Start over in packets of its duration.
			if jb.state != stateIdle {
				jb.dropAll()
				jb.state = stateIdle
			}
			jb.setPacketTime(samples, time.Duration(jb.target)*jb.frameDur)
		} else {
			jb.pending = samples
		}
	} else {
		jb.pending = 0
	}
	ext := jb.maxExt + int64(int16(seq-jb.maxSeq))
	if jb.await.active && ext != jb.await.ext {
		jb.await.active = false
	}
	if jb.state == stateIdle {
		jb.resolveAwait(ext, ts)
		jb.dropCandidate()
		jb.startPriming(seq, ts, payload, cn)
		return
	}
	if k := ext - jb.play; k < -farFrames || k >= int64(len(jb.ring))+farFrames {
		if !jb.jump(seq, ts, payload) {
			return
		}
		ext = jb.maxExt + 1
	} else {
		jb.dropCandidate()
	}
	jb.insert(ext, seq, ts, payload, false, cn)
}

// dropAll discards every buffered packet, counting them as dropped.
func (jb *JitterBuffer) dropAll() {
	jb.dropCandidate()
	for i := range jb.ring {
		if jb.ring[i].full {
			jb.ring[i].full = false
			jb.stats.Dropped++
		}
	}
	jb.stored = 0
	jb.holding = 0
	jb.await.active = false
	jb.silent = false
}

func (jb *JitterBuffer) dropCandidate() {
	if jb.cand.valid {
		jb.cand.valid = false
		jb.stats.Dropped++
	}
}

// jump handles a packet far outside the buffer. A single such packet is
// kept aside; if the next packet continues it, the stream has jumped (a new
// source behind the same SSRC, or a sender restart), and the timeline is
// rebased so that both follow the highest sequence number received so far.
// jump reports whether the packet confirmed a jump; the caller then inserts
// it after the kept one, which jump has inserted.
func (jb *JitterBuffer) jump(seq uint16, ts uint32, payload []byte) bool {
	c := &jb.cand
	if c.valid && seq == c.seq+1 && ts-c.ts <= uint32(4*jb.frameSamples) {
		c.valid = false
		jb.maxSeq = c.seq - 1
		jb.insert(jb.maxExt+1, c.seq, c.ts, c.payload, true, false)
		return true
	}
	jb.dropCandidate()
	c.valid, c.seq, c.ts = true, seq, ts
	c.payload = append(c.payload[:0], payload...)
	return false
}

func (jb *JitterBuffer) startPriming(seq uint16, ts uint32, payload []byte, cn bool) {
	ext := jb.maxExt + int64(int16(seq-jb.maxSeq))
	jb.state = statePriming
	jb.countdown = jb.target
	jb.play, jb.maxExt, jb.maxSeq = ext, ext, seq
	jb.holding = 0
	jb.silent = false
	jb.insert(ext, seq, ts, payload, false, cn)
}

// resolveAwait ends an underrun when the awaited packet arrives: it was
// late by the number of pops waited, unless the sender paused.
func (jb *JitterBuffer) resolveAwait(ext int64, ts uint32) {
	a := &jb.await
	if !a.active || ext != a.ext {
		return
	}
	a.active = false
	if a.tsKnown && int32(ts-a.ts) >= int32(jb.frameSamples) {
		return // the timestamp jumped: silence suppression, not lateness
	}
	jb.grow(a.pops)
}

func (jb *JitterBuffer) grow(late int) {
	jb.sinceLate = 0
	if jb.adaptive {
		jb.target = min(jb.target+min(late, maxGrowth), jb.maxT)
	}
}

func (jb *JitterBuffer) insert(ext int64, seq uint16, ts uint32, payload []byte, splice, cn bool) {
	k := ext - jb.play
	switch {
	case k < 0 && jb.state == statePriming && jb.maxExt-ext < int64(len(jb.ring)):
		// An earlier packet overtaken before playout starts: start there.
		jb.play, k = ext, 0
	case k < 0:
		if h := jb.history(ext); -k <= historyFrames && h.valid && h.ext == ext {
			jb.stats.Duplicates++
			return
		}
		jb.stats.Late++
		if jb.state == statePlaying {
			jb.margins.add(int(k) + 1)
			jb.grow(int(-k))
		}
		return
	case k >= int64(len(jb.ring)):
		// Overflow: make room by dropping the oldest frames.
		d := k - int64(len(jb.ring)) + 1
		jb.dropUntil(jb.play + d)
		if jb.state == statePlaying {
			jb.margins.shift(-int(d))
		}
		jb.splice = true
		k -= d
	}
	s := jb.slot(ext)
	if s.full {
		jb.stats.Duplicates++
		return
	}
	s.payload = append(s.payload[:0], payload...)
	s.seq, s.ts, s.full, s.splice, s.cn = seq, ts, true, splice, cn
	jb.stored++
	switch {
	case ext > jb.maxExt:
		jb.maxExt, jb.maxSeq = ext, seq
	case ext < jb.maxExt:
		jb.stats.Reordered++
	}
	if jb.state == statePlaying {
		jb.margins.add(int(k) + 1)
		jb.resolveAwait(ext, ts)
	}
}

// dropUntil discards the frames before ext.
func (jb *JitterBuffer) dropUntil(ext int64) {
	for ; jb.play < ext; jb.play++ {
		if jb.stored == 0 {
			jb.play = ext
			return
		}
		if s := jb.slot(jb.play); s.full {
			s.full = false
			jb.stored--
			jb.stats.Dropped++
		}
	}
}

// startPlaying ends priming: it keeps at most target frames, starting at
// the first buffered one.
func (jb *JitterBuffer) startPlaying() {
	jb.dropUntil(jb.maxExt - int64(jb.target) + 1)
	for jb.stored > 0 && !jb.slot(jb.play).full {
		jb.play++
	}
	jb.state = statePlaying
	jb.margins = marginWindow{}
	jb.sinceSkip, jb.sinceLate = 0, 0
	jb.splice = false
}

// Pop returns the payload of the next frame, copied into dst's storage
// (dst may be nil), and what the frame holds. For FrameConcealed and
// FrameEmpty the payload is empty.
func (jb *JitterBuffer) Pop(dst []byte) ([]byte, FrameStatus) {
	jb.mu.Lock()
	defer jb.mu.Unlock()
	out, st, _ := jb.pop(dst[:0])
	if st == FrameConcealed {
		out = out[:0]
	}
	return out, st
}

func (jb *JitterBuffer) pop(dst []byte) (payload []byte, st FrameStatus, splice bool) {
	if jb.await.active {
		jb.await.pops++
	}
	switch jb.state {
	case stateIdle:
		return dst, FrameEmpty, false
	case statePriming:
		if jb.countdown--; jb.countdown > 0 {
			return dst, FrameEmpty, false
		}
		jb.startPlaying()
	}
	jb.sinceSkip++
	jb.sinceLate++
	lo, hi, n := jb.margins.bounds()
	// Shrink only if the spread of margins (the jitter) would still fit in
	// the smaller depth with a frame to spare.
	if jb.adaptive && jb.sinceLate >= shrinkInterval && n >= minMargins && jb.target-1 >= hi-lo+1 && jb.target > jb.minT {
		jb.target--
		jb.sinceLate = 0
	}
	head := jb.slot(jb.play)
	if head.full {
		jb.holding = 0
		splice = jb.splice
		next := jb.slot(jb.play + 1)
		// Packets shorter than a frame are popped in bursts, one frame's
		// worth per PopPCM: their margins vary by as many pops.
		slack := max(jb.outSamples/jb.frameSamples, 1)
		if jb.sinceSkip >= skipInterval && n >= minMargins && hi > jb.target+slack && next.full {
			// The fastest packets wait more than a frame longer than the
			// target: drop one frame.
			head.full = false
			jb.stored--
			jb.stats.Dropped++
			*jb.history(jb.play) = playedFrame{}
			jb.play++
			jb.margins.shift(-1)
			jb.sinceSkip = 0
			head, splice = next, true
		}
		dst = append(dst, head.payload...)
		splice = splice || head.splice
		head.full = false
		jb.stored--
		*jb.history(jb.play) = playedFrame{ext: jb.play, ts: head.ts, valid: true}
		jb.play++
		jb.splice = false
		if jb.silent = head.cn; head.cn {
			jb.stats.Silent++
			return dst[:0], FrameSilence, false
		}
		jb.stats.Played++
		return dst, FrameNormal, splice
	}
	if jb.stored > 0 {
		// A later frame is here, so this one is lost or late.
		jb.holding = 0
		if n >= minMargins && hi < jb.target {
			// Below the target delay: hold, so a late packet still plays.
			jb.margins.shift(1)
			jb.sinceSkip = 0
		} else {
			*jb.history(jb.play) = playedFrame{}
			jb.play++
		}
		jb.stats.Concealed++
		if next := jb.slot(jb.play); next.full && !next.cn {
			// The frame is lost: hand over the next one too, whose
			// payload may carry it again (Opus in-band FEC, RFC 7587
			// section 3.3).
			dst = append(dst, next.payload...)
		}
		return dst, FrameConcealed, false
	}
	if jb.silent {
		// RFC 3389: after comfort noise the sender is silent until it
		// speaks again; prime on its next packet.
		jb.silent = false
		jb.state = stateIdle
		jb.holding = 0
		return dst, FrameEmpty, false
	}
	// Underrun: hold the playout point and wait for the packet.
	if jb.holding == 0 {
		prev := jb.history(jb.play - 1)
		known := prev.valid && prev.ext == jb.play-1
		jb.await.active, jb.await.ext, jb.await.pops = true, jb.play, 1
		jb.await.tsKnown, jb.await.ts = known, prev.ts+uint32(jb.frameSamples)
	}
	jb.holding++
	if jb.holding > concealFrames {
		jb.state = stateIdle
		jb.holding = 0
		return dst, FrameEmpty, false
	}
	jb.margins.shift(1)
	jb.sinceSkip = 0
	jb.stats.Concealed++
	return dst, FrameConcealed, false
}

// PopPCM returns the next frame as PCM, decoded with dec, in dst's storage
// (dst may be nil), and what the frame holds. The result always has exactly
// one frame of samples (FrameSamples·SampleRate/ClockRate): received
// audio decoded (each packet cut or padded with zeros to its duration), a
// replacement for a missing packet from the buffer's [Concealer], or
// silence for FrameEmpty and FrameSilence. When packets are not one frame
// long, the frame is taken from as many packets as it needs and the rest
// is kept for the next call; its status is then FrameConcealed if any of
// it was concealed, else FrameNormal if any of it was received, else
// FrameSilence or FrameEmpty. Audio that follows concealment, silence, or
// packets dropped to reduce the delay is cross-faded in, so the output has
// no clicks. dec must be the decoder of this stream (see
// [codec.NewDecoder]) and is only called for received packets.
func (jb *JitterBuffer) PopPCM(dst []int16, dec codec.Decoder) ([]int16, FrameStatus) {
	n := jb.outLen
	// One pop per packet time: packets shorter than a frame are popped
	// several times per call, also while priming or with nothing to play,
	// so that the buffer's clock runs at the packet rate.
	for covered := len(jb.fifo); covered < n; {
		covered += jb.popPacket(dec)
	}
	dst = dst[:0]
	take := min(n, len(jb.fifo))
	dst = append(dst, jb.fifo[:take]...)
	for len(dst) < n {
		dst = append(dst, 0)
	}
	jb.fifo = append(jb.fifo[:0], jb.fifo[take:]...)
	st := FrameEmpty
	for take > 0 && len(jb.segs) > 0 {
		g := &jb.segs[0]
		k := min(g.n, take)
		switch {
		case g.st == FrameConcealed, st == FrameConcealed:
			st = FrameConcealed
		case g.st == FrameNormal, st == FrameNormal:
			st = FrameNormal
		default:
			st = g.st
		}
		g.n -= k
		take -= k
		if g.n == 0 {
			jb.segs = append(jb.segs[:0], jb.segs[1:]...)
		}
	}
	return dst, st
}

// popPacket pops one packet, decodes or conceals it, and appends its PCM
// (silence for FrameEmpty) to the re-framing FIFO. It returns the packet
// time popped, in PCM samples.
func (jb *JitterBuffer) popPacket(dec codec.Decoder) int {
	jb.mu.Lock()
	payload, st, splice := jb.pop(jb.payload[:0])
	n := jb.pcmLen
	jb.mu.Unlock()
	jb.payload = payload
	pcm := jb.chunk[:0]
	switch st {
	case FrameNormal:
		pcm = dec.Decode(pcm, payload)
		if len(pcm) < n {
			pcm = append(pcm, make([]int16, n-len(pcm))...)
		}
		pcm = pcm[:n]
		if splice {
			jb.conc.Splice(pcm)
		} else {
			jb.conc.Good(pcm)
		}
	case FrameConcealed:
		if lc, ok := dec.(codec.LossConcealer); ok {
			// The codec conceals from its own state, or recovers the
			// packet from the next one (payload, when it is here).
			pcm = lc.Conceal(pcm, n, payload)
			jb.conc.Good(pcm)
		} else {
			pcm = jb.conc.Conceal(pcm, n)
		}
	case FrameSilence:
		for range n {
			pcm = append(pcm, 0)
		}
		jb.conc.Reset()
	default:
		// Nothing to play for this packet time: silence, in its place.
		for range n {
			pcm = append(pcm, 0)
		}
		jb.conc.Reset()
	}
	jb.chunk = pcm
	jb.fifo = append(jb.fifo, pcm...)
	if k := len(jb.segs); k > 0 && jb.segs[k-1].st == st {
		jb.segs[k-1].n += len(pcm)
	} else {
		jb.segs = append(jb.segs, fifoSeg{n: len(pcm), st: st})
	}
	return n
}

// matchCodec makes PopPCM produce frames at c's sample rate when c runs at
// the buffer's clock rate but was not what the buffer was configured for:
// a session's consumer is set up before the codec is known, or the codec
// changes on a re-INVITE (G.711 to G.722 doubles the samples per frame at
// the same RTP clock rate), after matchClock. It is called on the consumer
// side, like PopPCM.
func (jb *JitterBuffer) matchCodec(c codec.Codec) {
	if c == nil || c.ClockRate() <= 0 || c.SampleRate() <= 0 {
		return
	}
	jb.matchClock(c)
	jb.mu.Lock()
	rate := jb.sampleRate
	jb.mu.Unlock()
	if c.SampleRate() == rate {
		return
	}
	jb.mu.Lock()
	jb.sampleRate = c.SampleRate()
	jb.pcmLen = jb.pcmSamples(jb.frameSamples)
	jb.outLen = jb.pcmSamples(jb.outSamples)
	jb.mu.Unlock()
	jb.fifo, jb.segs = jb.fifo[:0], jb.segs[:0]
	jb.conc = NewConcealer(jb.sampleRate)
}

// matchClock makes the buffer work at c's RTP clock rate when it differs
// (Opus's 48 kHz against the default 8000): frames and packets are 20 ms
// at the new clock, the packet time is learnt again from what is pushed,
// and the stream starts over, dropping what is buffered, which was
// measured in the old clock's units. PCM lengths do not change until
// matchCodec sets the sample rate. The reader calls it before it pushes a
// packet, so that the first packet is measured at the right clock; it is
// safe from any goroutine.
func (jb *JitterBuffer) matchClock(c codec.Codec) {
	jb.mu.Lock()
	defer jb.mu.Unlock()
	jb.matchClockLocked(c)
}

// pushCodec pushes a received packet of c, first matching c's clock
// (matchClock) under the same lock: the reader's path.
func (jb *JitterBuffer) pushCodec(c codec.Codec, seq uint16, ts uint32, payload []byte) {
	jb.mu.Lock()
	defer jb.mu.Unlock()
	jb.matchClockLocked(c)
	jb.push(seq, ts, payload, codec.Samples(c, payload), false)
}

func (jb *JitterBuffer) matchClockLocked(c codec.Codec) {
	if c == nil || c.ClockRate() <= 0 {
		return
	}
	clock := c.ClockRate()
	if clock == jb.clockRate {
		return
	}
	depth := time.Duration(jb.target) * jb.frameDur
	jb.outSamples = max(int(int64(jb.outSamples)*int64(clock)/int64(jb.clockRate)), 1)
	jb.dropAll()
	jb.state = stateIdle
	jb.splice = false
	jb.margins = marginWindow{}
	jb.cfg.ClockRate, jb.clockRate = clock, clock
	jb.setPacketTime(jb.outSamples, depth)
}

// Reset forgets every buffered packet, counting them as dropped, and waits
// for a new stream: call it when the SSRC changes. The counters and the
// adaptive depth are kept.
func (jb *JitterBuffer) Reset() {
	jb.mu.Lock()
	defer jb.mu.Unlock()
	jb.dropAll()
	jb.state = stateIdle
	jb.splice = false
	jb.recent = [historyFrames]playedFrame{}
	jb.margins = marginWindow{}
}

// Stats returns the buffer's counters and current depth.
func (jb *JitterBuffer) Stats() JitterStats {
	jb.mu.Lock()
	defer jb.mu.Unlock()
	s := jb.stats
	s.Depth = time.Duration(jb.target) * jb.frameDur
	return s
}

// Concealer hides missing frames in a stream of decoded PCM frames, in the
// manner of ITU-T G.711 Appendix I: a missing frame is replaced by the last
// period of the audio before it, repeated, at full level for the first
// missing frame and then fading linearly to silence over the next two, so
// a longer gap becomes silence rather than a buzz. The period is the lag,
// between 2.5 ms and one frame, at which the audio best matches itself, so
// the repetition continues a voice or a tone without a jump. The first
// received frame after concealment, silence or a skip is cross-faded in
// over 5 ms, so neither the start nor the end of a gap clicks.
//
// Concealment works at any sample rate and frame length up to 20 ms
// (longer frames repeat a 20 ms period). A Concealer keeps state between calls and is not safe
// for concurrent use. The zero value is not usable; use [NewConcealer].
type Concealer struct {
	xfade     int     // cross-fade length: 5 ms
	minLag    int     // shortest repetition period: 2.5 ms
	window    int     // correlation window of the period search: 10 ms
	hist      []int16 // the most recent output (30 ms), oldest first
	histN     int     // valid samples at the end of hist
	seg       []int16 // the period repeated while concealing
	segN, pos int
	lost      int // samples concealed so far in this gap
	fadeN     int // frame length when the gap began
	frameN    int // length of the last good frame
	mode      concealMode
}

type concealMode uint8

const (
	modeSilent     concealMode = iota // the output was silence
	modeLive                          // the output was a received frame
	modeConcealing                    // the output was a replacement
)

// NewConcealer returns a Concealer for PCM at sampleRate Hz (8000 if not
// positive). Until it has seen a received frame it conceals with silence.
func NewConcealer(sampleRate int) *Concealer {
	if sampleRate <= 0 {
		sampleRate = 8000
	}
	hist := max(sampleRate*30/1000, 12)
	return &Concealer{
		xfade:  max(sampleRate*5/1000, 1),
		minLag: max(sampleRate*25/10000, 2),
		window: max(sampleRate*10/1000, 4),
		hist:   make([]int16, hist),
		seg:    make([]int16, hist),
	}
}

// Good records frame, a received frame that follows the previous output.
// If the previous output was concealment or silence, Good cross-fades the
// start of frame, in place, from the continuation of that output.
func (c *Concealer) Good(frame []int16) {
	if c.mode != modeLive {
		c.crossfade(frame)
	}
	c.record(frame)
}

// Splice records frame, a received frame that does not continue the
// previous output because frames in between were dropped. It cross-fades
// the start of frame, in place, from a continuation of the previous output.
func (c *Concealer) Splice(frame []int16) {
	if c.mode == modeLive {
		c.begin()
	}
	c.crossfade(frame)
	c.record(frame)
}

// Conceal appends a replacement for one missing frame of n samples to dst
// and returns the extended slice.
func (c *Concealer) Conceal(dst []int16, n int) []int16 {
	if c.mode == modeLive {
		c.begin()
	}
	if c.fadeN == 0 {
		c.fadeN = max(n, 1)
	}
	start := len(dst)
	for range max(n, 0) {
		dst = append(dst, c.next())
	}
	// The history is what was output, replacements included, so that the
	// next gap or splice continues the audio actually heard.
	if c.histN > 0 {
		c.remember(dst[start:])
	}
	return dst
}

// Reset forgets the audio so far, as after silence: the next frame is
// faded in.
func (c *Concealer) Reset() {
	c.histN = 0
	c.mode = modeSilent
}

// begin starts a gap: it finds the period at which the recent output
// repeats best and keeps the last period of it for repetition.
func (c *Concealer) begin() {
	c.lost, c.pos, c.fadeN = 0, 0, c.frameN
	if c.histN == 0 {
		c.mode = modeSilent
		return
	}
	c.mode = modeConcealing
	h := c.hist[len(c.hist)-c.histN:]
	c.segN = c.period(h)
	copy(c.seg, h[len(h)-c.segN:])
}

// period returns the lag, in samples, at which the last 10 ms of h best
// match the audio before them (normalised cross-correlation), searched from
// 2.5 ms to one frame, or len(h) if h is too short to search. Repeating
// one such lag, rather than a multiple of a shorter pitch period, keeps the
// error of a period that is not a whole number of samples from adding up
// across the repetitions.
func (c *Concealer) period(h []int16) int {
	l := len(h)
	w := min(c.window, l/2)
	hiLag := min(max(c.frameN, c.minLag), l-w)
	if hiLag < c.minLag || w == 0 {
		return l
	}
	x := h[l-w:]
	best, bestScore := hiLag, math.Inf(-1)
	for p := c.minLag; p <= hiLag; p++ {
		y := h[l-w-p : l-p]
		var xy, yy float64
		for i, v := range x {
			u := float64(y[i])
			xy += float64(v) * u
			yy += u * u
		}
		if xy <= 0 || yy == 0 {
			continue
		}
		if score := xy / math.Sqrt(yy); score > bestScore {
			best, bestScore = p, score
		}
	}
	return best
}

// next returns the next sample of the replacement signal and advances it.
func (c *Concealer) next() int16 {
	if c.mode != modeConcealing {
		return 0
	}
	f := c.fadeN
	g := 1.0
	if c.lost >= f {
		g = max(1-float64(c.lost-f)/float64(2*f), 0)
	}
	v := float64(c.seg[c.pos]) * g
	c.pos++
	if c.pos == c.segN {
		c.pos = 0
	}
	c.lost++
	if g == 0 {
		c.mode = modeSilent
	}
	return int16(math.Round(v))
}

func (c *Concealer) crossfade(frame []int16) {
	x := min(c.xfade, len(frame))
	for i := range x {
		w := float64(i+1) / float64(x+1)
		v := float64(c.next())*(1-w) + float64(frame[i])*w
		frame[i] = int16(max(min(math.Round(v), math.MaxInt16), math.MinInt16))
	}
}

// record appends frame to the history and marks the output live.
func (c *Concealer) record(frame []int16) {
	c.remember(frame)
	c.frameN = len(frame)
	c.mode = modeLive
}

// remember appends samples to the history.
func (c *Concealer) remember(frame []int16) {
	h := c.hist
	if len(frame) >= len(h) {
		copy(h, frame[len(frame)-len(h):])
		c.histN = len(h)
	} else {
		copy(h, h[len(frame):])
		copy(h[len(h)-len(frame):], frame)
		c.histN = min(c.histN+len(frame), len(h))
	}
}
