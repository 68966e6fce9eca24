package recorder

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-sip/switchboard/internal/serial"
	"github.com/switchboard-sip/switchboard/media/codec"
)

// Errors.
var (
	ErrStarted    = errors.New("recorder: already started")
	ErrNotStarted = errors.New("recorder: not started")
	ErrStopped    = errors.New("recorder: stopped")
	ErrNoTracks   = errors.New("recorder: nothing to record (add a call, flow, back-to-back call or conference first)")
)

// State is the state of a Recorder (UCMA's RecorderState).
type State int

// States.
const (
	Idle State = iota
	Recording
	Paused
	Stopped
)

func (s State) String() string {
	return [...]string{"idle", "recording", "paused", "stopped"}[s]
}

// StopReason says why a recording ended.
type StopReason string

// Stop reasons the recorder gives; Stop takes any.
const (
	StopRequested   StopReason = "stopped"
	StopMaxDuration StopReason = "max-duration"
	StopSilence     StopReason = "silence-timeout"
	StopSourceEnded StopReason = "source-ended"
	StopWriteError  StopReason = "write-error"
)

// StateChange is delivered to OnStateChanged handlers.
type StateChange struct {
	State State
	// Reason and Err are set with Stopped.
	Reason StopReason
	Err    error
}

// VoiceActivity is delivered to OnVoiceActivity handlers when a track
// starts or stops having voice (UCMA's VoiceActivityChanged).
type VoiceActivity struct {
	// Track is the track's index in the order added; Label its label.
	Track int
	Label string
	// Active says whether the track has voice now.
	Active bool
	// Offset is the position in the recording, in wall-clock time since
	// Start.
	Offset time.Duration
}

// Recorder records calls, back-to-back calls and conferences to WAV
// files with a JSON sidecar. Add sources, then Start; Pause, Resume and
// Stop control it. Every track runs on the recorder's one clock: one
// goroutine per recorder pulls a 20 ms frame from every track per tick,
// filling what did not arrive (loss, hold, DTX, a late start) with
// silence, so tracks never drift apart and a file's length is the
// wall-clock time of the recording (less the pauses with PauseOmit).
//
// Methods are safe for concurrent use. Handlers added with OnX run one at
// a time on the recorder's event goroutine, in the order added, never
// under a lock; they must not block.
type Recorder struct {
	cfg   Config
	store Storage
	log   *slog.Logger
	id    string

	rate               int // of the recording: 8000, or 16000 with a wideband leg
	frameN             int
	placeTol, driftTol int64 // samples
	respurt, jumpLate  int64
	voiceSum           int64 // sum of squares of a frame at VoiceLevel
	hangFrames         int
	ringSamples        int
	latencyFrames      int64

	mu       sync.Mutex
	state    State
	tracks   []*track
	ends     []<-chan struct{}        // a source ended: stop
	follow   []func() (remove func()) // starts following a roster
	unfollow []func()
	joined   []*track // joined a followed conference; the clock adopts them
	meta     Metadata
	t0       time.Time
	pauses   []Pause
	stopAt   time.Time
	reason   StopReason
	err      error
	stopCh   chan struct{}
	stopOnce sync.Once
	done     chan struct{}
	wg       sync.WaitGroup

	onState serial.Handlers[StateChange]
	onVoice serial.Handlers[VoiceActivity]
	onError serial.Handlers[error]
	events  serial.Queue

	// Clock state, used by the clock goroutine only.
	files    []*outFile
	frames   int64 // frames pulled
	written  int64 // frames written to the files
	quiet    int64 // frames without voice on any track
	nextSync int64
	base     string
}

// outFile is one audio file and the tracks in its channels.
type outFile struct {
	w      *wavWriter
	tracks []*track
	mix    bool    // Mono: the tracks are summed into one channel
	pcm    []int16 // one interleaved frame
}

