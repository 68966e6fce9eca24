package conference

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/serial"
	"github.com/switchboard-sip/switchboard/media"
	"github.com/switchboard-sip/switchboard/platform"
)

// JoinHeader carries an application's join options on its INVITE to a
// conference ("trusted"). It only asks: whether a join is trusted is
// decided by where the INVITE comes from, never by this header alone.
const JoinHeader = "X-Switchboard-Join"

// Config configures a Service. The zero value is valid.
type Config struct {
	// Prefix is the user-part prefix of conference URIs. Default "conf-".
	Prefix string `yaml:"prefix"`
	// AdHoc lets a call to sip:<prefix><id>@host create the conference
	// when it does not exist. Default false: unknown conferences get 404.
	AdHoc bool `yaml:"ad_hoc"`
	// MaxParticipants bounds ordinary participants per conference
	// (trusted ones are not counted). Default 100.
	MaxParticipants int `yaml:"max_participants"`
	// TrustedOnlyGrace is how long trusted participants may stay once the
	// last ordinary participant has left. Default 30s.
	TrustedOnlyGrace time.Duration `yaml:"trusted_only_grace"`
	// Jitter configures each participant's jitter buffer.
	Jitter media.JitterConfig `yaml:"jitter"`
	// Codecs lists the audio formats participants' calls are offered and
	// accept, in order of preference: any of "PCMU", "PCMA", "G722"
	// (wideband, 16 kHz audio), "CN" (RFC 3389 comfort noise) and
	// "telephone-event" (see endpoint.Settings.Codecs). Default: PCMU,
	// PCMA, telephone-event. With G722 listed first, wideband phones join
	// on G.722 and the conference mixes at 16 kHz while one of them is in
	// it (see mix.Mixer); G.711 phones keep their 8 kHz. An unknown name
	// is an error at start-up.
	Codecs []string `yaml:"codecs"`
	// RTPTimeout removes a participant whose RTP stopped for this long
	// (it vanished without BYE). Default: the platform's call default
	// (platform.WithCallDefaults: the server's calls.rtp_timeout), else
	// 60s; negative disables it.
	RTPTimeout time.Duration `yaml:"rtp_timeout"`
}

// Option configures a Service.
type Option func(*Service)

// WithLogger sets the logger (default: the platform's).
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// Service hosts the conferences of a platform. Its methods are safe for
// concurrent use.
type Service struct {
	p   *platform.Platform
	cfg Config
	log *slog.Logger
	ep  *endpoint.Endpoint
	dir Directory // nil: conferences are this node's alone (directory.go)

	mu     sync.Mutex
	confs  map[string]*Conference
	closed bool

	onCreated serial.Handlers[*Conference]
}

// OnCreated adds a handler of conferences as they are created (by Create
// or by an ad hoc call) and returns its remove function. Handlers run in
// the order added, on the creating goroutine, before the first participant
// joins; they must not block (a recording bot joins from a goroutine of
// its own).
func (s *Service) OnCreated(f func(*Conference)) (remove func()) {
	return s.onCreated.Add(f)
}

// Errors of the service.
var (
	ErrExists   = errors.New("conference: already exists")
	ErrNotFound = errors.New("conference: not found")
	ErrClosed   = errors.New("conference: service closed")
)

// New creates the conference service, routes sip:<prefix>*@host on p to
// it and registers it with p, which closes it on Shutdown or Close.
func New(p *platform.Platform, cfg Config, opts ...Option) (*Service, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = "conf-"
	}
	if cfg.MaxParticipants == 0 {
		cfg.MaxParticipants = 100
	}
	if cfg.TrustedOnlyGrace == 0 {
		cfg.TrustedOnlyGrace = 30 * time.Second
	}
	if cfg.RTPTimeout == 0 {
		cfg.RTPTimeout = p.CallDefaults().RTPTimeout
	}
	if cfg.RTPTimeout == 0 {
		cfg.RTPTimeout = 60 * time.Second
	}
	s := &Service{p: p, cfg: cfg, confs: map[string]*Conference{}}
	for _, o := range opts {
		o(s)
	}
	if s.log == nil {
		s.log = p.Logger().With("subsystem", "conference")
	}
	ep, err := endpoint.NewApplication(p, endpoint.Settings{
		OwnerURI: "sip:" + cfg.Prefix + "@" + p.Host(), Prefix: true, DisplayName: "Conference",
		RTPTimeout: cfg.RTPTimeout, // muting is done here: muted phones still send RTP
		Codecs:     cfg.Codecs,
	})
	if err != nil {
		return nil, fmt.Errorf("conference: %w", err)
	}
	s.ep = ep
	ep.HandleCalls(endpoint.HandlerFunc(s.serveCall))
	ep.HandleOther(platform.HandlerFunc(s.serveOther))
	if err := p.Register(s); err != nil {
		return nil, fmt.Errorf("conference: %w", err)
	}
	return s, nil
}

// Options are per-conference settings.
type Options struct {
	Subject string
	// Locked conferences refuse new ordinary participants.
	Locked bool
	// MaxParticipants overrides Config.MaxParticipants.
	MaxParticipants int
	// Persistent keeps the conference when its last ordinary participant
	// leaves (a standing meeting room); it then ends only with End or the
	// service's Close. By default a conference ends when its last ordinary
	// participant leaves, or after Config.TrustedOnlyGrace with only
	// trusted participants left.
	Persistent bool
}

