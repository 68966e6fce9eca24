package recorder

import (
	"fmt"
	"sync"
	"time"

	"github.com/switchboard-sip/switchboard/media"
	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/media/codec"
)

// This file holds a track: one source of audio (what a call hears, what it
// sends, a conference's mix) on the recorder's clock.
//
// Observers push PCM on their own goroutines (a session's reader, a
// mixer's clock), whenever packets arrive; the recorder's clock pulls one
// 20 ms frame per track per tick. Between them is a ring indexed by the
// position of a sample on the recorder's time line (samples since Start).
// A chunk is placed where the audio was spoken, not where it happened to
// arrive:
//
//   - chunks of one talk spurt follow each other without gaps, whatever
//     their arrival jitter;
//   - when the RTP sequence numbers show lost packets (the flow's loss and
//     receive counters, read on the reader goroutine right after the
//     packet was counted), the gap is left as silence, so the track does
//     not slip earlier by a frame per lost packet; the gap is bounded by
//     the arrival time, so frames pulled from a jitter buffer, which
//     conceals losses itself, are never pushed apart;
//   - the spurt's time line follows the earliest arrivals: a chunk that
//     arrives earlier than the line predicts moves the whole spurt (what
//     the clock has not yet read) earlier, so a first packet delayed by
//     jitter does not delay the spurt; a line that stays later than every
//     arrival for a second (a sender whose clock is slow, a loss nobody
//     counted) is moved later, and at once, with the chunks that showed
//     it, when four chunks in a row arrive more than 50 ms late (a sender
//     that paused);
//   - a chunk that arrives much later than the line (hold, DTX, a long
//     outage) starts a new spurt at its arrival.
//
// Missing audio reads as silence: the clock clears what it read, and the
// file's length is the wall-clock time. The clock reads Latency behind
// real time, which is the jitter the placement can absorb.

const (
	// placeTolerance is how far (in time) a chunk may arrive from the line
	// before the line moves.
	placeTolerance = 2 * time.Millisecond
	// driftTolerance is how late every arrival of driftWindow chunks must
	// be before the line moves later.
	driftTolerance = 5 * time.Millisecond
	driftWindow    = 50
	// jumpAfter is the lateness that, for jumpChunks chunks in a row,
	// moves the line at once: more than any jitter the placement absorbs
	// otherwise.
	jumpAfter  = 50 * time.Millisecond
	jumpChunks = 4
	// respurtAfter is the lateness that starts a new spurt.
	respurtAfter = 120 * time.Millisecond
	// maxSeqGap bounds the loss one gap may account for (1 s of 20 ms
	// packets); a larger one is a restart, placed by arrival.
	maxSeqGap = 50
	// knownAfter is how many chunks, each with a new packet, show that a
	// track's chunks come on arrival rather than from a jitter buffer
	// (pulled frames repeat the packet count sooner or later).
	knownAfter = 100
)

// source says what a track records.
type source uint8

const (
	srcHeard source = iota + 1
	srcSent
	srcMix
	srcParticipant
)

func (s source) String() string {
	return [...]string{"", "heard", "sent", "mix", "participant"}[s]
}

// track is one recorded stream.
type track struct {
	r        *Recorder
	index    int
	label    string
	party    string
	src      source
	flow     *media.Flow                             // nil for a mix
	codec    codec.Codec                             // the leg's codec at Start; nil for a mix
	conv     *audio.FrameResampler                   // to the recording's rate from the leg's; used by the observer only
	seqAware bool                                    // heard on arrival: the flow's counters show losses
	remove   func()                                  // removes the observer or tap
	attach   func(*track) (remove func(), err error) // a mix: adds the tap

	// Placement state, guarded by mu (the observer's goroutine writes,
	// the clock reads).
	mu      sync.Mutex
	ring    []int16
	mask    int64
	readPos int64 // next sample the clock reads
	placed  bool  // a spurt is under way
	cursor  int64 // where the next chunk goes
	spurt   int64 // where the current spurt starts
	minLate int64 // smallest lateness in the drift window
	nLate   int
	minJump int64  // smallest lateness in the current run of jumps
	nJump   int    // chunks in a row later than jumpLate
	lastE   uint64 // the flow's expected-packet count at the last chunk
	chunks  int    // chunks seen, up to knownAfter
	known   bool   // chunks come on arrival (not pulled from a jitter buffer)
	clocked bool   // chunks are pulled from a jitter buffer

	// Clock state, used by the clock goroutine only.
	frame  []int16
	active bool // voice activity
	hang   int  // frames of hangover left
}

