// Package recording is the bundled recorder app: sip:record@host records
// what a caller says after a notice and a beep, and a recording bot
// records conferences, hidden, from the Go API or automatically by name.
//
// Both are built as seed 002 describes (UCMA's "multiple calls to a
// conference from the same endpoint"): one application endpoint joins
// calls with generated identities, as trusted participants, to a
// conference; one call plays prompts and another is hooked to a
// [recorder.Recorder], so the recording holds the prompts and the caller.
//
//   - A call to sip:record@host is answered and put into a private
//     conference of its own (rec-<id>, locked), and the app joins it twice:
//     a recording leg, then a prompt leg that plays the notice ("This call
//     is being recorded.") and a beep of [BeepHz]. The recording ends when
//     the caller hangs up or presses the stop digit (#), at the maximum
//     duration or after the silence timeout; the app then hangs up.
//   - [Service.RecordConference] joins a named conference with a hidden,
//     trusted recording leg (invisible to RFC 4575 roster subscribers,
//     flagged Trusted in the application's roster) and records the mix and,
//     optionally, one track per participant. Config.Conferences.Auto
//     records every conference whose id matches a pattern, from its
//     creation; an optional announcement tells the room when recording
//     starts and when it stops.
//
// Recordings land in Config.Dir (recordings/ under the working directory
// by default) as WAV files with JSON sidecars; [Service.Recordings] lists
// them.
package recording

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-sip/switchboard/apps"
	"github.com/switchboard-sip/switchboard/conference"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/media"
	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/platform"
	"github.com/switchboard-sip/switchboard/recorder"
)

// DefaultDir is the default recording directory, relative to the working
// directory; unlike a configured one, it is created when missing.
const DefaultDir = "recordings"

// BeepHz is the frequency of the embedded beep (300 ms), which tells the
// caller that recording has begun and tests where it began.
const BeepHz = 1400

// Stop reasons the app writes into a call recording's sidecar, besides
// the recorder's own (recorder.StopMaxDuration, recorder.StopSilence, …)
// and "digit <StopDigit>".
const (
	// StopHangUp: the caller hung up.
	StopHangUp recorder.StopReason = "hang-up"
	// StopShutdown: the app was closed during the call.
	StopShutdown recorder.StopReason = "shutdown"
	// StopConferenceEmpty: the last ordinary participant left a
	// recorded conference.
	StopConferenceEmpty recorder.StopReason = "conference empty"
)

var (
	//go:embed prompts/notice.wav
	defaultNotice []byte
	//go:embed prompts/beep.wav
	defaultBeep []byte
	//go:embed prompts/stopped.wav
	defaultStopNotice []byte
)

// Config configures the recorder app. The zero value serves
// sip:record@host and records into ./recordings.
type Config struct {
	// User is the user part the app answers, sip:<user>@host. Default
	// "record".
	User string `yaml:"user"`
	// Dir is where recordings and their sidecars go. Default
	// "recordings" (under the working directory), which is created if
	// missing; any other directory must exist and be writable (New names
	// it if not).
	Dir string `yaml:"dir"`
	// Notice and Beep are WAV files (any rate, mono or stereo) played to
	// callers before recording; default: the embedded prompts. A missing
	// or unreadable file fails New, naming it.
	Notice string `yaml:"notice"`
	Beep   string `yaml:"beep"`
	// MaxDuration ends a call's recording, and the app then hangs up
	// the call, this long after recording starts (just after the
	// answer); stop reason recorder.StopMaxDuration. A duration (YAML
	// "90s", "1h"). Default 1h.
	MaxDuration time.Duration `yaml:"max_duration"`
	// SilenceTimeout ends a call's recording, and the call, after this
	// long without voice from anyone (the prompts count as voice; the
	// level is the recorder's VoiceLevel, -45 dBFS); stop reason
	// recorder.StopSilence. A duration. Default 0: never.
	SilenceTimeout time.Duration `yaml:"silence_timeout"`
	// StopDigit ends a call's recording when the caller presses it.
	// Default "#".
	StopDigit string `yaml:"stop_digit"`
	// Conferences configures the conference recording bot.
	Conferences ConferencesConfig `yaml:"conferences"`
}

