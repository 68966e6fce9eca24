package holdmusic

import (
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-sip/switchboard/apps"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/platform"
)

// DefaultMarkerHz is the frequency in Hz of the steady marker tone (C5)
// that the embedded default music carries throughout, under its chords, so
// that tests can tell that it plays.
const DefaultMarkerHz = 523.25

// DefaultSource is the name of the source that plays when none is named:
// the embedded music unless Config.Sources defines it.
const DefaultSource = "default"

// defaultMP3 is the embedded default music: an 8 s gapless loop at 44.1 kHz
// mono, 56 kb/s, with a LAME tag. make-default.sh regenerates it.
//
//go:embed default.mp3
var defaultMP3 []byte

// Config configures the hold music. The zero value plays the embedded
// music as the single source "default".
type Config struct {
	// Sources are the music sources by name. A name may use letters,
	// digits, '-', '.', '_' and '~' (it appears in sip:moh-<name>@host).
	// A source named "default" is always present: the embedded music
	// unless defined here. Default: just that one.
	Sources map[string]SourceConfig `yaml:"sources"`
	// Default names the source that plays on sip:moh@host and for
	// Player(""). Default "default".
	Default string `yaml:"default"`
}

// SourceConfig configures one music source: a file, a directory played as
// a playlist, or, when both File and Dir are empty, the embedded music.
type SourceConfig struct {
	// File is an MP3 (MPEG-1 or MPEG-2 Layer III) or WAV file, told apart
	// by its extension, played in a loop. An MP3 file is decoded as it
	// plays; a WAV file is held in memory.
	File string `yaml:"file"`
	// Dir is a directory whose .mp3 and .wav files (not hidden, not in
	// subdirectories) play one after another in name order, then again
	// from the first. Every file is converted once, at New, to 8 kHz mono
	// in memory, so the files may differ in rate and channels; the total
	// must not exceed MaxPlaylist.
	Dir string `yaml:"dir"`
	// Shuffle plays a Dir playlist in a new random order on every pass.
	// Default false. It requires Dir.
	Shuffle bool `yaml:"shuffle"`
}

// Option configures a Service's dependencies.
type Option func(*options)

type options struct {
	log *slog.Logger
}

// WithLogger sets the logger of the service and its players. Default:
// discard.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.log = l }
}

// Service owns one shared, looping player per music source and serves
// calls with them. Its methods are safe for concurrent use.
type Service struct {
	log *slog.Logger
	cat atomic.Pointer[catalog] // replaced whole by SetSources
	eps []*endpoint.Endpoint    // sip:moh@ and sip:moh-@

	calls apps.Calls // calls being served; Close ends them

	mu      sync.Mutex      // SetSources and Close
	closed  bool            // under mu
	retired []*audio.Player // replaced players still playing to their listeners (mu)

	closeOnce sync.Once
	closeErr  error
}

// catalog is one set of sources: read-only once published.
type catalog struct {
	def     string
	players map[string]*audio.Player
	configs map[string]SourceConfig
	names   []string // sorted
}

// New opens every source of cfg and starts its player, which waits in
// automatic mode for a first listener, routes sip:moh@host and
// sip:moh-<name>@host on p to the Handler, and registers the Service with
// p, which closes it on Shutdown or Close. It fails, naming the source and
// the file, if a source is missing, corrupt, empty or too long, so that a
// bad file is found at start-up rather than during a call.
func New(p *platform.Platform, cfg Config, opts ...Option) (*Service, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	s := &Service{log: o.log}
	cat, err := s.open(cfg, nil)
	if err != nil {
		return nil, err
	}
	s.cat.Store(cat)
	if err := s.register(p); err != nil {
		_ = s.Close()
		return nil, err
	}
	if err := p.Register(s); err != nil {
		return nil, fmt.Errorf("holdmusic: %w", err)
	}
	return s, nil
}

// open checks cfg and builds its catalog, reusing from old (when set) the
// players of sources whose configuration is unchanged. On error every
// player it opened is closed again.
func (s *Service) open(cfg Config, old *catalog) (*catalog, error) {
	sources := make(map[string]SourceConfig, len(cfg.Sources)+1)
	sources[DefaultSource] = SourceConfig{}
	for name, sc := range cfg.Sources {
		if err := checkName(name); err != nil {
			return nil, err
		}
		sources[name] = sc
	}
	def := cfg.Default
	if def == "" {
		def = DefaultSource
	}
	if _, ok := sources[def]; !ok {
		return nil, fmt.Errorf("holdmusic: default source %q is not configured", def)
	}
	c := &catalog{def: def, players: make(map[string]*audio.Player, len(sources)), configs: sources,
		names: slices.Sorted(maps.Keys(sources))}
	var opened []*audio.Player
	for _, name := range c.names {
		if old != nil {
			if pl, ok := old.players[name]; ok && old.configs[name] == sources[name] {
				c.players[name] = pl
				continue
			}
		}
		pl, err := s.newPlayer(name, sources[name])
		if err != nil {
			for _, p := range opened {
				_ = p.Close()
			}
			return nil, err
		}
		opened = append(opened, pl)
		c.players[name] = pl
	}
	return c, nil
}

