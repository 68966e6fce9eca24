package audio

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-sip/switchboard/internal/serial"

	"github.com/switchboard-sip/switchboard/media/codec"
)

// ErrPlayerClosed is returned by Start after Close.
var ErrPlayerClosed = errors.New("audio: player closed")

// framePeriod is the packet time of the frames a Player sends.
const framePeriod = 20 * time.Millisecond

// playerRate is the default rate of the PCM a Player produces: the G.711
// rate.
const playerRate = 8000

// PlayerMode says when a Player's clock runs.
type PlayerMode int

const (
	// PlayerAutomatic plays only while at least one session or sink is
	// attached and holds its position while none is, so that music on hold
	// costs nothing while nobody holds. It is the zero value.
	PlayerAutomatic PlayerMode = iota
	// PlayerManual plays from Start on, clocked in real time, whether or
	// not anybody listens, like a radio: a listener hears whatever is
	// playing when it joins.
	PlayerManual
)

// String returns "automatic" or "manual".
func (m PlayerMode) String() string {
	switch m {
	case PlayerAutomatic:
		return "automatic"
	case PlayerManual:
		return "manual"
	}
	return fmt.Sprintf("PlayerMode(%d)", int(m))
}

// UnmarshalText parses "automatic" or "manual", for configuration files.
func (m *PlayerMode) UnmarshalText(b []byte) error {
	switch string(b) {
	case "automatic", "":
		*m = PlayerAutomatic
	case "manual":
		*m = PlayerManual
	default:
		return fmt.Errorf("audio: unknown player mode %q", b)
	}
	return nil
}

// PlayerConfig configures a Player. The zero value plays once in automatic
// mode.
type PlayerConfig struct {
	// Mode is PlayerAutomatic (default) or PlayerManual.
	Mode PlayerMode `yaml:"mode"`
	// Loop restarts the source at its end, without a gap, instead of
	// completing. Default false.
	Loop bool `yaml:"loop"`
	// SampleRate is the rate in Hz of the PCM the player produces, for
	// its sinks and before encoding: 8000 (default) or 16000, for
	// wideband listeners such as a conference mixing at 16 kHz with
	// G.722 participants. Outputs at another rate get the frame
	// resampled once per codec.
	SampleRate int `yaml:"sample_rate"`
	// Logger receives send failures at debug level. Default: discard.
	Logger *slog.Logger `yaml:"-"`
}

// PlayerStats are the counters of a Player.
type PlayerStats struct {
	// Frames counts the 20 ms frames produced. Each is read from the
	// source, downmixed and resampled to the player's rate once, however
	// many sessions and sinks receive it.
	Frames uint64
	// Encodes counts codec encodings: one per codec in use per frame, not
	// one per session.
	Encodes uint64
	// Packets counts the RTP payloads handed to sessions.
	Packets uint64
	// SendErrors counts failed session writes.
	SendErrors uint64
	// Skipped counts frames not sent to a session because its codec is
	// unset or its sample rate cannot be resampled to.
	Skipped uint64
	// Loops counts the times a looping source restarted.
	Loops uint64
	// ComfortNoise counts silent frames handed to outputs that negotiated
	// RFC 3389 comfort noise instead of sent as audio.
	ComfortNoise uint64
	// CaughtUp counts frames sent late, right after the one before,
	// because the clock goroutine was late; Late counts frames given up
	// because it was more than 100 ms late.
	CaughtUp, Late uint64
	// Sessions and Sinks are the current numbers of listeners.
	Sessions, Sinks int
}