// New returns an idle Recorder. With the default storage it checks that
// Config.Dir exists and is writable and names the path if not.
func New(cfg Config, opts ...Option) (*Recorder, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	cfg.Parties = slices.Clone(cfg.Parties)
	r := &Recorder{cfg: cfg, id: uuid.NewString(), done: make(chan struct{}), stopCh: make(chan struct{})}
	for _, o := range opts {
		o(r)
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.log = r.log.With("recording", r.id)
	if r.store == nil {
		d := Dir(cfg.Dir)
		if err := d.check(); err != nil {
			return nil, err
		}
		r.store = d
	}
	r.latencyFrames = int64(cfg.Latency / frameDur)
	r.hangFrames = int(300 * time.Millisecond / frameDur)
	r.setRate(sampleRate)
	return r, nil
}

// setRate sets the recording's sample rate and what is counted in its
// samples. Start raises it to 16 kHz when a leg is wideband.
func (r *Recorder) setRate(rate int) {
	r.rate = rate
	r.frameN = rate * int(frameDur/time.Millisecond) / 1000
	r.placeTol = r.durSamples(placeTolerance)
	r.driftTol = r.durSamples(driftTolerance)
	r.respurt = r.durSamples(respurtAfter)
	r.jumpLate = r.durSamples(jumpAfter)
	// The ring holds the latency, a second of slack and a frame.
	r.ringSamples = 1 << bits.Len(uint(r.durSamples(r.cfg.Latency+time.Second)))
	rms := 32768 * math.Pow(10, r.cfg.VoiceLevel/20)
	r.voiceSum = int64(rms * rms * float64(r.frameN))
}

func (r *Recorder) durSamples(d time.Duration) int64 {
	return int64(d) * int64(r.rate) / int64(time.Second)
}

// ID returns the recording's id.
func (r *Recorder) ID() string { return r.id }

// samplesAt returns the position of time now on the recording's time
// line, in samples since Start.
func (r *Recorder) samplesAt(now time.Time) int64 { return r.durSamples(now.Sub(r.t0)) }

// addTrack adds a track before Start.
func (r *Recorder) addTrack(t *track, end <-chan struct{}) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state != Idle {
		return ErrStarted
	}
	t.index = len(r.tracks)
	r.tracks = append(r.tracks, t)
	if end != nil {
		r.ends = append(r.ends, end)
	}
	return nil
}

func (r *Recorder) addParty(uri string) {
	if uri == "" {
		return
	}
	for _, p := range r.cfg.Parties {
		if p == uri {
			return
		}
	}
	r.cfg.Parties = append(r.cfg.Parties, uri)
}

// State returns the state.
func (r *Recorder) State() State {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state
}

// Done is closed when the recording has ended and its files are closed.
func (r *Recorder) Done() <-chan struct{} { return r.done }

// Err returns the write error that stopped the recording, if any.
func (r *Recorder) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Metadata returns the recording's metadata as last written (complete once
// Done is closed).
func (r *Recorder) Metadata() Metadata {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.meta
	m.Files = append([]FileInfo(nil), m.Files...)
	m.Pauses = append([]Pause(nil), r.pauses...)
	return m
}

// Files returns the names (in the storage) of the audio files and, last,
// the sidecar; empty before Start.
func (r *Recorder) Files() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, f := range r.meta.Files {
		out = append(out, f.Name)
	}
	if r.base != "" {
		out = append(out, r.base+".json")
	}
	return out
}

// OnStateChanged adds a handler of state changes and returns its remove
// function (see Recorder for where handlers run).
func (r *Recorder) OnStateChanged(f func(StateChange)) (remove func()) { return r.onState.Add(f) }

// OnVoiceActivity adds a handler of voice activity changes per track.
func (r *Recorder) OnVoiceActivity(f func(VoiceActivity)) (remove func()) {
	return r.onVoice.Add(f)
}

// OnError adds a handler of write errors. The recording stops at the
// first one (state Stopped, reason StopWriteError); the calls go on.
func (r *Recorder) OnError(f func(error)) (remove func()) { return r.onError.Add(f) }