// prepare sizes the track's buffers for the recording's rate and sets
// the converter from its source's rate (its codec's; 8 kHz for a
// conference's mix): before Start, which may change the rate, and for a
// track added while recording.
func (t *track) prepare() error {
	r := t.r
	src := sampleRate
	if t.src != srcMix && t.codec != nil {
		src = t.codec.SampleRate()
	}
	t.conv = nil
	if src != r.rate {
		conv, err := audio.NewFrameResampler(src, r.rate)
		if err != nil {
			return fmt.Errorf("recorder: track %q at %d Hz: %w", t.label, src, err)
		}
		t.conv = conv
	}
	if len(t.ring) != r.ringSamples {
		t.ring, t.mask = make([]int16, r.ringSamples), int64(r.ringSamples-1)
	}
	if len(t.frame) != r.frameN {
		t.frame = make([]int16, r.frameN)
	}
	return nil
}

// newTrack returns a track whose ring holds ringSamples (a power of two).
func newTrack(r *Recorder, src source, flow *media.Flow, label, party string, ringSamples int) *track {
	t := &track{r: r, src: src, flow: flow, label: label, party: party,
		ring: make([]int16, ringSamples), mask: int64(ringSamples - 1),
		frame: make([]int16, r.frameN)}
	if flow != nil {
		t.codec = flow.Codec()
	}
	t.seqAware = src == srcHeard || src == srcParticipant
	if err := t.prepare(); err != nil {
		r.log.Warn("recorder: track at a rate that cannot be converted", "track", label, "error", err)
	}
	return t
}

