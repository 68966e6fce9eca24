package mix

// This file is the MCU's audio mixer. It knows nothing of SIP: it pulls
// PCM frames from inputs and sends encoded payloads to outputs, once per
// frame time, on its own clock.

import (
	"errors"
	"log/slog"
	"math"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/switchboard-sip/switchboard/media"
	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/media/codec"
)

// Errors returned by the Mixer.
var (
	// ErrClosed is returned by Add, AddSource, AddTap and Start after
	// Close.
	ErrClosed = errors.New("mix: mixer closed")
	// ErrLegExists is returned when a leg, source or tap is added under an
	// id the mixer already has.
	ErrLegExists = errors.New("mix: mixer leg already exists")
	// ErrNoSuchLeg is returned by Whisper and Rebind for an id the mixer does not
	// have, or one that cannot take part in the route.
	ErrNoSuchLeg = errors.New("mix: no such mixer leg")
)

// Mix rates in Hz. A mixer sums at narrowRate, the G.711 rate, unless a
// listener's codec is wideband (G.722's 16 kHz audio): then it sums at
// the highest such rate, up to wideRate. Frame lengths are counted at
// narrowRate (frameN) and scaled by the mix rate.
const (
	narrowRate = 8000
	wideRate   = 16000
)

// Input is where a mixer leg's audio comes from. The mixer calls
// ReadFrame exactly once per frame time, from its clock goroutine (or the
// caller of [Mixer.Tick]), never concurrently for one Input. ReadFrame
// returns one frame of mono PCM, in dst's storage or its own; the mixer
// uses the result only until the next call. The frame's length gives its
// rate: 160 samples per 20 ms are 8 kHz, 320 are 16 kHz (a G.722 leg's
// jitter buffer, or a 16 kHz [audio.Player]); a frame at another rate
// than the mix is resampled to it, with a resampler of the leg's own. A
// frame of any other length is padded with silence or cut.
//
// The *media.FrameReader a call's flow gives its consumer
// ([media.Flow.Pull]) is an Input: its jitter buffer absorbs the network's
// jitter and conceals lost packets, and the mixer's clock pulls.
type Input interface {
	ReadFrame(dst []int16) ([]int16, media.FrameStatus)
}

// InputFunc adapts a function to Input.
type InputFunc func(dst []int16) ([]int16, media.FrameStatus)

// ReadFrame calls f(dst).
func (f InputFunc) ReadFrame(dst []int16) ([]int16, media.FrameStatus) { return f(dst) }

// Output is where a mixer leg's mix goes: a call's *media.Flow, say. The
// mixer calls both methods from its clock goroutine (or the caller of
// [Mixer.Tick]), once per frame time, and sends the same payload buffer to
// every leg that hears the same mix at the same codec; a nil codec, or one
// whose sample rate cannot be resampled to, skips the leg (see
// [audio.Output]).
type Output = audio.Output

// Config configures a [Mixer]. The zero value is valid: 20 ms frames,
// 5 ms ramps, a talk threshold of -55 dB and a 200 ms talk hangover.
type Config struct {
	// Interval is the frame time: the mixer mixes one frame per Interval.
	// Default 20 ms; it is kept within 10–80 ms. Inputs must deliver frames
	// of this length: a media.Session's jitter buffer delivers 20 ms.
	Interval time.Duration `yaml:"interval"`
	// Ramp is how long a leg's voice takes to fade in when it joins, is
	// unmuted, returns from exclusion or starts talking, and to fade out in
	// the opposite cases; listeners' mixes fade the same way when they
	// become or stop being deaf. Default 5 ms; at most Interval.
	Ramp time.Duration `yaml:"ramp"`
	// TalkThreshold is the level, in dB relative to a full-scale sine
	// (RMS over one frame, as dsp.SilenceDB), below which a frame counts
	// as not talking. Default -55 dB. It must be negative; a frame of
	// digital silence never counts as talking.
	TalkThreshold float64 `yaml:"talk_threshold"`
	// TalkHangover is how long a leg still counts as talking after its
	// level fell below TalkThreshold, so that the quiet ends of words are
	// not cut. Default 200 ms; a negative value means none.
	TalkHangover time.Duration `yaml:"talk_hangover"`
	// Logger receives send failures at debug level, once per leg. Default:
	// discard.
	Logger *slog.Logger `yaml:"-"`
}

// LegOptions are the initial settings of a leg added with [Mixer.Add].
type LegOptions struct {
	// Muted: the leg is not heard by the others; it still hears them.
	Muted bool
	// Deaf: the leg hears silence; it is still heard.
	Deaf bool
}

// Stats are the counters of a [Mixer].
type Stats struct {
	// Frames counts the frames mixed.
	Frames uint64
	// Late counts clock ticks that missed their 20 ms deadline: a frame
	// that took longer than the interval, or a tick that came more than
	// half an interval late (so a frame was skipped or delayed).
	Late uint64
	// MaxFrame is the longest time one clocked frame took.
	MaxFrame time.Duration
	// Encodes counts codec encodings, shared and individual.
	Encodes uint64
	// SharedEncodes counts the encodings of the full mix, or of silence,
	// that one payload served to every listener of one codec: at most two
	// per codec per frame, however many listeners.
	SharedEncodes uint64
	// Packets counts the payloads handed to outputs.
	Packets uint64
	// SendErrors counts failed output writes.
	SendErrors uint64
	// Skipped counts frames not sent to a leg because its codec was nil or
	// at a sample rate the resampler does not take.
	Skipped uint64
	// Resamples counts frame conversions between the mix rate and a
	// leg's: per leg on the way in, once per rate for the shared full mix
	// and per talker for its own mix on the way out. An all-G.711 mixer
	// makes none.
	Resamples uint64
	// ComfortNoise counts frames of silence handed to outputs that
	// negotiated RFC 3389 comfort noise ([audio.ComfortNoiseOutput])
	// instead of encoded: a pause is one CN packet and a refresh now and
	// then, not 50 packets a second.
	ComfortNoise uint64
	// Rate is the sample rate in Hz of the last frame mixed: 8000, or
	// 16000 while a listener is wideband (see Mixer).
	Rate int
	// TalkerFrames counts, over all frames, the inputs that were heard in
	// that frame (in the default mix or whispered); TalkerFrames/Frames is
	// the mean number of talkers.
	TalkerFrames uint64
	// LastTalkers and LastEncodes are the talkers and encodings of the
	// last frame mixed.
	LastTalkers, LastEncodes int
	// Legs, Sources and Taps are the current numbers of legs with an
	// output, send-only sources and taps.
	Legs, Sources, Taps int
}