// Start creates the files and starts recording. It fails, writing
// nothing, when the recorder was started before, has no tracks, a track's
// call has no media, or the layout does not fit the tracks (Stereo needs
// two).
func (r *Recorder) Start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state != Idle {
		return ErrStarted
	}
	if len(r.tracks) == 0 {
		return ErrNoTracks
	}
	if len(r.follow) > 0 && r.cfg.Layout != FilePerTrack {
		return errors.New("recorder: following a conference's roster needs the FilePerTrack layout")
	}
	if r.cfg.Layout == Stereo && len(r.tracks) != 2 {
		return fmt.Errorf("recorder: stereo needs two tracks, have %d", len(r.tracks))
	}
	// The recording runs at 16 kHz when a leg is wideband (G.722, Opus)
	// and the files may hold linear PCM; the narrowband legs and a
	// conference's mix (8 kHz) are resampled up to it. With G.711 files
	// asked for, wideband legs are resampled down to 8 kHz instead.
	rate := sampleRate
	for _, t := range r.tracks {
		if t.src == srcMix {
			continue
		}
		c := t.flow.Codec()
		if c == nil {
			return fmt.Errorf("recorder: track %q: %w", t.label, errNoMedia)
		}
		t.codec = c
		if c.SampleRate() > rate && (r.cfg.Encoding == Native || r.cfg.Encoding == PCM16) {
			rate = wideRate
		}
	}
	r.setRate(rate)
	for _, t := range r.tracks {
		if err := t.prepare(); err != nil {
			return err
		}
	}
	start := time.Now()
	r.base = r.expand(start)
	r.meta = Metadata{ID: r.id, CallID: r.cfg.CallID, ConferenceID: r.cfg.ConferenceID, Parties: r.cfg.Parties,
		Layout: r.cfg.Layout.String(), SampleRate: r.rate, PauseMode: r.cfg.PauseMode.String(), Start: start}
	if err := r.createFiles(); err != nil {
		return err
	}
	if err := writeSidecar(r.store, r.base+".json", &r.meta); err != nil {
		r.closeFiles()
		return err
	}
	r.t0 = start
	for _, t := range r.tracks {
		t.readPos = 0
		switch t.src {
		case srcHeard, srcParticipant:
			t.remove = t.flow.ObserveHeard(t)
		case srcSent:
			t.remove = t.flow.ObserveSent(t)
		case srcMix:
			remove, err := t.attach(t)
			if err != nil {
				r.detach()
				r.closeFiles()
				return err
			}
			t.remove = remove
		}
	}
	r.state = Recording
	for _, f := range r.follow {
		r.unfollow = append(r.unfollow, f())
	}
	r.post(StateChange{State: Recording})
	r.log.Info("recording started", "files", len(r.files), "tracks", len(r.tracks), "layout", r.cfg.Layout.String())
	r.wg.Go(r.run)
	return nil
}

// expand fills in the name template.
func (r *Recorder) expand(start time.Time) string {
	s := strings.NewReplacer("{id}", r.id, "{start}", start.UTC().Format("20060102T150405Z"),
		"{call}", r.cfg.CallID, "{conference}", r.cfg.ConferenceID).Replace(r.cfg.Name)
	return sanitize(s)
}

// sanitize keeps a file name to letters, digits and ._-+@.
func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.IndexByte("._-+@", c) >= 0:
		default:
			b[i] = '_'
		}
	}
	return strings.Trim(string(b), ".")
}

// createFiles opens the audio files of the layout.
func (r *Recorder) createFiles() error {
	var groups [][]*track
	switch r.cfg.Layout {
	case FilePerTrack:
		for _, t := range r.tracks {
			groups = append(groups, []*track{t})
		}
	default:
		groups = [][]*track{r.tracks}
	}
	for i, g := range groups {
		of, fi, err := r.openFile(g, i)
		if err != nil {
			r.closeFiles()
			return err
		}
		r.files = append(r.files, of)
		r.meta.Files = append(r.meta.Files, fi)
	}
	return nil
}