// Player plays one Source to many listeners in step: calls' flows or any
// other [Output] ([Player.Attach]) and PCM sinks such as a conference mixer or a recorder
// ([Player.AddSink]). Every 20 ms it reads one frame from the source,
// downmixes and resamples it to the player's rate (8 kHz unless
// [PlayerConfig.SampleRate] says 16 kHz) once, encodes it once per codec
// in use (resampled once more for a codec at another rate, such as G.722's
// 16 kHz for an 8 kHz player, G.711's 8 kHz for a 16 kHz one), and sends the same payload to every output of that codec with
// [Output.WriteRTPPayload]; the cost of decoding does not grow with the
// number of listeners. A listener that joins mid-stream hears the current
// position, not the top.
//
// A Player owns one clock goroutine, started by Start and stopped, and
// waited for, by Stop and Close. Its methods are safe for concurrent use.
// The Player owns its Source and closes it on Close.
//
// Music on hold for every parked call, decoded once:
//
//	src, err := audio.OpenMP3("moh.mp3")
//	if err != nil {
//		return err // corrupt or truncated files fail here
//	}
//	moh, err := audio.NewPlayer(src, audio.PlayerConfig{Loop: true})
//	if err != nil {
//		return err
//	}
//	defer moh.Close()
//	moh.Start() // automatic mode: plays only while someone listens
//	...
//	moh.Attach(call.Flow()) // a call goes on hold: it hears the music from where it is
//	...
//	moh.Detach(call.Flow()) // off hold
type Player struct {
	cfg  PlayerConfig
	log  *slog.Logger
	wake chan struct{} // nudges the clock goroutine after a state change

	mu          sync.Mutex
	sessions    []*playerSession
	sinks       []*playerSink
	onCompleted serial.Handlers[struct{}]
	started     bool // playing or waiting to: between Start and Stop or the end
	paused      bool
	closed      bool
	run         *playerRun // the clock goroutine, if one is running
	inHandler   bool       // the clock goroutine is running the OnCompleted handler
	err         error
	wg          sync.WaitGroup

	// The frame pipeline. tickMu serialises it; it is used by the clock
	// goroutine and by Stop and Close to rewind or close the source.
	tickMu  sync.Mutex
	rate    int // of the frames produced
	src     Source
	rs      *Resampler
	chunk   int     // source samples read at a time: 20 ms, interleaved
	raw     []int16 // interleaved source samples
	mono    []int16 // downmixed samples
	fifo    []int16 // samples not yet sent, at rate; fifo[head:] is pending
	head    int
	frame   []int16 // the current frame
	ended   bool    // the source is exhausted and the resampler flushed
	passLen int64   // samples read since the last rewind
	encs    []*playerEncoding
	frameNo uint64
	sendTo  []playerSend                 // per-tick snapshot of the sessions
	sinkTo  []Sink                       // per-tick snapshot of the sinks
	gone    []Output                     // sessions found closed during a tick
	flush   []interface{ Flush() error } // batches written to during a tick

	frames, encodes, packets, sendErrors, skipped, loops, comfortNoise atomic.Uint64
	caughtUp, late                                                     atomic.Uint64

	closeOnce sync.Once
	closeErr  error
}

// playerRun is one life of the clock goroutine.
type playerRun struct {
	stop     chan struct{} // closed to stop the goroutine
	stopping bool
	exited   chan struct{} // closed when the goroutine returns
}

type playerSession struct {
	s      Output
	marker bool // the next packet starts a talkspurt (RFC 3551 section 4.1)
}

type playerSink struct {
	sink Sink
}

type playerSend struct {
	s      Output
	marker bool
}

// playerEncoding is the current frame encoded with one codec.
type playerEncoding struct {
	codec   codec.Codec
	enc     codec.Encoder
	payload []byte
	frameNo uint64 // the frame payload holds

	// For a codec whose sample rate is not the player's (G.722's 16 kHz),
	// the frame is resampled to that rate first by up.
	up *FrameResampler
}

// NewPlayer returns a stopped Player of src, which it owns from now on. It
// fails if src's sample rate or channel count is unusable.
func NewPlayer(src Source, cfg PlayerConfig) (*Player, error) {
	if src == nil {
		return nil, errors.New("audio: player: nil source")
	}
	rate, ch := src.SampleRate(), src.Channels()
	if ch != 1 && ch != 2 {
		return nil, fmt.Errorf("audio: player: unsupported channel count %d", ch)
	}
	out := cfg.SampleRate
	if out == 0 {
		out = playerRate
	}
	if out != 8000 && out != 16000 {
		return nil, fmt.Errorf("audio: player: sample rate %d Hz (want 8000 or 16000)", out)
	}
	rs, err := NewResampler(rate, out)
	if err != nil {
		return nil, fmt.Errorf("audio: player: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	chunk := max(rate/50, 1) * ch
	return &Player{
		cfg:   cfg,
		log:   log,
		wake:  make(chan struct{}, 1),
		rate:  out,
		src:   src,
		rs:    rs,
		chunk: chunk,
		raw:   make([]int16, chunk),
		mono:  make([]int16, 0, chunk),
		fifo:  make([]int16, 0, 4*out/50),
		frame: make([]int16, out/50),
	}, nil
}

// Start starts playing: from the top after NewPlayer, Stop or the end of
// a play, and from where it was held after Pause. In automatic mode the
// clock then waits for a listener. Start while playing does nothing; it
// may be called from the OnCompleted handler to play again. It returns
// ErrPlayerClosed after Close.
func (p *Player) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		if p.closed {
			return ErrPlayerClosed
		}
		r := p.run
		if r == nil {
			break
		}
		if !r.stopping {
			// Running, or finishing its OnCompleted handler, which checks
			// started once the handler returns.
			if !p.started || p.paused {
				p.started, p.paused, p.err = true, false, nil
				p.markAllLocked()
				p.nudge()
			}
			return nil
		}
		if p.inHandler {
			return errors.New("audio: player: Start during Stop from the OnCompleted handler")
		}
		p.mu.Unlock()
		<-r.exited
		p.mu.Lock()
	}
	p.started, p.paused, p.err = true, false, nil
	p.markAllLocked()
	r := &playerRun{stop: make(chan struct{}), exited: make(chan struct{})}
	p.run = r
	p.wg.Go(func() { p.loop(r) })
	return nil
}