// SetSources replaces the sources with those of cfg (checked and opened
// as New does; on error nothing changes) without interrupting anyone:
// sources whose configuration is unchanged keep their player, so their
// listeners hear no seam; a new or changed source gets a new player,
// which the calls that start from now on hear; a listener of a changed or
// removed source keeps hearing the old player until it leaves, and that
// player is closed once it has no listener (checked at the next
// SetSources and at Close). It returns the names of the sources opened.
func (s *Service) SetSources(cfg Config) (opened []string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("holdmusic: closed")
	}
	old := s.cat.Load()
	c, err := s.open(cfg, old)
	if err != nil {
		return nil, err
	}
	kept := map[*audio.Player]bool{}
	for _, name := range c.names {
		if c.players[name] == old.players[name] {
			kept[c.players[name]] = true
		} else {
			opened = append(opened, name)
		}
	}
	for _, name := range old.names {
		if p := old.players[name]; !kept[p] {
			s.retired = append(s.retired, p)
		}
	}
	s.cat.Store(c)
	// Close the retired players nobody listens to any more.
	still := s.retired[:0]
	for _, p := range s.retired {
		if st := p.Stats(); st.Sessions == 0 && st.Sinks == 0 {
			_ = p.Close()
		} else {
			still = append(still, p)
		}
	}
	s.retired = still
	return opened, nil
}

// newPlayer opens the source name and starts its player.
func (s *Service) newPlayer(name string, sc SourceConfig) (*audio.Player, error) {
	src, err := openSource(sc)
	if err != nil {
		return nil, fmt.Errorf("holdmusic: source %q: %w", name, err)
	}
	p, err := audio.NewPlayer(src, audio.PlayerConfig{
		Mode:   audio.PlayerAutomatic,
		Loop:   true,
		Logger: s.log.With("moh", name),
	})
	if err != nil {
		_ = src.Close()
		return nil, fmt.Errorf("holdmusic: source %q: %w", name, err)
	}
	if err := p.Start(); err != nil {
		_ = p.Close()
		return nil, fmt.Errorf("holdmusic: source %q: %w", name, err)
	}
	return p, nil
}

// OpenSource opens the source sc describes as New does (the embedded
// music for the zero SourceConfig), for a player of the caller's own, such
// as bench/floor's. The caller owns and closes it.
func OpenSource(sc SourceConfig) (audio.Source, error) { return openSource(sc) }

// openSource opens what sc describes.
func openSource(sc SourceConfig) (audio.Source, error) {
	switch {
	case sc.File != "" && sc.Dir != "":
		return nil, errors.New("set file or dir, not both")
	case sc.Shuffle && sc.Dir == "":
		return nil, errors.New("shuffle needs dir")
	case sc.File != "":
		return openFile(sc.File)
	case sc.Dir != "":
		return openPlaylist(sc.Dir, sc.Shuffle, MaxPlaylist)
	}
	return openDefault()
}

// openDefault returns the embedded music decoded once into memory (8 s,
// 128 kB at 8 kHz), looped without decoding again: see decodeLoop.
func openDefault() (audio.Source, error) {
	mp3, err := audio.NewMP3Source(defaultMP3)
	if err != nil {
		return nil, fmt.Errorf("embedded music: %w", err)
	}
	defer mp3.Close()
	pcm, err := decodeLoop(mp3, int(time.Minute*playlistRate/time.Second))
	if err != nil {
		return nil, fmt.Errorf("embedded music: %w", err)
	}
	return &playlist{tracks: [][]int16{pcm}, order: []int{0}}, nil
}

// checkName accepts the characters of RFC 3261 "unreserved" that need no
// escaping in a SIP user part, minus those with other uses.
func checkName(name string) error {
	if name == "" {
		return errors.New("holdmusic: empty source name")
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9',
			r == '-', r == '.', r == '_', r == '~':
		default:
			return fmt.Errorf("holdmusic: source name %q: use only letters, digits, '-', '.', '_' and '~'", name)
		}
	}
	return nil
}

// Player returns the shared player of the source called name, or of the
// default source if name is empty, and whether there is one. The player
// belongs to the Service: attach and detach sessions (or pass it to
// endpoint.Call.HoldWithMusic), but do not Start, Stop, Pause or Close it.
// After Close it is closed and plays nothing.
func (s *Service) Player(name string) (*audio.Player, bool) {
	c := s.cat.Load()
	if name == "" {
		name = c.def
	}
	p, ok := c.players[name]
	return p, ok
}

// Names returns the names of the sources, sorted.
func (s *Service) Names() []string { return slices.Clone(s.cat.Load().names) }

// Default returns the name of the default source.
func (s *Service) Default() string { return s.cat.Load().def }

// Close takes the Service off the dial plan, ends the calls the handler is
// serving (which hangs them up), waits for their handlers to return, and
// closes every player. It is idempotent
// and safe for concurrent use; later calls to the handler are declined
// with 503 Service Unavailable.
func (s *Service) Close() error {
	s.closeOnce.Do(func() {
		for _, ep := range s.eps {
			_ = ep.Close()
		}
		s.calls.Close()
		s.mu.Lock()
		s.closed = true
		retired := s.retired
		s.retired = nil
		s.mu.Unlock()
		var errs []error
		c := s.cat.Load()
		for _, name := range c.names {
			if err := c.players[name].Close(); err != nil {
				errs = append(errs, fmt.Errorf("holdmusic: source %q: %w", name, err))
			}
		}
		for _, p := range retired {
			_ = p.Close()
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}