// Create creates conference id (letters, digits, '-', '_', '.').
func (s *Service) Create(id string, opts Options) (*Conference, error) {
	if id == "" || strings.IndexFunc(id, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	}) >= 0 {
		return nil, fmt.Errorf("conference: invalid id %q", id)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	if _, ok := s.confs[id]; ok {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrExists, id)
	}
	c := newConference(s, id, opts)
	s.confs[id] = c
	s.mu.Unlock()
	s.log.Info("conference created", "conference", id)
	s.onCreated.Run(c)
	return c, nil
}

// Conference returns conference id.
func (s *Service) Conference(id string) (*Conference, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.confs[id]
	return c, ok
}

// Conferences lists the live conferences.
func (s *Service) Conferences() []*Conference {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Conference, 0, len(s.confs))
	for _, c := range s.confs {
		out = append(out, c)
	}
	return out
}

func (s *Service) forget(c *Conference) {
	s.mu.Lock()
	gone := s.confs[c.id] == c
	if gone {
		delete(s.confs, c.id)
	}
	s.mu.Unlock()
	if gone {
		s.unpin(c.id)
	}
}

// Close ends every conference (participants get BYE) and removes the
// service's route. It is idempotent.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	confs := make([]*Conference, 0, len(s.confs))
	for _, c := range s.confs {
		confs = append(confs, c)
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, c := range confs {
		c.End(ctx)
	}
	return s.ep.Close()
}

// lookup finds (or, with AdHoc, creates) the conference a Request-URI
// names.
func (s *Service) lookup(u sip.Uri, create bool) (*Conference, bool) {
	id := strings.TrimPrefix(u.User, s.cfg.Prefix)
	if c, ok := s.Conference(id); ok {
		return c, true
	}
	if !create || !s.cfg.AdHoc {
		return nil, false
	}
	c, err := s.Create(id, Options{})
	if errors.Is(err, ErrExists) {
		return s.Conference(id)
	}
	return c, err == nil
}

func (s *Service) serveCall(ctx context.Context, call *endpoint.Call) {
	if s.sendToOwner(ctx, call) {
		return
	}
	c, ok := s.lookup(call.Request().Recipient, true)
	if !ok {
		_ = call.DeclineWithReason(ctx, sip.StatusNotFound, "Conference Not Found")
		return
	}
	c.admit(ctx, call)
}

// serveOther takes SUBSCRIBE for the conference event package (RFC 4575).
func (s *Service) serveOther(r *platform.Request) {
	if r.Method != sip.SUBSCRIBE {
		_ = r.Respond(sip.StatusMethodNotAllowed, "Method Not Allowed", nil, sip.NewHeader("Allow", "INVITE, SUBSCRIBE"))
		return
	}
	if endpoint.EventPackage(r) != "conference" {
		_ = r.Respond(489, "Bad Event", nil, sip.NewHeader("Allow-Events", "conference"))
		return
	}
	c, ok := s.lookup(r.Recipient, false)
	if !ok {
		_ = r.Respond(sip.StatusNotFound, "Conference Not Found", nil)
		return
	}
	sub, err := endpoint.AcceptSubscription(s.p, r, endpoint.SubscribeOptions{ContactUser: r.Recipient.User})
	if err != nil && !errors.Is(err, endpoint.ErrUnsubscribed) {
		return
	}
	c.subscribe(sub, errors.Is(err, endpoint.ErrUnsubscribed))
}

// JoinOptions are an application's options for joining a conference.
type JoinOptions struct {
	// Trusted joins as a trusted participant: a hidden leader. Allowed only
	// from application endpoints (or trusted peers).
	Trusted bool
	// GeneratedIdentity gives the call a fresh hidden identity, so one
	// endpoint can hold many calls in one conference.
	GeneratedIdentity bool
	// Establish carries further establish options (credentials, headers,
	// timeouts). Its GeneratedIdentity must be left unset: the one above
	// is the only switch.
	Establish endpoint.EstablishOptions
}

// ErrJoinOptions is returned by Join when JoinOptions.Establish sets
// GeneratedIdentity: set JoinOptions.GeneratedIdentity instead.
var ErrJoinOptions = errors.New("conference: set JoinOptions.GeneratedIdentity, not JoinOptions.Establish.GeneratedIdentity")

// Join places a call from conv into the conference at confURI with the
// join options and returns it once the conference has answered. For a
// conference of this platform, Conference.Join also waits until the call is
// in the roster.
func Join(ctx context.Context, conv *endpoint.Conversation, confURI string, opts JoinOptions) (*endpoint.Call, error) {
	if opts.Establish.GeneratedIdentity {
		return nil, ErrJoinOptions
	}
	call := conv.NewCall()
	eo := opts.Establish
	eo.GeneratedIdentity = opts.GeneratedIdentity
	if opts.Trusted {
		eo.Headers = append(append([]endpoint.Header(nil), eo.Headers...), endpoint.Header{Name: JoinHeader, Value: "trusted"})
	}
	if err := call.Establish(ctx, confURI, eo); err != nil {
		return call, err
	}
	return call, nil
}