// Mixer is the audio mixer of a conference (the MCU's media part); it
// knows nothing of SIP: every leg
// hears every other leg but not itself (mix-minus), plus send-only sources
// such as prompt players, and taps such as a recorder hear everybody.
//
// Mix rate: the mixer sums at the highest sample rate among its
// listeners' codecs — 16 kHz while any listener is on G.722, 8 kHz
// otherwise — and each leg hears its own rate. An input at another rate
// than the mix (a G.711 leg in a wideband mix, a 16 kHz leg or player in
// a narrowband one) is resampled to it on the way in, by a resampler of
// its own, and only in the frames it is heard: the talk gate looks at the
// frame as it came. On the way out the full mix is resampled once per frame for
// each lower rate in use, and that resampled mix is encoded once per codec
// for all its silent listeners, as at 8 kHz; a talker on a lower rate has
// its own mix-minus resampled by its own resampler, which takes the
// shared resampler's history when it starts so that the switch does not
// click. An all-G.711 conference sums at 8 kHz and resamples nothing. The
// rate is chosen anew every frame, from the codecs of the frame before:
// when the first wideband listener joins (it is served by resampling in
// its first frame) or the last one leaves, the mix changes rate between
// two frames.
// Taps always receive the mix at 8 kHz.
//
// Comfort noise: a listener whose mix in a frame is digital silence (it is
// deaf or excluded, nobody talks, or it is the only talker) and whose
// output is an [audio.ComfortNoiseOutput] that negotiated RFC 3389 CN is
// handed the frame with WriteComfortNoise instead of an encoded payload;
// the output sends a CN packet when the pause starts and a refresh now and
// then (see [Stats.ComfortNoise]).
//
// Once per frame time (Interval, 20 ms by default) the mixer pulls one frame from every input,
// sums in 32 bits the frames of the inputs that are talking, limits the
// total once into the full mix (a peak limiter, not a clamp: see
// limiter.go), and then:
//
//   - every leg that did not talk in this frame (and is not whispered to)
//     hears the full mix; it is encoded once per codec and the same payload is sent to all of them;
//   - every talker hears the total minus its own contribution, limited
//     once and encoded for it alone: the cost is O(N) in legs plus one
//     encoding per talker, not O(N²);
//   - taps receive the full mix as PCM.
//
// Not talking: a frame does not count (it is not mixed and its leg hears
// the shared full mix) when the input reports [media.FrameEmpty], when the
// leg is muted or excluded, or when the frame's RMS level is below
// [Config.TalkThreshold] and the leg has not been talking within
// [Config.TalkHangover]. Gating quiet frames keeps line noise out of
// the mix and lets the many silent legs of a large conference share one
// encoding.
//
// Changes are click-free: a voice that starts or stops being heard (a leg
// joining or leaving, mute, exclusion, a whisper starting or stopping,
// the talk gate opening or closing) is faded in or out linearly over
// [Config.Ramp], and so is what a leg hears when it becomes or stops
// being deaf or excluded. A new listener's stream fades in the same way,
// and its first packet carries the RTP marker bit (RFC 3551 section 4.1).
//
// Private routes: [Mixer.Whisper] sends a leg's voice to one other leg
// only; [Mixer.Exclude] takes a leg out of the mix for a while.
//
// The mixer runs one clock goroutine, started by Start and stopped, and
// waited for, by Close; tests and callers with their own clock call Tick
// instead. The per-frame work allocates nothing once every leg has been
// through a frame. Methods are safe for concurrent use, but none may be
// called from an Input's, Output's or tap's methods, which run on the
// clock goroutine.
//
//	m := mix.New(mix.Config{})
//	defer m.Close()
//	in, err := flow.Pull("conference", media.JitterConfig{})
//	if err != nil {
//		return err
//	}
//	if err := m.Add(callID, in, flow, mix.LegOptions{}); err != nil {
//		return err
//	}
//	m.Start()
type Mixer struct {
	log       *slog.Logger
	interval  time.Duration
	frameN    int   // samples per frame at narrowRate
	rampN     int   // samples per fade at narrowRate
	talkSum   int64 // sum of squares per narrowRate frame at the talk threshold
	hangFrame int   // frames of talk hangover
	done      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once

	mu      sync.Mutex
	legs    []*mixLeg // every leg, source and tap, in the order added
	byID    map[string]*mixLeg
	closed  bool
	running bool
	stats   Stats
	onTalk  []*func(TalkChange) // replaced, never modified in place

	// Frame state: tickMu serialises frames; Close and Remove take it to
	// wait for a frame in progress.
	tickMu  sync.Mutex
	frameNo uint64
	cur     []*mixLeg // this frame's inputs and listeners
	taps    []audio.Sink
	total   []int32 // sum of the talkers' contributions
	full    []int16 // total, limited
	fullLim limiter // of the full mix
	minus   []int32 // scratch: one leg's mix before limiting
	zero    []int16 // a frame of silence
	groups  []*mixGroup
	talks   []TalkChange // this frame's talk gate changes
	// This frame's rate, samples, fade length and talk threshold, and
	// whether its full mix is digital silence.
	rate, n, rampNow int
	talkNow          int64
	silent           bool
	nextRate         int // the highest listener rate sendAll saw, for the next frame
	// convs hold the full mix resampled to each rate below the mix rate
	// that a listener or tap takes in this frame.
	convs []*rateConv
}