// openFile creates the i-th audio file, holding the tracks g.
func (r *Recorder) openFile(g []*track, i int) (*outFile, FileInfo, error) {
	name := r.base + ".wav"
	if r.cfg.Layout == FilePerTrack {
		label := sanitize(strings.TrimPrefix(strings.TrimPrefix(g[0].label, "sip:"), "sips:"))
		if len(label) > 40 {
			label = label[:40]
		}
		name = fmt.Sprintf("%s-%d-%s.wav", r.base, i+1, label)
	}
	mixed := r.cfg.Layout == Mono
	channels := len(g)
	if mixed {
		channels = 1
	}
	enc := r.encodingFor(g)
	f, err := r.store.Create(name)
	if err != nil {
		return nil, FileInfo{}, err
	}
	w, err := newWAVWriter(f, name, enc, channels, r.rate, r.cfg.SyncInterval)
	if err != nil {
		f.Close()
		return nil, FileInfo{}, err
	}
	of := &outFile{w: w, tracks: g, mix: mixed, pcm: make([]int16, channels*r.frameN)}
	fi := FileInfo{Name: name, Encoding: enc.String()}
	for ch, t := range g {
		ci := ChannelInfo{Channel: ch, Label: t.label, Party: t.party, Source: t.src.String()}
		if mixed {
			ci.Channel = 0
		}
		if t.codec != nil {
			ci.Codec = t.codec.Name()
		}
		fi.Channels = append(fi.Channels, ci)
	}
	return of, fi, nil
}

// adopt gives the participants who joined a followed conference since the
// last tick a track and a file of their own, which starts with silence up
// to now (see ConferenceOptions.FollowRoster). It runs on the clock.
func (r *Recorder) adopt() error {
	r.mu.Lock()
	joined := r.joined
	r.joined = nil
	r.mu.Unlock()
	for _, t := range joined {
		if c := t.flow.Codec(); c != nil {
			t.codec = c
		}
		of, fi, err := r.openFile([]*track{t}, len(r.files))
		if err != nil {
			return err
		}
		// The time already recorded, as silence; flushed as it goes, so
		// the buffer does not grow.
		for range r.written {
			of.w.writeFrame(of.pcm)
			if len(of.w.buf) > cap(of.w.buf)/2 {
				if err := of.w.flush(); err != nil {
					_ = of.w.close()
					return err
				}
			}
		}
		t.mu.Lock()
		t.readPos = r.frames * int64(r.frameN)
		t.mu.Unlock()
		t.remove = t.flow.ObserveHeard(t)
		r.mu.Lock()
		t.index = len(r.tracks)
		r.tracks = append(r.tracks, t)
		r.files = append(r.files, of)
		r.meta.Files = append(r.meta.Files, fi)
		r.mu.Unlock()
		r.log.Info("participant track added", "label", t.label, "file", fi.Name)
	}
	return nil
}

// encodingFor resolves Native for the tracks of one file.
func (r *Recorder) encodingFor(g []*track) Encoding {
	if r.cfg.Encoding != Native {
		return r.cfg.Encoding
	}
	if r.rate != sampleRate {
		return PCM16 // G.711 files are 8 kHz
	}
	var c codec.Codec
	for _, t := range g {
		if t.codec == nil || (c != nil && c.Name() != t.codec.Name()) {
			return PCM16
		}
		c = t.codec
	}
	switch c.Name() {
	case "PCMU":
		return PCMU
	case "PCMA":
		return PCMA
	}
	return PCM16
}

// closeFiles closes files opened by a Start that failed.
func (r *Recorder) closeFiles() {
	for _, f := range r.files {
		_ = f.w.close()
	}
	r.files = nil
	r.meta.Files = nil
}

// detach removes every observer and tap; after it returns no track is
// written to (but for a call in progress).
func (r *Recorder) detach() {
	for _, t := range r.tracks {
		if t.remove != nil {
			t.remove()
			t.remove = nil
		}
	}
}