// ConferencesConfig configures the conference recording bot.
type ConferencesConfig struct {
	// Auto is a regular expression: every conference whose id matches it
	// is recorded from its creation. Default "": none.
	Auto string `yaml:"auto"`
	// PerParticipant adds one track per participant (labelled with the
	// participant's URI) next to the mix, in one multi-channel file.
	PerParticipant bool `yaml:"per_participant"`
	// Announce plays Config.Notice into the conference when recording
	// starts (as soon as an ordinary participant is there), and
	// StopNotice when recording stops while participants remain
	// (StopConference, Recorder.Stop or the recorder's own limits); not
	// when the last ordinary participant leaves or the app shuts down.
	// Default false.
	Announce bool `yaml:"announce"`
	// StopNotice is the WAV file (any rate, mono or stereo) announcing
	// that recording has stopped; default: the embedded prompt
	// ("Recording has stopped."). A missing or unreadable file fails New,
	// naming it.
	StopNotice string `yaml:"stop_notice"`
}

// Option configures a Service.
type Option func(*Service)

// WithLogger sets the logger. Default: the platform's.
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// Service is the recorder app on a platform. Its methods are safe for
// concurrent use.
type Service struct {
	p      *platform.Platform
	cfg    Config
	log    *slog.Logger
	confs  *conference.Service
	ep     *endpoint.Endpoint
	prompt []int16 // notice then beep, 8 kHz mono
	notice []int16
	// stopNotice is Conferences.StopNotice followed by enough silence
	// for the mixer to play it out before the bot leaves.
	stopNotice []int16
	auto       *regexp.Regexp

	calls apps.Calls // callers of sip:record@ being served

	mu        sync.Mutex
	closed    bool            // no more bots
	bots      map[string]*bot // conference id → its recording bot
	unCreated func()
}

// bot is a conference's hidden recording leg and its recorder.
type bot struct {
	leg *endpoint.Call
	rec *recorder.Recorder
	// announced is closed when the start announcement is over (played,
	// or cut short by the end of the recording); nil without Announce.
	announced chan struct{}
}

// New loads the prompts, checks the recording directory, routes
// sip:<cfg.User>@host on p to the app and registers it with p, which
// closes it on Shutdown or Close. confs is the conference service the app
// puts callers in and records conferences of.
func New(p *platform.Platform, confs *conference.Service, cfg Config, opts ...Option) (*Service, error) {
	if confs == nil {
		return nil, errors.New("recording: a conference service is required")
	}
	if cfg.User == "" {
		cfg.User = "record"
	}
	if cfg.Dir == "" {
		cfg.Dir = DefaultDir
	}
	if cfg.Dir == DefaultDir {
		if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("recording: %w", err)
		}
	}
	if cfg.MaxDuration == 0 {
		cfg.MaxDuration = time.Hour
	}
	if cfg.StopDigit == "" {
		cfg.StopDigit = "#"
	}
	if len(cfg.StopDigit) != 1 || !strings.Contains("0123456789*#ABCD", cfg.StopDigit) {
		return nil, fmt.Errorf("recording: stop digit %q: want one of 0-9, *, #, A-D", cfg.StopDigit)
	}
	if err := checkDir(cfg.Dir); err != nil {
		return nil, err
	}
	s := &Service{p: p, cfg: cfg, confs: confs, bots: map[string]*bot{}}
	for _, o := range opts {
		o(s)
	}
	if s.log == nil {
		s.log = p.Logger().With("subsystem", "recording")
	}
	var err error
	if s.notice, err = loadPrompt(cfg.Notice, defaultNotice); err != nil {
		return nil, err
	}
	beep, err := loadPrompt(cfg.Beep, defaultBeep)
	if err != nil {
		return nil, err
	}
	s.prompt = append(slices.Clone(s.notice), make([]int16, 8000/5)...) // 200 ms between notice and beep
	s.prompt = append(s.prompt, beep...)
	if s.stopNotice, err = loadPrompt(cfg.Conferences.StopNotice, defaultStopNotice); err != nil {
		return nil, err
	}
	s.stopNotice = append(s.stopNotice, make([]int16, 8000/2)...) // 500 ms: the mixer's queue drains
	if cfg.Conferences.Auto != "" {
		if s.auto, err = regexp.Compile(cfg.Conferences.Auto); err != nil {
			return nil, fmt.Errorf("recording: conferences.auto: %w", err)
		}
	}
	if s.ep, err = endpoint.NewApplication(p, endpoint.Settings{
		OwnerURI: "sip:" + cfg.User + "@" + p.Host(), DisplayName: "Recorder",
	}); err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	s.ep.HandleCalls(endpoint.HandlerFunc(s.serveCall))
	if s.auto != nil {
		s.unCreated = confs.OnCreated(s.conferenceCreated)
	}
	if err := p.Register(s); err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	return s, nil
}