// TalkChange reports that the talk gate of a leg opened (Talking) or
// closed: the leg started or stopped talking (its level crossed
// Config.TalkThreshold, with Config.TalkHangover). A muted leg still
// counts as talking: it is what it sends, not what is heard.
type TalkChange struct {
	ID      string
	Talking bool
}

// rateConv is the full mix resampled to one rate, shared by every leg at
// that rate; prev is the resampler's state before this frame, which a
// leg's own resampler takes when it starts (see Mixer).
type rateConv struct {
	dst      int
	frameNo  uint64
	rs, prev *audio.FrameResampler
	pcm      []int16
}

// mixLeg is one leg, source or tap.
type mixLeg struct {
	id  string
	in  Input
	out Output
	tap audio.Sink

	// Control state, guarded by Mixer.mu.
	muted, deaf bool
	excludeLeft int     // frames still excluded
	whisperTo   *mixLeg // private route: heard by this leg only
	leaving     bool

	// Frame state, guarded by Mixer.tickMu. want* are the targets of this
	// frame, *On the state at the end of the previous one; a voice fades
	// when they differ.
	wantMain, wantWhisper, wantHear bool
	mainOn, whisperOn, hearOn       bool
	route                           *mixLeg // where whisperC goes
	gone                            bool    // removed: this is its fade-out frame
	hang                            int     // frames the talk gate stays open
	talk, talkSent                  bool    // the talk gate in this frame; as last reported
	started                         bool    // a packet was sent: no marker
	logged                          bool    // a send failure was logged
	frame                           []int16 // input buffer
	mainBuf, whisperBuf             []int16 // faded contributions
	mainC, whisperC                 []int16 // this frame's contributions, or nil
	wsum                            []int32 // voices whispered to this leg
	wsumFrame                       uint64  // the frame wsum holds
	mix                             []int16 // this leg's own mix
	lim                             limiter // of its own mix
	codec                           codec.Codec
	enc                             codec.Encoder
	payload                         []byte
	cRate                           int // the sample rate of the output's codec in this frame
	// A leg at another rate than the mix: its frames are resampled to
	// the mix rate on the way in (inRS) and its own mix to its codec's
	// rate on the way out (outRS, last used in frame outFrame).
	inRS, outRS *audio.FrameResampler
	outFrame    uint64
}

// mixGroup holds the shared payloads of one codec.
type mixGroup struct {
	codec                   codec.Codec
	enc                     codec.Encoder
	full, silence           []byte
	fullFrame, silenceFrame uint64 // the frames the payloads hold
}

// New returns a stopped Mixer configured by cfg.
func New(cfg Config) *Mixer {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	iv := cfg.Interval
	if iv <= 0 {
		iv = 20 * time.Millisecond
	}
	iv = min(max(iv, 10*time.Millisecond), 80*time.Millisecond)
	frameN := int(iv * narrowRate / time.Second)
	iv = time.Duration(frameN) * time.Second / narrowRate
	ramp := cfg.Ramp
	if ramp <= 0 {
		ramp = 5 * time.Millisecond
	}
	rampN := min(max(int(ramp*narrowRate/time.Second), 1), frameN)
	level := cfg.TalkThreshold
	if level == 0 {
		level = -55
	}
	ref := 32767 * math.Pow(10, level/20)
	talkSum := int64(math.Min(math.Ceil(ref*ref*float64(frameN)), math.MaxInt64/2))
	hang := cfg.TalkHangover
	if hang == 0 {
		hang = 200 * time.Millisecond
	}
	hangFrames := 0
	if hang > 0 {
		hangFrames = int((hang + iv - 1) / iv)
	}
	wideN := frameN * wideRate / narrowRate
	return &Mixer{
		log:       log,
		interval:  iv,
		frameN:    frameN,
		rampN:     rampN,
		talkSum:   talkSum,
		hangFrame: hangFrames,
		done:      make(chan struct{}),
		byID:      make(map[string]*mixLeg),
		total:     make([]int32, wideN),
		minus:     make([]int32, wideN),
		full:      make([]int16, wideN),
		zero:      make([]int16, wideN),
		rate:      narrowRate,
	}
}

// Interval returns the frame time.
func (m *Mixer) Interval() time.Duration { return m.interval }

// Start starts the clock goroutine, which mixes one frame per Interval
// until Close. Start on a running Mixer does nothing; after Close it
// returns ErrClosed. A Mixer driven by Tick is not started.
func (m *Mixer) Start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if m.running {
		return nil
	}
	m.running = true
	m.wg.Go(m.run)
	return nil
}

func (m *Mixer) run() {
	// A Ticker keeps the frames on a fixed grid; if one frame runs late the
	// next tick is already pending, so one late frame is caught up.
	t := time.NewTicker(m.interval)
	defer t.Stop()
	var prev time.Time
	for {
		select {
		case <-m.done:
			return
		case <-t.C:
		}
		start := time.Now()
		m.Tick()
		took := time.Since(start)
		late := took > m.interval || (!prev.IsZero() && start.Sub(prev) > m.interval*3/2)
		prev = start
		m.mu.Lock()
		if late {
			m.stats.Late++
		}
		m.stats.MaxFrame = max(m.stats.MaxFrame, took)
		m.mu.Unlock()
	}
}