// Pause pauses the recording (see PauseMode); the pause is listed in the
// sidecar.
func (r *Recorder) Pause() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch r.state {
	case Idle:
		return ErrNotStarted
	case Stopped:
		return ErrStopped
	case Paused:
		return nil
	}
	r.pauses = append(r.pauses, Pause{Start: time.Now(), FileOffset: -1})
	r.state = Paused
	r.post(StateChange{State: Paused})
	return nil
}

// Resume ends a pause.
func (r *Recorder) Resume() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch r.state {
	case Idle:
		return ErrNotStarted
	case Stopped:
		return ErrStopped
	case Recording:
		return nil
	}
	r.pauses[len(r.pauses)-1].End = time.Now()
	r.state = Recording
	r.post(StateChange{State: Recording})
	return nil
}

// Stop ends the recording now with reason (StopRequested if empty): the
// audio up to now is written, the files are closed and the sidecar
// completed before Stop returns. It returns the write error that stopped
// the recording earlier, if any. Stop is idempotent; on an idle recorder
// it only makes Start fail. The Stopped event is delivered on the event
// goroutine, possibly after Stop returns; Stop may be called from a
// handler.
func (r *Recorder) Stop(reason StopReason) error {
	if reason == "" {
		reason = StopRequested
	}
	r.mu.Lock()
	if r.state == Idle {
		r.state = Stopped
		r.mu.Unlock()
		r.stopOnce.Do(func() { close(r.done) })
		return nil
	}
	r.requestStopLocked(time.Now(), reason)
	r.mu.Unlock()
	r.wg.Wait()
	return r.Err()
}

// Close stops the recording (StopRequested).
func (r *Recorder) Close() error { return r.Stop(StopRequested) }

func (r *Recorder) requestStopLocked(at time.Time, reason StopReason) {
	if r.reason != "" {
		return
	}
	r.stopAt, r.reason = at, reason
	close(r.stopCh)
}

func (r *Recorder) post(sc StateChange) { r.onState.Post(&r.events, sc) }

// run is the recorder's clock.
func (r *Recorder) run() {
	tick := time.NewTicker(frameDur)
	defer tick.Stop()
	r.nextSync = int64(r.cfg.SyncInterval / frameDur)
	for {
		select {
		case <-r.stopCh:
			r.mu.Lock()
			at, reason := r.stopAt, r.reason
			r.mu.Unlock()
			r.finish(at, reason, nil)
			return
		case <-tick.C:
		}
		if err := r.adopt(); err != nil {
			r.finish(time.Now(), StopWriteError, err)
			return
		}
		now := time.Now()
		due := int64(now.Sub(r.t0)/frameDur) - r.latencyFrames
		for r.frames < due {
			if err := r.frame(); err != nil {
				r.finish(now, StopWriteError, err)
				return
			}
		}
		if reason, at := r.check(now); reason != "" {
			r.finish(at, reason, nil)
			return
		}
	}
}

// check reports whether the recording must stop by itself, and as of
// when.
func (r *Recorder) check(now time.Time) (StopReason, time.Time) {
	if d := r.cfg.MaxDuration; d > 0 && now.Sub(r.t0) >= d {
		return StopMaxDuration, r.t0.Add(d)
	}
	if d := r.cfg.SilenceTimeout; d > 0 && r.quiet*int64(frameDur) >= int64(d) {
		return StopSilence, now
	}
	for _, end := range r.ends {
		select {
		case <-end:
			return StopSourceEnded, now
		default:
		}
	}
	return "", time.Time{}
}