// Stop stops playing and rewinds the source, so that the next Start plays
// from the top. It waits for the clock goroutine to exit; no frame is sent
// after Stop returns. While the OnCompleted handler runs (on that
// goroutine, so Stop may be called from it) Stop does not wait: the
// goroutine exits, sending nothing more, when the handler returns. Stop on
// a stopped or closed Player does nothing.
func (p *Player) Stop() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.started, p.paused = false, false
	r, inHandler := p.run, p.inHandler
	if r != nil && !r.stopping {
		r.stopping = true
		close(r.stop)
	}
	p.mu.Unlock()
	if r != nil && !inHandler {
		<-r.exited
	}
	p.tickMu.Lock()
	p.rewindLocked()
	p.tickMu.Unlock()
}

// Pause holds playback at the current position; no frame is sent after it
// returns. It must not be called from a sink's WriteAudio.
func (p *Player) Pause() {
	p.mu.Lock()
	p.paused = true
	p.mu.Unlock()
	p.nudge()
	p.waitTick() // a frame being sent, so that none is sent after Pause
}

// Resume continues playback after Pause, from where it was held. The next
// packet to each session carries the RTP marker bit.
func (p *Player) Resume() {
	p.mu.Lock()
	if p.paused {
		p.paused = false
		p.markAllLocked()
	}
	p.mu.Unlock()
	p.nudge()
}

// Attach adds s to the outputs the player sends to, from the next frame
// on: s hears the current position. Its first packet carries the RTP
// marker bit. The player sends with s's codec at the time of each frame
// (Output.Codec), so a re-INVITE that changes it needs no action here.
// Attaching an output twice, or after Close, does nothing. An output that
// is closed while attached is detached at its next frame.
func (p *Player) Attach(s Output) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || slices.ContainsFunc(p.sessions, func(ls *playerSession) bool { return ls.s == s }) {
		return
	}
	p.sessions = append(p.sessions, &playerSession{s: s, marker: true})
	p.nudge()
}

// Detach removes s from the outputs the player sends to. No frame is sent
// to s after Detach returns. It must not be called from a sink's
// WriteAudio. Detaching an output that is not attached does nothing.
func (p *Player) Detach(s Output) {
	p.mu.Lock()
	p.sessions = slices.DeleteFunc(p.sessions, func(ls *playerSession) bool { return ls.s == s })
	p.mu.Unlock()
	p.nudge()
	p.waitTick() // a frame being sent, which may still include s
}

// AddSink adds a consumer of the player's mono PCM (at 8 kHz, or the
// configured [PlayerConfig.SampleRate]), such as a
// conference mixer or a recorder, and returns the function that removes it.
// WriteAudio is called with each 20 ms frame (160 samples at 8 kHz, 320 at
// 16 kHz) on the
// clock goroutine, after the frame was sent to the sessions; it must not
// block, must not keep the slice, and must not call the Player's Pause,
// Detach, Stop or Close. A sink counts as a listener in automatic mode.
// After remove returns no frame is written to the sink; remove must not be
// called from WriteAudio, and calling it again does nothing. After Close,
// AddSink does nothing.
func (p *Player) AddSink(sink Sink) (remove func()) {
	k := &playerSink{sink: sink}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return func() {}
	}
	p.sinks = append(p.sinks, k)
	p.mu.Unlock()
	p.nudge()
	return func() {
		p.mu.Lock()
		p.sinks = slices.DeleteFunc(p.sinks, func(x *playerSink) bool { return x == k })
		p.mu.Unlock()
		p.nudge()
		p.waitTick()
	}
}