// Close stops the clock goroutine and waits for it and for a frame in
// progress; no input is read and nothing is sent after Close returns. It
// forgets every leg but closes none of the inputs, outputs or taps, which
// the mixer does not own. Close is idempotent, safe for concurrent use,
// and returns nil.
func (m *Mixer) Close() error {
	m.closeOnce.Do(func() {
		m.mu.Lock()
		m.closed = true
		m.legs, m.byID = nil, map[string]*mixLeg{}
		m.mu.Unlock()
		close(m.done)
	})
	m.wg.Wait()
	m.waitFrame()
	return nil
}

// waitFrame waits until a frame in progress, if any, is done. Callers
// change the state first, so that the next frame sees the change.
func (m *Mixer) waitFrame() {
	m.tickMu.Lock()
	defer m.tickMu.Unlock()
}

// Add adds a leg: from the next frame on, in's audio is heard by the
// other legs and taps, and out receives the mix of everybody else. Either
// may be nil, but not both: a nil out makes a send-only source (see
// AddSource), a nil in a listen-only leg. The leg's voice fades in, and
// its first packet carries the RTP marker bit. Add returns ErrLegExists if
// id is in use and ErrClosed after Close.
func (m *Mixer) Add(id string, in Input, out Output, opts LegOptions) error {
	if in == nil && out == nil {
		return errors.New("mix: mixer: leg " + id + " has neither input nor output")
	}
	l := &mixLeg{id: id, in: in, out: out, muted: opts.Muted, deaf: opts.Deaf}
	wideN := m.frameN * wideRate / narrowRate
	if in != nil {
		l.frame = make([]int16, 0, wideN)
		l.mainBuf = make([]int16, wideN)
		l.whisperBuf = make([]int16, wideN)
	}
	if out != nil {
		l.mix = make([]int16, wideN)
		l.wsum = make([]int32, wideN)
	}
	return m.add(l)
}

// AddSource adds a send-only source, such as a prompt or music player,
// heard by every leg and tap (it is Add with a nil output). To play a
// [audio.Player], feed an [Queue] with [audio.Player.AddSink] and add
// the queue.
func (m *Mixer) AddSource(id string, in Input) error {
	if in == nil {
		return errors.New("mix: mixer: source " + id + " has no input")
	}
	return m.Add(id, in, nil, LegOptions{})
}

// AddTap adds a receive-only listener of the full mix, such as a
// recorder: from the next frame on, sink receives every frame of the
// default mix (everybody heard, whispers excepted) as 8 kHz PCM. WriteAudio
// runs on the clock goroutine, must not block and must not keep the slice.
// Remove removes a tap like a leg.
func (m *Mixer) AddTap(id string, sink audio.Sink) error {
	if sink == nil {
		return errors.New("mix: mixer: tap " + id + " has no sink")
	}
	return m.add(&mixLeg{id: id, tap: sink})
}

func (m *Mixer) add(l *mixLeg) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if _, ok := m.byID[l.id]; ok {
		return ErrLegExists
	}
	m.byID[l.id] = l
	m.legs = append(m.legs, l)
	return nil
}

// Remove removes the leg, source or tap id; an unknown id does nothing.
// Nothing is sent to its output or tap after Remove returns. If its voice
// was being heard, its input is read once more, at the next frame, to fade
// the voice out; after that the mixer forgets it. Whisper routes to it
// stay in place with nobody hearing them (see Whisper). The id may be
// reused at once.
func (m *Mixer) Remove(id string) {
	m.mu.Lock()
	l := m.byID[id]
	if l != nil {
		delete(m.byID, id)
		l.leaving = true
	}
	m.mu.Unlock()
	if l != nil {
		m.waitFrame()
	}
}

// Rebind gives the leg id a new input and output from the next frame on,
// keeping everything else about it (mute, deafness, exclusion, whispers,
// its voice already faded in): a participant whose media moved to another
// flow, as when a local back-to-back call hands the conference its
// caller's flow directly. The new output's first packet carries the RTP
// marker bit. It returns ErrNoSuchLeg for an unknown id and refuses to turn a
// leg into one with neither input nor output.
func (m *Mixer) Rebind(id string, in Input, out Output) error {
	if in == nil && out == nil {
		return errors.New("mix: mixer: leg " + id + " has neither input nor output")
	}
	// tickMu before mu, as Tick takes them: the frame in progress finishes
	// with the old input and output.
	m.tickMu.Lock()
	defer m.tickMu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.byID[id]
	if l == nil || l.tap != nil {
		return ErrNoSuchLeg
	}
	if (l.in == nil) != (in == nil) || (l.out == nil) != (out == nil) {
		return errors.New("mix: mixer: rebinding leg " + id + " would change its kind")
	}
	l.in, l.out, l.started = in, out, false
	l.codec, l.enc = nil, nil
	return nil
}

// SetMuted mutes or unmutes a leg or source from the next frame on: a
// muted leg is not heard by anybody (not even through a whisper) but still
// hears the others. An unknown id does nothing.
func (m *Mixer) SetMuted(id string, muted bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l := m.byID[id]; l != nil {
		l.muted = muted
	}
}

// SetDeaf makes a leg hear silence, or the mix again, from the next frame
// on; a deaf leg is still heard. An unknown id does nothing.
func (m *Mixer) SetDeaf(id string, deaf bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l := m.byID[id]; l != nil {
		l.deaf = deaf
	}
}

// Exclude takes a leg out of the mix for d, counted in frames from the
// next one (d rounded up to whole frames): it hears silence and nobody
// hears it, then it returns on its own, fading in. Exclude replaces a
// previous exclusion of the leg; d ≤ 0 ends one now. Mute and deafness
// are kept separately. An unknown id does nothing.
func (m *Mixer) Exclude(id string, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.byID[id]
	if l == nil {
		return
	}
	l.excludeLeft = 0
	if d > 0 {
		l.excludeLeft = int((d + m.interval - 1) / m.interval)
	}
}