// checkDir fails, naming dir, unless it is a writable directory.
func checkDir(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("recording: directory %s: %w", dir, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("recording: %s is not a directory", dir)
	}
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return fmt.Errorf("recording: directory %s is not writable: %w", dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// loadPrompt reads a WAV prompt (path, or the embedded default) as 8 kHz
// mono.
func loadPrompt(path string, embedded []byte) ([]int16, error) {
	var (
		clip *audio.Clip
		err  error
	)
	if path == "" {
		clip, err = audio.ReadWAV(bytes.NewReader(embedded))
	} else {
		clip, err = audio.OpenWAV(path)
	}
	if err == nil {
		var pcm []int16
		if pcm, err = clip.Mono(8000); err == nil {
			return pcm, nil
		}
	}
	if path == "" {
		path = "embedded prompt"
	}
	return nil, fmt.Errorf("recording: prompt %s: %w", path, err)
}

// Endpoint returns the app's endpoint (sip:record@host), whose calls are
// the callers and the conference legs.
func (s *Service) Endpoint() *endpoint.Endpoint { return s.ep }

// Dir returns the recording directory.
func (s *Service) Dir() string { return s.cfg.Dir }

// serveCall records a caller of sip:record@host (see the package doc).
func (s *Service) serveCall(ctx context.Context, c *endpoint.Call) {
	ctx, done, ok := s.calls.Enter(ctx) // Close ends the call
	if !ok {
		_ = c.Decline(ctx, 503)
		return
	}
	defer done()

	if err := c.Accept(ctx); err != nil {
		return
	}
	log := s.log.With("call_id", c.CallID(), "caller", c.RemoteURI())
	rec, room, err := s.recordCaller(ctx, c)
	if err != nil {
		log.Warn("recording: could not record the caller", "error", err)
		if room != nil {
			room.End(context.WithoutCancel(ctx))
		}
		return
	}
	digit := make(chan struct{}, 1)
	removeDTMF := c.OnDTMF(func(ev media.DTMFEvent) {
		if string(ev.Digit) == s.cfg.StopDigit {
			select {
			case digit <- struct{}{}:
			default:
			}
		}
	})
	defer removeDTMF()
	reason := recorder.StopRequested
	select {
	case <-ctx.Done():
		reason = StopHangUp
		if s.calls.Closed() {
			reason = StopShutdown
		}
	case <-digit:
		reason = recorder.StopReason("digit " + s.cfg.StopDigit)
	case <-rec.Done(): // max duration, silence, write error
	}
	if err := rec.Stop(reason); err != nil {
		log.Warn("recording: write error", "error", err)
	}
	md := rec.Metadata()
	log.Info("recording: done", "id", md.ID, "reason", string(md.StopReason), "seconds", md.Duration, "files", rec.Files())
	endCtx, endCancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer endCancel()
	room.End(endCtx) // hangs up the caller (if still there) and the legs
}

// recordCaller puts an answered caller into a private conference, joins
// the recording leg and starts its recorder, then joins the prompt leg,
// which plays the notice and the beep and leaves.
func (s *Service) recordCaller(ctx context.Context, c *endpoint.Call) (*recorder.Recorder, *conference.Conference, error) {
	room, err := s.confs.Create("rec-"+strings.ReplaceAll(uuid.NewString(), "-", ""), conference.Options{Subject: "recording"})
	if err != nil {
		return nil, nil, err
	}
	if _, err := room.Add(ctx, c, conference.AddOptions{}); err != nil {
		return nil, room, err
	}
	room.Lock() // nobody else dials in
	legOpts := conference.JoinOptions{Trusted: true, GeneratedIdentity: true}
	recLeg, err := room.Join(ctx, s.ep.NewConversation(), legOpts)
	if err != nil {
		return nil, room, fmt.Errorf("recording leg: %w", err)
	}
	rec, err := recorder.New(recorder.Config{
		Dir: s.cfg.Dir, MaxDuration: s.cfg.MaxDuration, SilenceTimeout: s.cfg.SilenceTimeout,
		CallID: c.CallID(), ConferenceID: room.ID(), Parties: []string{c.RemoteURI()},
	}, recorder.WithLogger(s.log))
	if err != nil {
		return nil, room, err
	}
	if err := rec.AddCall(recLeg, recorder.Heard, recorder.TrackOptions{Label: "caller and prompts", Party: c.RemoteURI()}); err != nil {
		return nil, room, err
	}
	if err := rec.Start(); err != nil {
		return nil, room, err
	}
	player, err := room.Join(ctx, s.ep.NewConversation(), legOpts)
	if err != nil {
		_ = rec.Stop("prompt leg failed")
		return nil, room, fmt.Errorf("prompt leg: %w", err)
	}
	go func() {
		_ = player.Flow().Play(ctx, s.prompt)
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = player.Terminate(tctx)
	}()
	return rec, room, nil
}

// conferenceCreated starts the bot for a conference whose id matches
// Config.Conferences.Auto.
func (s *Service) conferenceCreated(c *conference.Conference) {
	if !s.auto.MatchString(c.ID()) || strings.HasPrefix(c.ID(), "rec-") {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(s.calls.Context(), 10*time.Second)
		defer cancel()
		if _, err := s.RecordConference(ctx, c); err != nil {
			s.log.Warn("recording: automatic conference recording failed", "conference", c.ID(), "error", err)
		}
	}()
}

// RecordConference records conference c: a hidden recording leg (trusted,
// with a generated identity) joins it, and its recorder records the mix
// and, with Config.Conferences.PerParticipant, one track per participant
// present now. The recording ends with the conference, when its last
// ordinary participant leaves, or with StopConference.
// Recording a conference twice is an error.
func (s *Service) RecordConference(ctx context.Context, c *conference.Conference) (*recorder.Recorder, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, platform.ErrClosed
	}
	if _, ok := s.bots[c.ID()]; ok {
		s.mu.Unlock()
		return nil, fmt.Errorf("recording: conference %s is already being recorded", c.ID())
	}
	b := &bot{}
	s.bots[c.ID()] = b // reserved
	s.mu.Unlock()
	rec, err := s.startBot(ctx, c, b)
	if err != nil {
		s.mu.Lock()
		delete(s.bots, c.ID())
		s.mu.Unlock()
		if b.leg != nil {
			_ = b.leg.Terminate(context.WithoutCancel(ctx))
		}
		return nil, err
	}
	go func() {
		<-rec.Done()
		s.mu.Lock()
		if s.bots[c.ID()] == b {
			delete(s.bots, c.ID())
		}
		s.mu.Unlock()
		s.announceStop(c, b)
		tctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = b.leg.Terminate(tctx)
	}()
	return rec, nil
}

// announceStop plays the stop notice into c, with Announce, when b's
// recording has stopped while ordinary participants remain (not when
// the conference emptied or the app is shutting down). It returns when
// the notice is over.
func (s *Service) announceStop(c *conference.Conference, b *bot) {
	if b.announced == nil {
		return
	}
	<-b.announced // the start notice, cut short by the stop, is over
	switch b.rec.Metadata().StopReason {
	case StopConferenceEmpty, StopShutdown:
		return
	}
	if !hasOrdinary(c) {
		return
	}
	d := time.Duration(len(s.stopNotice)) * time.Second / 8000
	ctx, cancel := context.WithTimeout(s.calls.Context(), d+2*time.Second)
	defer cancel()
	_ = b.leg.Flow().Play(ctx, s.stopNotice)
}

// hasOrdinary reports whether c has a participant that is not trusted
// (an app's leg, like the bot itself).
func hasOrdinary(c *conference.Conference) bool {
	for _, p := range c.Roster() {
		if !p.Trusted {
			return true
		}
	}
	return false
}

func (s *Service) startBot(ctx context.Context, c *conference.Conference, b *bot) (*recorder.Recorder, error) {
	leg, err := c.Join(ctx, s.ep.NewConversation(), conference.JoinOptions{Trusted: true, GeneratedIdentity: true})
	if err != nil {
		return nil, fmt.Errorf("recording: join %s: %w", c.ID(), err)
	}
	b.leg = leg
	layout := recorder.Mono
	if s.cfg.Conferences.PerParticipant {
		layout = recorder.MultiChannel
	}
	rec, err := recorder.New(recorder.Config{Dir: s.cfg.Dir, Layout: layout, ConferenceID: c.ID()}, recorder.WithLogger(s.log))
	if err != nil {
		return nil, err
	}
	if err := rec.AddCall(leg, recorder.Heard, recorder.TrackOptions{Label: "mix"}); err != nil {
		return nil, err
	}
	if s.cfg.Conferences.PerParticipant {
		if err := rec.AddConference(c, recorder.ConferenceOptions{NoMix: true, PerParticipant: true}); err != nil {
			return nil, err
		}
	}
	if err := rec.Start(); err != nil {
		return nil, err
	}
	b.rec = rec
	// The bot leaves with the last ordinary participant rather than
	// keeping an empty room alive for the trusted-only grace.
	present := make(chan struct{}, 1) // an ordinary participant is there
	remove := c.OnRosterChanged(func(conference.RosterChange) {
		if !hasOrdinary(c) {
			go func() { _ = rec.Stop(StopConferenceEmpty) }()
			return
		}
		select {
		case present <- struct{}{}:
		default:
		}
	})
	go func() { <-rec.Done(); remove() }()
	if s.cfg.Conferences.Announce {
		// An automatic recording starts with the conference, before
		// anyone is there to hear the notice: it waits for someone.
		b.announced = make(chan struct{})
		go func() {
			defer close(b.announced)
			ctx, cancel := context.WithCancel(s.calls.Context())
			defer cancel()
			go func() {
				select {
				case <-rec.Done():
					cancel()
				case <-ctx.Done():
				}
			}()
			for !hasOrdinary(c) {
				select {
				case <-present:
				case <-ctx.Done():
					return
				}
			}
			_ = leg.Flow().Play(ctx, s.notice)
		}()
	}
	s.log.Info("recording: conference recording started", "conference", c.ID(), "id", rec.ID())
	return rec, nil
}

// StopConference stops the recording of conference id; its leg leaves,
// after playing Conferences.StopNotice with Conferences.Announce.
// StopConference returns without waiting for the notice.
func (s *Service) StopConference(id string) error {
	s.mu.Lock()
	b, ok := s.bots[id]
	s.mu.Unlock()
	if !ok || b.rec == nil {
		return fmt.Errorf("recording: conference %s is not being recorded", id)
	}
	return b.rec.Stop(recorder.StopRequested)
}

// Recordings lists the recordings in the directory, oldest first, from
// their sidecars. A sidecar that does not parse is skipped.
func (s *Service) Recordings() ([]recorder.Metadata, error) {
	names, err := filepath.Glob(filepath.Join(s.cfg.Dir, "*.json"))
	if err != nil {
		return nil, err
	}
	out := make([]recorder.Metadata, 0, len(names))
	for _, n := range names {
		f, err := os.Open(n)
		if err != nil {
			continue
		}
		md, err := recorder.ReadMetadata(f)
		f.Close()
		if err == nil && md.ID != "" {
			out = append(out, *md)
		}
	}
	slices.SortFunc(out, func(a, b recorder.Metadata) int { return a.Start.Compare(b.Start) })
	return out, nil
}

// Close takes the app off the dial plan, stops the automatic recording,
// ends the calls it serves (their recordings are completed) and the
// conference recordings. It is idempotent.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	bots := make([]*bot, 0, len(s.bots))
	for _, b := range s.bots {
		bots = append(bots, b)
	}
	s.mu.Unlock()
	if s.unCreated != nil {
		s.unCreated()
	}
	_ = s.ep.Close()
	for _, b := range bots {
		if b.rec != nil {
			_ = b.rec.Stop(StopShutdown)
		}
	}
	s.calls.Close() // ends the callers' calls; their recordings complete
	return nil
}

// Recording reports whether conference id is being recorded by this
// service.
func (s *Service) Recording(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.bots[id]
	return ok
}