// OnCompleted adds a handler called when a non-looping source has played
// to its end (or failed: see Err), once per play; every handler added runs,
// in the order added, and remove removes this one (idempotent). The
// handlers run on the clock goroutine after the last frame was sent, with
// no lock held, and must not block. The source is rewound before they
// run, so calling Start from one plays again from the top. Stop and Close
// called from one cannot wait for the goroutine they stop (it is running
// the handler); the goroutine exits when the handlers return.
func (p *Player) OnCompleted(f func()) (remove func()) {
	if f == nil {
		return func() {}
	}
	return p.onCompleted.Add(func(struct{}) { f() })
}

// Err returns the error that ended the last play, or nil: a source that
// failed while decoding, or that produced no audio at all.
func (p *Player) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Stats returns the player's counters.
func (p *Player) Stats() PlayerStats {
	p.mu.Lock()
	sessions, sinks := len(p.sessions), len(p.sinks)
	p.mu.Unlock()
	return PlayerStats{
		Frames:       p.frames.Load(),
		Encodes:      p.encodes.Load(),
		CaughtUp:     p.caughtUp.Load(),
		Late:         p.late.Load(),
		Packets:      p.packets.Load(),
		SendErrors:   p.sendErrors.Load(),
		Skipped:      p.skipped.Load(),
		Loops:        p.loops.Load(),
		ComfortNoise: p.comfortNoise.Load(),
		Sessions:     sessions,
		Sinks:        sinks,
	}
}

// Close stops playing, waits for the clock goroutine, detaches every
// session and sink and closes the source. While the OnCompleted handler
// runs (Close may be called from it) Close does not wait: the goroutine
// exits, sending nothing more, when the handler returns. Close is
// idempotent and returns the source's Close error every time.
func (p *Player) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed, p.started = true, false
		p.sessions, p.sinks = nil, nil
		if r := p.run; r != nil && !r.stopping {
			r.stopping = true
			close(r.stop)
		}
		inHandler := p.inHandler
		p.mu.Unlock()
		if !inHandler {
			p.wg.Wait()
		}
		p.tickMu.Lock()
		p.closeErr = p.src.Close()
		p.tickMu.Unlock()
	})
	return p.closeErr
}

// waitTick waits until a frame being produced or sent, if any, is done.
// Callers change the state first, so that the next tick sees the change.
func (p *Player) waitTick() {
	p.tickMu.Lock()
	defer p.tickMu.Unlock()
}

// nudge wakes the clock goroutine to re-evaluate its state.
func (p *Player) nudge() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// markAllLocked sets the marker bit for the next packet to every session.
func (p *Player) markAllLocked() {
	for _, ls := range p.sessions {
		ls.marker = true
	}
}

// activeLocked reports whether the clock should produce frames now.
func (p *Player) activeLocked() bool {
	return p.started && !p.paused && !p.closed &&
		(p.cfg.Mode == PlayerManual || len(p.sessions)+len(p.sinks) > 0)
}

// loop is the clock goroutine: one frame per 20 ms tick while active,
// blocked on the wake channel while not.
func (p *Player) loop(r *playerRun) {
	defer func() {
		p.mu.Lock()
		if p.run == r {
			p.run = nil
		}
		p.mu.Unlock()
		close(r.exited)
	}()
	t := time.NewTicker(framePeriod)
	defer t.Stop()
	ticking := true
	// A time.Ticker drops ticks its reader was too late for: on a loaded
	// machine a frame would then be missing for every listener, and the
	// RTP clock would fall behind the wall clock for good. The clock
	// instead counts the frames due since it started ticking and sends
	// the missed ones at once (up to maxCatchUp, 100 ms: a listener's
	// jitter buffer takes a burst that short, and older frames are given
	// up), so that every listener gets every frame, some late.
	epoch, done := time.Now(), int64(0)
	for {
		p.mu.Lock()
		active := p.activeLocked()
		p.mu.Unlock()
		if !active {
			if ticking {
				t.Stop()
				ticking = false
			}
			select {
			case <-r.stop:
				return
			case <-p.wake:
			}
			continue
		}
		if !ticking {
			t.Reset(framePeriod)
			ticking = true
			epoch, done = time.Now(), 0
		}
		select {
		case <-r.stop:
			return
		case <-p.wake:
			continue
		case <-t.C:
		}
		due := int64(time.Since(epoch)/framePeriod) - done
		if due > maxCatchUp {
			p.late.Add(uint64(due - maxCatchUp))
			done += due - maxCatchUp
			due = maxCatchUp
		}
		if due > 1 {
			p.caughtUp.Add(uint64(due - 1))
		}
		for ; due > 0; due-- {
			done++
			if p.tick() {
				if !p.complete(r) {
					return
				}
				break
			}
		}
	}
}