// Whisper sets a private route from the next frame on: from's voice is
// heard by to only, and no longer by anybody else or the taps; from still
// hears the mix, and to still hears everybody. A leg whispers to one leg
// at a time (a new Whisper replaces the route) and a leg may receive many
// whispers. If to is removed, from stays private, heard by nobody, until
// StopWhisper: a coach's voice never leaks to the conference by
// accident. from must have an input and to an output; it returns
// ErrNoSuchLeg otherwise.
func (m *Mixer) Whisper(from, to string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, t := m.byID[from], m.byID[to]
	if f == nil || t == nil || f == t || f.in == nil || t.out == nil {
		return ErrNoSuchLeg
	}
	f.whisperTo = t
	return nil
}

// StopWhisper ends from's private route from the next frame on: it is
// heard by everybody again. An unknown id, or one not whispering, does
// nothing.
func (m *Mixer) StopWhisper(from string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l := m.byID[from]; l != nil {
		l.whisperTo = nil
	}
}

// Stats returns the mixer's counters.
func (m *Mixer) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.stats
	for _, l := range m.legs {
		switch {
		case l.leaving:
		case l.tap != nil:
			s.Taps++
		case l.out != nil:
			s.Legs++
		default:
			s.Sources++
		}
	}
	return s
}

// Tick mixes and sends one frame now. The clock goroutine calls it every
// Interval; a caller with its own clock, or a test, calls it instead of
// Start. Calls are serialised; after Close, Tick does nothing.
func (m *Mixer) Tick() {
	m.tickMu.Lock()
	defer m.tickMu.Unlock()
	if !m.snapshot() {
		return
	}
	m.chooseRate()
	talkers, resamples := m.mixInputs()
	m.silent = talkers == 0 // nothing in the full mix
	fs := frameStats{talkers: talkers, resamples: resamples}
	m.sendAll(&fs)
	if len(m.taps) > 0 {
		full := m.full[:m.n]
		if m.rate != narrowRate {
			if cv := m.conv(narrowRate); cv != nil {
				m.runConv(cv, &fs)
				full = cv.pcm
			}
		}
		for _, t := range m.taps {
			t.WriteAudio(full)
		}
	}
	m.talks = m.talks[:0]
	for _, l := range m.cur {
		if l.in != nil && !l.gone && l.talk != l.talkSent {
			l.talkSent = l.talk
			m.talks = append(m.talks, TalkChange{ID: l.id, Talking: l.talk})
		}
	}
	clear(m.cur)
	clear(m.taps)
	m.cur, m.taps = m.cur[:0], m.taps[:0]

	m.mu.Lock()
	s := &m.stats
	s.Frames++
	s.Encodes += uint64(fs.encodes)
	s.SharedEncodes += uint64(fs.shared)
	s.Resamples += uint64(fs.resamples)
	s.ComfortNoise += uint64(fs.cn)
	s.Packets += uint64(fs.packets)
	s.SendErrors += uint64(fs.errors)
	s.Skipped += uint64(fs.skipped)
	s.TalkerFrames += uint64(talkers)
	s.LastTalkers, s.LastEncodes = talkers, fs.encodes
	s.Rate = m.rate
	hs := m.onTalk
	m.mu.Unlock()
	for _, c := range m.talks {
		for _, h := range hs {
			(*h)(c)
		}
	}
}

// OnTalking adds a handler of talk gate changes (a talking indicator)
// and returns the function that removes it. Handlers run on the goroutine
// that calls Tick (the mixer's clock), after the frame is sent, one change
// at a time: they must not block, nor call the mixer.
func (m *Mixer) OnTalking(f func(TalkChange)) (remove func()) {
	h := &f
	m.mu.Lock()
	m.onTalk = append(slices.Clone(m.onTalk), h)
	m.mu.Unlock()
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		i := slices.Index(m.onTalk, h)
		if i >= 0 {
			m.onTalk = slices.Delete(slices.Clone(m.onTalk), i, i+1)
		}
	}
}

// Talking reports whether leg id is talking (its talk gate is open), as
// of the last frame mixed.
func (m *Mixer) Talking(id string) bool {
	m.tickMu.Lock()
	defer m.tickMu.Unlock()
	m.mu.Lock()
	l := m.byID[id]
	m.mu.Unlock()
	return l != nil && l.talkSent
}

type frameStats struct {
	talkers, encodes, shared, packets, errors, skipped, resamples, cn int
}

// snapshot copies the control state into the frame state of every leg and
// lists this frame's legs. It reports false after Close.
func (m *Mixer) snapshot() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	m.frameNo++
	keep := m.legs[:0]
	for _, l := range m.legs {
		if l.leaving {
			// Read once more to fade the voice out, and send nothing.
			if l.mainOn || l.whisperOn {
				l.gone = true
				l.wantMain, l.wantWhisper, l.wantHear = false, false, false
				m.cur = append(m.cur, l)
			}
			continue
		}
		keep = append(keep, l)
		if l.tap != nil {
			m.taps = append(m.taps, l.tap)
			continue
		}
		excluded := l.excludeLeft > 0
		if excluded {
			l.excludeLeft--
		}
		heard := !l.muted && !excluded
		l.wantMain = heard && l.whisperTo == nil
		l.wantWhisper = heard && l.whisperTo != nil && !l.whisperTo.leaving
		if l.wantWhisper && l.whisperOn && l.route != l.whisperTo {
			// A new route: fade out of the old one in this frame, into
			// the new one in the next.
			l.wantWhisper = false
		} else if l.wantWhisper {
			l.route = l.whisperTo
		}
		l.wantHear = !l.deaf && !excluded
		m.cur = append(m.cur, l)
	}
	clear(m.legs[len(keep):])
	m.legs = keep
	return true
}