// WriteAudio is the track's observer: it places pcm on the time line.
func (t *track) WriteAudio(pcm []int16) {
	if t.conv != nil && len(pcm) > 0 {
		pcm = t.conv.Frame(pcm)
	}
	n := int64(len(pcm))
	if n == 0 {
		return
	}
	r := t.r
	arrival := r.samplesAt(time.Now())
	var e uint64
	if t.seqAware {
		// The observer runs on the reader goroutine right after the
		// packet was counted: expected = lost + received moves by the
		// sequence number step.
		st := t.flow.Stats()
		e = st.PacketsLost + st.PacketsReceived
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var seqGap int64
	if t.seqAware {
		switch {
		case t.lastE != 0 && e == t.lastE:
			// Shown a frame without a new packet: frames are pulled from
			// a jitter buffer, which conceals losses itself.
			t.clocked = true
		case t.lastE != 0 && e > t.lastE && !t.clocked:
			seqGap = int64(e-t.lastE) - 1
		}
		t.lastE = e
		if !t.known && !t.clocked {
			t.chunks++
			t.known = t.chunks >= knownAfter
		}
	}
	t.place(pcm, n, arrival, seqGap)
}

// place puts a chunk of n samples that ended arriving at position arrival
// on the time line (see the comment at the top of the file).
func (t *track) place(pcm []int16, n, arrival, seqGap int64) {
	r := t.r
	if !t.placed {
		t.startSpurt(arrival - n)
	} else {
		late := arrival - (t.cursor + n)
		if seqGap > 0 && seqGap <= maxSeqGap {
			// Lost packets: leave their time silent. Until the track is
			// known to come on arrival (not from a jitter buffer, whose
			// frames make the count jump without loss), no more lost
			// frames than the arrival time allows.
			g := seqGap
			if !t.known {
				g = min(g, (late+r.placeTol)/n)
			}
			if g > 0 {
				t.cursor += g * n
				late -= g * n
			}
		}
		if late > r.jumpLate {
			if t.nJump == 0 || late < t.minJump {
				t.minJump = late
			}
			t.nJump++
		} else {
			t.nJump = 0
		}
		switch {
		case late > r.respurt:
			t.startSpurt(arrival - n)
		case late < -r.placeTol:
			t.shiftSpurt(-late)
		case t.nJump >= jumpChunks:
			// Every chunk of the run was far later than the line: the
			// sender paused (or a loss went uncounted). Move the run, not
			// yet read, to where it arrived.
			t.shiftRun(t.minJump, int64(jumpChunks-1)*n)
			t.nJump, t.nLate = 0, 0
		default:
			if t.nLate == 0 || late < t.minLate {
				t.minLate = late
			}
			t.nLate++
			if t.nLate >= driftWindow {
				if t.minLate > r.driftTol {
					t.cursor += t.minLate
				}
				t.nLate = 0
			}
		}
	}
	t.put(t.cursor, pcm)
	t.cursor += n
}

func (t *track) startSpurt(at int64) {
	t.placed, t.cursor, t.spurt, t.nLate, t.nJump = true, at, at, 0, 0
}

// shiftSpurt moves the current spurt d samples earlier: what the clock
// has not read yet is moved, and the line with it.
func (t *track) shiftSpurt(d int64) {
	from := max(t.spurt, t.readPos+d)
	for p := from; p < t.cursor; p++ {
		t.ring[(p-d)&t.mask] = t.ring[p&t.mask]
	}
	for p := max(t.cursor-d, t.readPos); p < t.cursor; p++ {
		t.ring[p&t.mask] = 0
	}
	t.cursor -= d
	t.spurt -= d
	t.nLate, t.nJump = 0, 0
}

// shiftRun moves the last span samples placed d samples later, leaving
// silence before them, and the line with them.
func (t *track) shiftRun(d, span int64) {
	from := max(t.cursor-span, t.readPos)
	for p := t.cursor - 1; p >= from; p-- {
		t.ring[(p+d)&t.mask] = t.ring[p&t.mask]
	}
	for p := from; p < min(from+d, t.cursor); p++ {
		t.ring[p&t.mask] = 0
	}
	t.cursor += d
}

// put writes pcm at position pos, dropping what the clock has already
// read or what lies beyond the ring.
func (t *track) put(pos int64, pcm []int16) {
	limit := t.readPos + int64(len(t.ring))
	for i, v := range pcm {
		p := pos + int64(i)
		if p < t.readPos || p >= limit {
			continue
		}
		t.ring[p&t.mask] = v
	}
}

// read pulls the frame at the clock's position into t.frame and clears it
// from the ring.
func (t *track) read() []int16 {
	t.mu.Lock()
	p := t.readPos
	for i := range t.frame {
		k := (p + int64(i)) & t.mask
		t.frame[i] = t.ring[k]
		t.ring[k] = 0
	}
	t.readPos = p + int64(len(t.frame))
	if t.placed && t.cursor < t.readPos-int64(len(t.ring))/2 {
		// Nothing for a long time: the next chunk starts a spurt.
		t.placed = false
	}
	t.mu.Unlock()
	return t.frame
}

// voice updates the track's voice activity with its current frame and
// reports whether it changed.
func (t *track) voice() (changed bool) {
	var sum int64
	for _, v := range t.frame {
		sum += int64(v) * int64(v)
	}
	loud := sum >= t.r.voiceSum
	was := t.active
	switch {
	case loud:
		t.active, t.hang = true, t.r.hangFrames
	case t.hang > 0:
		t.hang--
	default:
		t.active = false
	}
	return t.active != was
}