// maxCatchUp is the most frames the clock sends at once after it was
// late (see loop).
const maxCatchUp = 5

// complete handles the end of a non-looping play on the clock goroutine:
// rewind, run the OnCompleted handler, and report whether to keep running
// (the handler called Start).
func (p *Player) complete(r *playerRun) bool {
	p.tickMu.Lock()
	p.rewindLocked()
	p.tickMu.Unlock()
	p.mu.Lock()
	p.started = false
	h := p.onCompleted.Dispatch(struct{}{}, nil)
	p.inHandler = true
	p.mu.Unlock()
	if h != nil {
		h()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inHandler = false
	if p.started && !r.stopping && !p.closed {
		return true
	}
	// Exit now, under the lock, so that a Start racing with this exit
	// starts a new goroutine rather than relying on this one.
	if p.run == r {
		p.run = nil
	}
	return false
}

// tick produces and sends one frame if the player is active, and reports
// whether the play has ended.
func (p *Player) tick() (ended bool) {
	p.tickMu.Lock()
	defer p.tickMu.Unlock()
	p.mu.Lock()
	if !p.activeLocked() {
		p.mu.Unlock()
		return false
	}
	p.sendTo = p.sendTo[:0]
	for _, ls := range p.sessions {
		p.sendTo = append(p.sendTo, playerSend{s: ls.s, marker: ls.marker})
		ls.marker = false
	}
	p.sinkTo = p.sinkTo[:0]
	for _, k := range p.sinks {
		p.sinkTo = append(p.sinkTo, k.sink)
	}
	p.mu.Unlock()

	ok, last, err := p.produceLocked()
	if ok {
		p.sendLocked()
	}
	if err != nil || last || !ok {
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		return true
	}
	return false
}

// produceLocked fills p.frame with the next frame. It reports whether
// there is a frame (the last one is padded with silence) and whether the
// play ends with it. A source error ends the play at once.
func (p *Player) produceLocked() (ok, last bool, err error) {
	for len(p.fifo)-p.head < len(p.frame) && !p.ended {
		if err := p.fillLocked(); err != nil {
			p.ended = true
			return false, true, err
		}
	}
	avail := len(p.fifo) - p.head
	if avail == 0 {
		return false, true, nil
	}
	p.frameNo++
	p.frames.Add(1)
	n := copy(p.frame, p.fifo[p.head:])
	clear(p.frame[n:])
	p.head += n
	if p.head == len(p.fifo) {
		p.fifo, p.head = p.fifo[:0], 0
	} else if p.head >= cap(p.fifo)/2 {
		p.fifo = p.fifo[:copy(p.fifo, p.fifo[p.head:])]
		p.head = 0
	}
	return true, p.ended && p.head == len(p.fifo), nil
}

// fillLocked reads one chunk from the source into the resampler. At the
// end of the source it rewinds (Loop) or flushes the resampler.
func (p *Player) fillLocked() error {
	// A source that keeps returning nothing without an error cannot stall
	// the clock: give up on this frame after a few tries.
	for range 8 {
		n, err := p.src.ReadPCM(p.raw[:p.chunk])
		if n > 0 {
			p.passLen += int64(n)
			in := p.raw[:n]
			if p.src.Channels() == 2 {
				p.mono = DownmixStereo(p.mono[:0], in)
				in = p.mono
			}
			p.fifo = p.rs.Process(p.fifo, in)
		}
		switch {
		case err == io.EOF:
			if p.passLen == 0 {
				return errors.New("audio: player: source produced no audio")
			}
			if p.cfg.Loop {
				// The resampler is not flushed: the next pass continues
				// the same signal, so the loop point has no gap.
				p.passLen = 0
				p.loops.Add(1)
				if err := p.src.Rewind(); err != nil {
					return err
				}
				return nil
			}
			p.fifo = p.rs.Flush(p.fifo)
			p.ended = true
			return nil
		case err != nil:
			return err
		case n > 0:
			return nil
		}
	}
	// Starved: pad this frame with silence rather than stall.
	p.fifo = append(p.fifo, make([]int16, len(p.frame))...)
	return nil
}

// sendLocked sends p.frame to the snapshot of sessions and sinks. A
// frame of digital silence goes to an output that negotiated comfort
// noise as RFC 3389 CN ([ComfortNoiseOutput]) instead of audio.
func (p *Player) sendLocked() {
	p.gone = p.gone[:0]
	silent := !slices.ContainsFunc(p.frame, func(v int16) bool { return v != 0 })
	for _, ls := range p.sendTo {
		c := ls.s.Codec()
		if c == nil || c.SampleRate() <= 0 {
			p.skipped.Add(1)
			continue
		}
		if cno, ok := ls.s.(ComfortNoiseOutput); ok && silent {
			if took, err := cno.WriteComfortNoise(c.ClockRate() / 50); took {
				if err != nil {
					p.sendErrors.Add(1)
				} else {
					p.comfortNoise.Add(1)
				}
				continue
			}
		}
		e := p.encodingLocked(c)
		if e == nil {
			p.skipped.Add(1)
			continue
		}
		samples := c.ClockRate() / 50 // 20 ms of RTP clock, 160 for G.722 too
		if err := ls.s.WriteRTPPayload(c.PayloadType(), samples, e.payload, ls.marker); err != nil {
			p.sendErrors.Add(1)
			if errors.Is(err, net.ErrClosed) {
				p.gone = append(p.gone, ls.s)
			} else {
				p.log.Debug("audio: player: send failed", "err", err)
			}
			continue
		}
		p.packets.Add(1)
		if b, ok := ls.s.(BatchOutput); ok {
			if f := b.Batch(); !slices.Contains(p.flush, f) {
				p.flush = append(p.flush, f)
			}
		}
	}
	// Outputs that queue (a shared music port) send the whole tick now,
	// with one system call per batch.
	for i, f := range p.flush {
		if err := f.Flush(); err != nil {
			p.sendErrors.Add(1)
			p.log.Debug("audio: player: batch send failed", "err", err)
		}
		p.flush[i] = nil
	}
	p.flush = p.flush[:0]
	for _, k := range p.sinkTo {
		k.WriteAudio(p.frame)
	}
	if len(p.gone) > 0 {
		p.mu.Lock()
		p.sessions = slices.DeleteFunc(p.sessions, func(ls *playerSession) bool { return slices.Contains(p.gone, ls.s) })
		p.mu.Unlock()
	}
}

// encodingLocked returns the current frame encoded with c, encoding it if
// this is the first session of that codec in this frame, or nil if c's
// sample rate is out of the resampler's range. A codec at another sample
// rate than the player's gets the frame resampled, once per frame for all
// its sessions: a G.722 session hears the player's 8 kHz audio at 16 kHz,
// so its band stays the telephone band.
//
// The encoder of a stateful codec (G.722's ADPCM) is shared by the
// sessions of that codec like G.711's: a session attached mid-stream
// decodes from a fresh decoder state, which G.722's adaptive quantisers
// catch up with within a few milliseconds.
func (p *Player) encodingLocked(c codec.Codec) *playerEncoding {
	var e *playerEncoding
	for _, x := range p.encs {
		if x.codec.Name() == c.Name() && x.codec.PayloadType() == c.PayloadType() &&
			x.codec.ClockRate() == c.ClockRate() {
			e = x
			break
		}
	}
	if e == nil {
		e = &playerEncoding{codec: c, enc: codec.NewEncoder(c)}
		if c.SampleRate() != p.rate {
			up, err := NewFrameResampler(p.rate, c.SampleRate())
			if err != nil {
				return nil
			}
			e.up = up
		}
		p.encs = append(p.encs, e)
	}
	if e.frameNo != p.frameNo {
		pcm := p.frame
		if e.up != nil {
			pcm = e.up.Frame(p.frame)
		}
		e.payload = e.enc.Encode(e.payload[:0], pcm)
		e.frameNo = p.frameNo
		p.encodes.Add(1)
	}
	return e
}

// rewindLocked returns the pipeline to the top of the source.
func (p *Player) rewindLocked() {
	p.fifo, p.head, p.ended, p.passLen = p.fifo[:0], 0, false, 0
	p.rs.Reset()
	if err := p.src.Rewind(); err != nil {
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
	}
}