// chooseRate sets this frame's mix rate — the highest sample rate among
// the listeners' codecs that the mixer sums at (see Mixer), as sendAll
// found them in the last frame — and with it the frame's length, fade
// and talk threshold. Taking the rate from the last frame saves a pass
// over every leg: a listener whose codec is new (a leg just added, a
// re-INVITE) is served in its first frame by the conversion paths, and
// the rate follows from the next frame on.
func (m *Mixer) chooseRate() {
	rate := m.nextRate
	if rate == 0 {
		rate = narrowRate
	}
	m.nextRate = narrowRate
	if rate != m.rate {
		// The shared resamplers' history is of the other rate.
		clear(m.convs)
		m.convs = m.convs[:0]
	}
	k := rate / narrowRate
	m.rate, m.n, m.rampNow, m.talkNow = rate, m.frameN*k, m.rampN*k, m.talkSum*int64(k)
}

// conv returns the shared conversion of the full mix to rate dst, creating
// it, or nil if the resampler does not take that rate.
func (m *Mixer) conv(dst int) *rateConv {
	for _, cv := range m.convs {
		if cv.dst == dst {
			return cv
		}
	}
	rs, err := audio.NewFrameResampler(m.rate, dst)
	if err != nil {
		return nil
	}
	prev, _ := audio.NewFrameResampler(m.rate, dst)
	cv := &rateConv{dst: dst, rs: rs, prev: prev}
	m.convs = append(m.convs, cv)
	return cv
}

// runConv resamples this frame's full mix into cv, once per frame.
func (m *Mixer) runConv(cv *rateConv, fs *frameStats) {
	if cv == nil || cv.frameNo == m.frameNo {
		return
	}
	cv.prev.CopyFrom(cv.rs)
	cv.pcm = cv.rs.Frame(m.full[:m.n])
	cv.frameNo = m.frameNo
	fs.resamples++
}

// mixInputs reads one frame from every input, applies the talk gate and
// the fades, and sums the contributions into m.total (heard by everybody)
// and the whisper sums of their targets. It returns the number of inputs
// heard in this frame and of frames resampled to the mix rate.
func (m *Mixer) mixInputs() (talkers, resamples int) {
	n := m.n
	total := m.total[:n]
	clear(total)
	for _, l := range m.cur {
		l.mainC, l.whisperC = nil, nil
		if l.in == nil {
			continue
		}
		pcm, st := l.in.ReadFrame(l.frame[:0])
		var (
			f       []int16
			talking bool
		)
		if k := len(pcm); k != n && k > 0 && k%m.frameN == 0 {
			// Another rate: the gate looks at the frame as it came, and
			// only a frame that will be heard is resampled, so the silent
			// G.711 legs of a wideband conference cost nothing more. The
			// frames skipped were below the talk threshold, so the
			// resampler's history, older than the frame before, differs
			// from the true one only by line noise.
			talking = m.talking(l, pcm, st, m.talkSum*int64(k/m.frameN))
			if (l.wantMain && talking) || l.mainOn || (l.wantWhisper && talking) || l.whisperOn {
				f = l.fit(l.toMixRate(pcm, m.frameN, m.rate), n)
				resamples++
			} else {
				f = m.zero[:n]
			}
		} else {
			f = l.fit(pcm, n)
			talking = m.talking(l, f, st, m.talkNow)
		}
		l.talk = talking
		main, whisper := l.wantMain && talking, l.wantWhisper && talking
		l.mainC = m.fade(l.mainBuf, f, l.mainOn, main)
		l.whisperC = m.fade(l.whisperBuf, f, l.whisperOn, whisper)
		l.mainOn, l.whisperOn = main, whisper
		if c := l.mainC; c != nil {
			c = c[:n]
			for i, v := range c {
				total[i] += int32(v)
			}
		}
		if c := l.whisperC; c != nil {
			r := l.route
			if r.wsumFrame != m.frameNo {
				clear(r.wsum)
				r.wsumFrame = m.frameNo
			}
			w := r.wsum[:n]
			c = c[:n]
			for i, v := range c {
				w[i] += int32(v)
			}
		}
		if l.mainC != nil || l.whisperC != nil {
			talkers++
		}
	}
	m.fullLim.apply(m.full[:n], total)
	return talkers, resamples
}

// fit returns pcm as exactly n samples, padded with silence or cut.
func (l *mixLeg) fit(pcm []int16, n int) []int16 {
	if len(pcm) == n {
		return pcm
	}
	f := l.frame[:n]
	k := copy(f, pcm) // copy is a memmove: pcm may alias f
	clear(f[k:])
	return f
}

// talking applies the talk gate to a frame (see Mixer); threshold is the
// sum of squares at the talk threshold for the frame's length.
func (m *Mixer) talking(l *mixLeg, f []int16, st media.FrameStatus, threshold int64) bool {
	if st == media.FrameEmpty {
		l.hang = 0
		return false
	}
	// The energy is summed in blocks of 16 samples with a check after
	// each: a talker usually crosses the threshold in the first block, so
	// only the quiet legs pay for the whole frame.
	var sum int64
	loud := false
	for i := 0; i < len(f) && !loud; i += 16 {
		for _, v := range f[i:min(i+16, len(f))] {
			sum += int64(int32(v) * int32(v))
		}
		loud = sum > 0 && sum >= threshold
	}
	if loud {
		l.hang = m.hangFrame
		return true
	}
	if l.hang > 0 {
		l.hang--
		return true
	}
	return false
}

// fade returns f as heard in this frame by a route that was on (was) at
// the end of the last frame and is on (now) in this one: nil if off
// throughout, f itself if on throughout, or f faded linearly in or out
// over the ramp, written into buf.
func (m *Mixer) fade(buf, f []int16, was, now bool) []int16 {
	switch {
	case !was && !now:
		return nil
	case was && now:
		return f
	}
	buf = buf[:len(f)]
	copy(buf, f)
	m.fadeInPlace(buf, now)
	return buf
}