// frame pulls one frame from every track and writes it.
func (r *Recorder) frame() error {
	pos := r.frames
	r.frames++
	voice := false
	for _, t := range r.tracks {
		t.read()
		if t.voice() {
			r.onVoice.Post(&r.events, VoiceActivity{Track: t.index, Label: t.label, Active: t.active,
				Offset: time.Duration(pos) * frameDur})
		}
		voice = voice || t.active
	}
	offset := r.t0.Add(time.Duration(pos) * frameDur)
	if r.pausedAt(offset) {
		r.quiet = 0
		if r.cfg.PauseMode == PauseOmit {
			return nil
		}
		for _, t := range r.tracks {
			clear(t.frame)
		}
	} else if voice {
		r.quiet = 0
	} else {
		r.quiet++
	}
	for _, f := range r.files {
		f.write()
	}
	r.written++
	if r.written >= r.nextSync {
		r.nextSync = r.written + int64(r.cfg.SyncInterval/frameDur)
		for _, f := range r.files {
			if err := f.w.checkpoint(); err != nil {
				return err
			}
		}
	}
	for _, f := range r.files {
		if f.w.err != nil {
			return f.w.err
		}
	}
	return nil
}

// pausedAt reports whether the frame starting at wall-clock time at falls
// in a pause, and notes where in the files a pause begins.
func (r *Recorder) pausedAt(at time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.pauses {
		p := &r.pauses[i]
		if at.Before(p.Start) || (!p.End.IsZero() && !at.Before(p.End)) {
			continue
		}
		if p.FileOffset < 0 {
			p.FileOffset = (time.Duration(r.written) * frameDur).Seconds()
		}
		return true
	}
	return false
}

// write composes and writes the file's frame.
func (f *outFile) write() {
	if f.mix {
		out := f.pcm
		for i := range out {
			var s int32
			for _, t := range f.tracks {
				s += int32(t.frame[i])
			}
			out[i] = int16(min(max(s, math.MinInt16), math.MaxInt16))
		}
		f.w.writeFrame(out)
		return
	}
	n := len(f.tracks)
	for ch, t := range f.tracks {
		for i, v := range t.frame {
			f.pcm[i*n+ch] = v
		}
	}
	f.w.writeFrame(f.pcm)
}

// finish writes the frames up to at, closes the files, completes the
// sidecar and reports the end.
func (r *Recorder) finish(at time.Time, reason StopReason, werr error) {
	r.mu.Lock()
	if r.reason == "" {
		r.stopAt, r.reason = at, reason
		close(r.stopCh)
	}
	unfollow := r.unfollow
	r.unfollow, r.joined = nil, nil
	r.mu.Unlock()
	for _, f := range unfollow {
		f()
	}
	r.detach()
	if werr == nil {
		end := int64((at.Sub(r.t0) + frameDur/2) / frameDur)
		for r.frames < end {
			if werr = r.frame(); werr != nil {
				reason = StopWriteError
				break
			}
		}
	}
	for _, f := range r.files {
		if err := f.w.close(); err != nil && werr == nil {
			werr, reason = err, StopWriteError
		}
	}
	r.mu.Lock()
	for i := range r.pauses {
		p := &r.pauses[i]
		if p.End.IsZero() {
			p.End = at
		}
		if p.FileOffset < 0 {
			p.FileOffset = (time.Duration(r.written) * frameDur).Seconds()
		}
	}
	r.meta.End = at
	r.meta.Parties = r.cfg.Parties
	r.meta.Duration = (time.Duration(r.written) * frameDur).Seconds()
	r.meta.Pauses = append([]Pause(nil), r.pauses...)
	r.meta.StopReason = reason
	if werr != nil {
		r.meta.Error = werr.Error()
		r.err = werr
	}
	meta := r.meta
	r.state = Stopped
	r.mu.Unlock()
	if err := writeSidecar(r.store, r.base+".json", &meta); err != nil && werr == nil {
		werr = err
		r.mu.Lock()
		r.err = err
		r.mu.Unlock()
	}
	if werr != nil {
		r.log.Warn("recording failed", "err", werr)
		r.onError.Post(&r.events, werr)
	} else {
		r.log.Info("recording stopped", "reason", string(reason), "seconds", meta.Duration)
	}
	r.post(StateChange{State: Stopped, Reason: reason, Err: werr})
	r.stopOnce.Do(func() { close(r.done) })
}