// fadeInPlace applies a linear fade-in (or fade-out) over the ramp to the
// start of f; a fade-out silences the rest of f.
func (m *Mixer) fadeInPlace(f []int16, in bool) {
	r := min(m.rampNow, len(f))
	d := int32(r)
	if in {
		for i := range r {
			f[i] = int16(int32(f[i]) * int32(i+1) / d)
		}
		return
	}
	for i := range r {
		f[i] = int16(int32(f[i]) * (d - 1 - int32(i)) / d)
	}
	clear(f[r:])
}

// sendAll sends every listener its mix, at its codec's rate.
func (m *Mixer) sendAll(fs *frameStats) {
	for _, l := range m.cur {
		if l.out == nil || l.gone {
			continue
		}
		c := l.out.Codec()
		if c == nil {
			fs.skipped++
			continue
		}
		r := c.SampleRate()
		if r <= 0 {
			fs.skipped++
			continue
		}
		if r > m.nextRate && r <= wideRate && r%narrowRate == 0 {
			m.nextRate = r
		}
		l.cRate = r
		samples := m.frameN * c.ClockRate() / narrowRate // one frame of the RTP clock
		payload, cn, ok := m.payloadFor(l, c, samples, fs)
		if !ok {
			fs.skipped++
			continue
		}
		l.hearOn = l.wantHear
		if cn {
			l.started = true
			continue
		}
		if err := l.out.WriteRTPPayload(c.PayloadType(), samples, payload, !l.started); err != nil {
			fs.errors++
			if !l.logged && !errors.Is(err, net.ErrClosed) {
				l.logged = true
				m.log.Debug("mix: mixer: send failed", "leg", l.id, "err", err)
			}
			continue
		}
		l.started = true
		fs.packets++
	}
}

// payloadFor encodes what l hears in this frame with c: silence, the full
// mix or its own mix. Silence and the full mix of a stateless codec
// (G.711) are encoded once per codec and shared; a stateful codec (G.722)
// always gets its own encoder, never a shared payload: switching between
// the shared and its own encoder's ADPCM state would garble its stream.
// Silence goes to an output that negotiated comfort noise as RFC 3389 CN
// instead (cn true, no payload). It reports false when c's rate cannot be
// resampled to.
func (m *Mixer) payloadFor(l *mixLeg, c codec.Codec, samples int, fs *frameStats) (payload []byte, cn, ok bool) {
	whispered := l.wsumFrame == m.frameNo
	_, stateful := c.(codec.StreamCodec)
	rate := l.cRate
	var cv *rateConv
	if rate != m.rate {
		// The full mix at this rate, shared by every listener at it. It
		// runs in every frame that has such a listener, heard or not, so
		// that its history is always the full mix's: a talker going back
		// to it continues without a click, and one leaving it takes its
		// state from before this frame (ownRate).
		if cv = m.conv(rate); cv == nil {
			return nil, false, false
		}
		m.runConv(cv, fs)
	}
	var (
		pcm    []int16
		share  *[]byte // the shared payload to fill, or nil
		at     *uint64 // the frame it holds
		silent bool    // pcm is digital silence
	)
	switch {
	case !l.wantHear && !l.hearOn:
		silent = true
		if k := m.frameN * rate / narrowRate; len(m.zero) < k {
			m.zero = make([]int16, k) // a codec above 16 kHz, once
		}
		pcm = m.zero[:m.frameN*rate/narrowRate]
		if !stateful {
			g := m.group(c)
			share, at = &g.silence, &g.silenceFrame
		}
	case l.wantHear && l.hearOn && l.mainC == nil && !whispered:
		silent = m.silent
		pcm = m.full[:m.n]
		if cv != nil {
			pcm = cv.pcm
		}
		if !stateful {
			g := m.group(c)
			share, at = &g.full, &g.fullFrame
		}
	default:
		pcm, silent = m.mixFor(l, whispered)
		if l.wantHear != l.hearOn {
			m.fadeInPlace(pcm, l.wantHear)
		}
		if cv != nil {
			var ok bool
			if pcm, ok = m.ownRate(l, pcm, cv, fs); !ok {
				return nil, false, false
			}
		}
	}
	if silent && m.comfortNoise(l, samples, fs) {
		return nil, true, true
	}
	if share != nil {
		if *at != m.frameNo {
			*share = m.group(c).enc.Encode((*share)[:0], pcm)
			*at = m.frameNo
			fs.encodes++
			fs.shared++
		}
		return *share, false, true
	}
	if l.enc == nil || !sameCodec(l.codec, c) {
		l.codec, l.enc = c, codec.NewEncoder(c)
	}
	l.payload = l.enc.Encode(l.payload[:0], pcm)
	fs.encodes++
	return l.payload, false, true
}

// comfortNoise hands a frame of silence to l's output as RFC 3389 comfort
// noise, if the output negotiated it, and reports whether it took it.
func (m *Mixer) comfortNoise(l *mixLeg, samples int, fs *frameStats) bool {
	cno, ok := l.out.(audio.ComfortNoiseOutput)
	if !ok {
		return false
	}
	took, err := cno.WriteComfortNoise(samples)
	if !took {
		return false
	}
	if err != nil {
		fs.errors++
	} else {
		fs.cn++
	}
	return true
}

// ownRate resamples l's own mix to its codec's rate with l's own
// resampler. A resampler that was not used in the last frame first takes
// the history of cv, the shared conversion to that rate, as it was before
// this frame: in the last frame l heard the full mix, so the filter
// continues from what l heard.
func (m *Mixer) ownRate(l *mixLeg, pcm []int16, cv *rateConv, fs *frameStats) ([]int16, bool) {
	rate := cv.dst
	if l.outRS == nil || !sameRates(l.outRS, m.rate, rate) {
		rs, err := audio.NewFrameResampler(m.rate, rate)
		if err != nil {
			return nil, false
		}
		l.outRS, l.outFrame = rs, 0
	}
	if l.outFrame+1 != m.frameNo {
		l.outRS.CopyFrom(cv.prev)
	}
	l.outFrame = m.frameNo
	fs.resamples++
	return l.outRS.Frame(pcm), true
}

// mixFor computes l's own mix: the total minus its own voice, plus what is
// whispered to it, limited once (see limiter), and reports whether it is
// digital silence (a lone talker's).
func (m *Mixer) mixFor(l *mixLeg, whispered bool) ([]int16, bool) {
	n := m.n
	total, sum, mix := m.total[:n], m.minus[:n], l.mix[:n]
	own := l.mainC
	// One pass sums, clamps and finds the peak; the limiter's own pass
	// runs only when the frame needs it.
	var peak int32
	switch {
	case own != nil && whispered:
		own, w := own[:n], l.wsum[:n]
		for i, v := range total {
			s := v - int32(own[i]) + w[i]
			sum[i], mix[i], peak = s, clamp16(s), max(peak, s, -s)
		}
	case own != nil:
		own = own[:n]
		for i, v := range total {
			s := v - int32(own[i])
			sum[i], mix[i], peak = s, clamp16(s), max(peak, s, -s)
		}
	case whispered:
		w := l.wsum[:n]
		for i, v := range total {
			s := v + w[i]
			sum[i], mix[i], peak = s, clamp16(s), max(peak, s, -s)
		}
	default:
		copy(mix, m.full[:n])
		return mix, m.silent
	}
	if l.lim.active(peak) {
		return l.lim.scale(mix, sum, peak), false
	}
	return mix, peak == 0
}

// group returns the shared payloads of codec c.
func (m *Mixer) group(c codec.Codec) *mixGroup {
	for _, g := range m.groups {
		if sameCodec(g.codec, c) {
			return g
		}
	}
	g := &mixGroup{codec: c, enc: codec.NewEncoder(c)}
	m.groups = append(m.groups, g)
	return g
}

// toMixRate returns a frame read from a leg at another rate than the mix
// (a multiple of frameN samples: 8 kHz in a 16 kHz mix, 16 kHz in an
// 8 kHz one) resampled to the mix rate with the leg's own resampler. A
// frame of any other length is returned as it is, for fit to cut or pad.
func (l *mixLeg) toMixRate(pcm []int16, frameN, mixRate int) []int16 {
	if len(pcm) == 0 || len(pcm)%frameN != 0 {
		return pcm
	}
	rate := narrowRate * len(pcm) / frameN
	if l.inRS == nil || !sameRates(l.inRS, rate, mixRate) {
		rs, err := audio.NewFrameResampler(rate, mixRate)
		if err != nil {
			return pcm
		}
		l.inRS = rs
	}
	return l.inRS.Frame(pcm)
}

func sameRates(r *audio.FrameResampler, src, dst int) bool {
	s, d := r.Rates()
	return s == src && d == dst
}

// sameCodec reports whether a and b produce the same payloads. Codecs are
// compared by what they are, not by identity, since a Codec need not be
// comparable.
func sameCodec(a, b codec.Codec) bool {
	return a != nil && b != nil && a.Name() == b.Name() && a.PayloadType() == b.PayloadType() &&
		a.ClockRate() == b.ClockRate() && a.SampleRate() == b.SampleRate()
}

func clamp16(v int32) int16 {
	return int16(min(max(v, math.MinInt16), math.MaxInt16))
}

// Queue connects a source that pushes PCM frames on its own clock,
// such as a [audio.Player] (through [audio.Player.AddSink]), to a mixer,
// which pulls frames on its clock: WriteAudio queues a copy of each frame
// and ReadFrame returns them in order. Playout starts once two frames are
// queued, so that the two clocks' phase and jitter never starve it; when
// the queue runs dry ReadFrame reports [media.FrameEmpty] and waits for two
// frames again; when the writer runs ahead by more than the capacity, the
// oldest frame is dropped. Frames are passed on as written (a Player's are
// 20 ms at 8 kHz, or at 16 kHz with [audio.PlayerConfig.SampleRate]). A
// Queue is safe for concurrent use by one writer and one reader.
type Queue struct {
	mu      sync.Mutex
	frames  [][]int16 // ring of queued frames
	head, n int
	playing bool
	dropped uint64
}

// audioQueueFrames is the capacity of an Queue, in frames.
const audioQueueFrames = 5

// NewQueue returns an empty Queue.
func NewQueue() *Queue {
	q := &Queue{frames: make([][]int16, audioQueueFrames)}
	for i := range q.frames {
		q.frames[i] = make([]int16, 0, wideRate/50)
	}
	return q
}

// WriteAudio queues a copy of pcm.
func (q *Queue) WriteAudio(pcm []int16) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == len(q.frames) {
		q.head = (q.head + 1) % len(q.frames)
		q.n--
		q.dropped++
	}
	i := (q.head + q.n) % len(q.frames)
	q.frames[i] = append(q.frames[i][:0], pcm...)
	q.n++
}

// ReadFrame returns the oldest queued frame in dst's storage, with
// [media.FrameNormal], or no samples and [media.FrameEmpty] (see
// Queue).
func (q *Queue) ReadFrame(dst []int16) ([]int16, media.FrameStatus) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.playing && q.n >= 2 {
		q.playing = true
	}
	if !q.playing || q.n == 0 {
		q.playing = false
		return dst[:0], media.FrameEmpty
	}
	dst = append(dst[:0], q.frames[q.head]...)
	q.head = (q.head + 1) % len(q.frames)
	q.n--
	return dst, media.FrameNormal
}

// Dropped returns how many frames were dropped because the writer ran
// ahead of the reader.
func (q *Queue) Dropped() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped
}
