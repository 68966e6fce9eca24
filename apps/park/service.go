package park

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-sip/switchboard/b2b"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/callsession"
	"github.com/switchboard-sip/switchboard/internal/serial"
	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/platform"
)

//go:embed prompts/*.wav
var prompts embed.FS

// Config configures the park service. The zero value is valid.
type Config struct {
	// User is the park address's user part: sip:<user>@host parks,
	// sip:<user>-<orbit>@host parks on that orbit, and
	// sip:<user>-retrieve-<token>@host retrieves safely. Default "park".
	User string `yaml:"user"`
	// Orbits are the orbit ranges. Default 7000–7099.
	Orbits []OrbitRange `yaml:"orbits"`
	// Allocation picks orbits for non-directed parks: "first-free"
	// (default) or "next".
	Allocation Allocation `yaml:"allocation"`
	// PickupTimeout is how long a call waits before the parker is rung
	// back. Default 90s; allowed 10s–10m.
	PickupTimeout time.Duration `yaml:"pickup_timeout"`
	// MaxAttempts is how many times the parker is rung back. Default 1;
	// allowed 1–10.
	MaxAttempts int `yaml:"max_attempts"`
	// RingTime is how long each ring-back (and the fallback call) rings.
	// Default 30s.
	RingTime time.Duration `yaml:"ring_time"`
	// FallbackURI is called when the parker does not answer; empty means
	// disconnect.
	FallbackURI string `yaml:"fallback_uri"`
	// InternalDomains are the From hosts allowed to retrieve by orbit, and
	// the hosts a parker (Referred-By, else From) may be in to be rung
	// back and told. Either is believed only from a trusted peer
	// (platform.Config.TrustedPeers) or a local application: from any
	// other source retrieval by orbit gets 403 and nobody is rung back.
	// Default: the platform's host, 127.0.0.1 and localhost.
	InternalDomains []string `yaml:"internal_domains"`
	// Announce plays "parked on orbit <digits>" to a parker who calls the
	// park address (attended park). Default true.
	Announce *bool `yaml:"announce"`
	// MaxPerSource caps the calls parked at once from one source address
	// (the parked call's, by park address, blind transfer or directed
	// park) that no trusted peer or local application vouches for, so
	// that a stranger cannot fill the orbit pool: a park over the cap
	// gets 486 Too Many Parks. A digest-authenticated user counts against
	// its source too. Default 4; negative disables.
	MaxPerSource int `yaml:"max_per_source"`
}

// Clock is the time source of park timeouts (tests use a fake one).
type Clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a stoppable timer.
type Timer interface{ Stop() bool }

type realClock struct{}

func (realClock) Now() time.Time                            { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// MusicSource gives the player the parked parties hear (nil: silence).
type MusicSource interface {
	Player(name string) (*audio.Player, bool)
}

// Option configures a Service.
type Option func(*Service)

// WithStore sets the park store (default: in memory).
func WithStore(s Store) Option { return func(p *Service) { p.store = s } }

// WithClock sets the clock of the pickup timeout.
func WithClock(c Clock) Option { return func(p *Service) { p.clock = c } }

// WithMusic sets where music on hold comes from, and the source name.
func WithMusic(m MusicSource, name string) Option {
	return func(p *Service) { p.music, p.musicName = m, name }
}

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(p *Service) { p.log = l } }

// EventType names park events.
type EventType string

// Park events.
const (
	Parked       EventType = "parked"
	Retrieved    EventType = "retrieved"
	Abandoned    EventType = "abandoned" // the parked party hung up
	TimedOut     EventType = "timed out"
	RingBack     EventType = "ring back"
	Fallback     EventType = "fallback"
	Disconnected EventType = "disconnected"
)

// Event reports what happened to a parked call.
type Event struct {
	Type  EventType
	Entry Entry
	By    string // who retrieved, when known
}

// Errors of the API.
var (
	ErrNotEstablished = errors.New("park: only an established call can be parked")
	ErrNoAudio        = errors.New("park: the call has no audio to park")
	// ErrConferenceLeg refuses to park a call into or of a conference of
	// this platform: as in Lync Server, conferences cannot be parked.
	// Take the participant out of the conference (transfer it) first.
	ErrConferenceLeg = errors.New("park: a conference leg cannot be parked")
	// ErrDirectedParkForbidden refuses a directed park (a chosen orbit)
	// from a sender whose identity is unknown: neither a trusted peer, a
	// local application nor an authenticated user.
	ErrDirectedParkForbidden = errors.New("park: directed park needs an identity")
	// ErrTooManyParks refuses a park from a source address that already
	// has Config.MaxPerSource calls parked.
	ErrTooManyParks = errors.New("park: too many parks from this source")
	// ErrRetrieveForbidden refuses a retrieval by orbit from a caller
	// whose identity is not vouched for as internal (seed 004: federated
	// users cannot retrieve).
	ErrRetrieveForbidden = errors.New("park: federated users cannot retrieve")
)

// ParkState is the state of an API park (Park), as in the UCMA/Lync
// model: Parking while the service looks for an orbit, then Parked or
// ParkFailed.
type ParkState string

// Park states.
const (
	StateParking    ParkState = "parking"
	StateParked     ParkState = "parked"
	StateParkFailed ParkState = "park failed"
)

// ParkStateChange reports a step of an API park.
type ParkStateChange struct {
	State ParkState
	// Orbit and SafeRetrieveURI are set in StateParked: the friendly
	// orbit anyone allowed may dial, and the URI that retrieves only this
	// park (the parker's own).
	Orbit           string
	SafeRetrieveURI string
	// Err says why, in StateParkFailed.
	Err error
}

// Service is the park service. Its methods are safe for concurrent use;
// OnEvent handlers run on a goroutine of the service, one at a time.
type Service struct {
	p         *platform.Platform
	cfg       Config
	store     Store
	clock     Clock
	music     MusicSource
	musicName string
	log       *slog.Logger
	eps       []*endpoint.Endpoint
	ringer    *endpoint.Endpoint
	timers    atomic.Pointer[Timers] // for new parks (SetTimers)

	mu      sync.Mutex
	parked  map[string]*parkedCall   // by token
	pending map[string]string        // self-parked calls a Replaces may take over: Call-ID -> token
	subs    map[string][]*blfSub     // busy lamps, by orbit
	lamps   map[string]*serial.Queue // busy-lamp NOTIFYs, in order, by orbit
	onEvent serial.Handlers[Event]
	// bySource counts the parks held against Config.MaxPerSource, by
	// source address (reserveSource).
	bySource map[netip.Addr]int
	// unwatch removes the orbit-change handler of a SharedStore.
	unwatch func()
	events  chan Event
	closed  bool
	done    chan struct{}
	wg      sync.WaitGroup
}

type parkedCall struct {
	entry    Entry
	call     *endpoint.Call
	timer    Timer
	attempts int
	timers   Timers // as they were when it was parked
	busy     bool   // a ring-back or fallback is in progress
	claimed  bool   // forgotten: retrieved, replaced or ended (s.mu)
	// stopAnnounce ends the orbit announcement of a self-park.
	stopAnnounce context.CancelFunc
	// release gives back the park's place under Config.MaxPerSource
	// (nil: it holds none); forget calls it.
	release func()
}

type blfSub struct {
	sub     *endpoint.Subscription
	version int // of the next NOTIFY; only the orbit's lamp queue touches it
}

// New validates cfg, builds the service, routes the park address, the
// directed and safe addresses and the orbits on p to it, and registers it
// with p, which closes it on Shutdown or Close.
func New(p *platform.Platform, cfg Config, opts ...Option) (*Service, error) {
	if cfg.User == "" {
		cfg.User = "park"
	}
	if len(cfg.Orbits) == 0 {
		cfg.Orbits = []OrbitRange{{Start: "7000", End: "7099"}}
	}
	if cfg.Allocation == "" {
		cfg.Allocation = FirstFree
	}
	if cfg.MaxPerSource == 0 {
		cfg.MaxPerSource = 4
	}
	if cfg.Allocation != FirstFree && cfg.Allocation != NextFree {
		return nil, fmt.Errorf("park: allocation %q: want first-free or next", cfg.Allocation)
	}
	timers, err := TimersOf(cfg).check()
	if err != nil {
		return nil, err
	}
	cfg.PickupTimeout, cfg.MaxAttempts, cfg.RingTime = timers.PickupTimeout, timers.MaxAttempts, timers.RingTime
	if len(cfg.InternalDomains) == 0 {
		cfg.InternalDomains = []string{p.Host(), "127.0.0.1", "localhost"}
	}
	s := &Service{p: p, cfg: cfg, clock: realClock{}, parked: map[string]*parkedCall{},
		pending: map[string]string{}, subs: map[string][]*blfSub{}, lamps: map[string]*serial.Queue{}, bySource: map[netip.Addr]int{},
		events: make(chan Event, 256), done: make(chan struct{})}
	s.timers.Store(&timers)
	for _, o := range opts {
		o(s)
	}
	if s.log == nil {
		s.log = p.Logger().With("subsystem", "park")
	}
	if s.store == nil {
		st, err := NewMemoryStore(cfg.Orbits, cfg.Allocation)
		if err != nil {
			return nil, err
		}
		s.store = st
	} else if err := ValidateRanges(cfg.Orbits); err != nil {
		return nil, err
	}
	s.wg.Go(s.runEvents)
	if ss, ok := s.store.(SharedStore); ok {
		s.unwatch = ss.OnOrbitChange(s.orbitChanged)
	}
	if err := s.register(); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("park: %w", err)
	}
	if err := p.Register(s); err != nil {
		return nil, fmt.Errorf("park: %w", err)
	}
	return s, nil
}

// register routes the park address, the directed/safe addresses and the
// orbits to the service.
func (s *Service) register() error {
	host := s.p.Host()
	add := func(st endpoint.Settings, h endpoint.Handler, other platform.Handler) error {
		if st.RTPTimeout = s.p.CallDefaults().RTPTimeout; st.RTPTimeout == 0 {
			st.RTPTimeout = 60 * time.Second // unless the server says otherwise (calls.rtp_timeout)
		}
		ep, err := endpoint.NewApplication(s.p, st)
		if err != nil {
			return err
		}
		ep.HandleCalls(h)
		if other != nil {
			ep.HandleOther(other)
		}
		s.eps = append(s.eps, ep)
		return nil
	}
	if err := add(endpoint.Settings{OwnerURI: "sip:" + s.cfg.User + "@" + host, DisplayName: "Call Park"},
		endpoint.HandlerFunc(s.serveParkAddress), platform.HandlerFunc(s.serveParkOther)); err != nil {
		return err
	}
	s.ringer = s.eps[0]
	if err := add(endpoint.Settings{OwnerURI: "sip:" + s.cfg.User + "-@" + host, Prefix: true},
		endpoint.HandlerFunc(s.serveParkPrefix), nil); err != nil {
		return err
	}
	for _, prefix := range orbitPrefixes(s.cfg.Orbits) {
		if err := add(endpoint.Settings{OwnerURI: "sip:" + prefix + "@" + host, Prefix: true},
			endpoint.HandlerFunc(s.serveOrbit), platform.HandlerFunc(s.serveOrbitOther)); err != nil {
			return err
		}
	}
	return nil
}

// orbitPrefixes returns the user-part prefixes that route orbits to the
// service: per range, the common leading digits of its start and end, or,
// when even the first digits differ, each first digit in between.
func orbitPrefixes(r []OrbitRange) []string {
	var out []string
	for _, o := range r {
		n := 0
		for n < len(o.Start) && o.Start[n] == o.End[n] {
			n++
		}
		if n > 0 {
			out = append(out, o.Start[:n])
			continue
		}
		for d := o.Start[0]; d <= o.End[0]; d++ {
			out = append(out, string(d))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// OnEvent adds a park event handler and returns the function that removes
// it. Every handler added runs, in the order added, on the service's event
// goroutine, one event at a time, never under a lock; it must not block
// (events that arrive while the queue is full are dropped). Remove is
// idempotent and safe inside a handler.
func (s *Service) OnEvent(f func(Event)) (remove func()) {
	return s.onEvent.Add(f)
}

func (s *Service) emit(e Event) {
	s.log.Info("park event", "event", string(e.Type), "orbit", e.Entry.Orbit, "parker", e.Entry.Parker, "parked", e.Entry.Parked)
	select {
	case s.events <- e:
	default:
	}
}

func (s *Service) runEvents() {
	for {
		select {
		case e := <-s.events:
			s.onEvent.Run(e)
		case <-s.done:
			return
		}
	}
}

// List returns the parked calls (orbit, parker, parked party, since).
func (s *Service) List() []Entry { return s.store.List() }

// SafeRetrieveURI returns the URI that retrieves exactly this park.
func (s *Service) SafeRetrieveURI(e Entry) string {
	return "sip:" + s.cfg.User + "-retrieve-" + e.Token + "@" + s.p.URIHost()
}

// OrbitURI returns the friendly orbit's URI.
func (s *Service) OrbitURI(orbit string) string { return "sip:" + orbit + "@" + s.p.URIHost() }

// URI returns the park address (sip:park@host:port).
func (s *Service) URI() string { return "sip:" + s.cfg.User + "@" + s.p.URIHost() }

// ParkOptions are the options of an API park.
type ParkOptions struct {
	// Orbit asks for a directed park on this orbit.
	Orbit string
	// Parker is who parks (rung back on timeout). Default: the call's
	// local URI.
	Parker string
	// OnState, when set, is told each step of the park in order:
	// StateParking, then StateParked (with the orbit) or StateParkFailed
	// (the call then stays connected and the caller keeps it). It runs on
	// the goroutine that called Park, before Park returns, and must not
	// block.
	OnState func(ParkStateChange)
}

// CanPark reports whether call can be parked now: nil when it can, else
// why not: ErrNotEstablished (not established), ErrNoAudio (no media),
// ErrConferenceLeg (a call into a conference of this platform, or a
// conference's own leg).
func (s *Service) CanPark(call *endpoint.Call) error {
	switch {
	case call == nil || call.State() != endpoint.StateEstablished:
		return ErrNotEstablished
	case call.Flow() == nil:
		return ErrNoAudio
	case conferenceLeg(call):
		return ErrConferenceLeg
	}
	return nil
}

// conferenceLeg reports whether call is a conference participant's leg
// on this platform: the conference offers to splice media on its side of
// the dialog (see internal/callsession).
func conferenceLeg(call *endpoint.Call) bool {
	if callsession.SpliceOf == nil || callsession.LocalPeer == nil {
		return false
	}
	if callsession.SpliceOf(call) != nil {
		return true
	}
	peer := callsession.LocalPeer(call)
	return peer != nil && callsession.SpliceOf(peer) != nil
}

// Park parks an established call that terminates on this platform: the
// service takes it over, plays music to it and returns its orbit. The
// caller must no longer use the call.
//
// Park refuses what CanPark refuses, before any state change.
func (s *Service) Park(ctx context.Context, call *endpoint.Call, opts ParkOptions) (Entry, error) {
	if err := s.CanPark(call); err != nil {
		if errors.Is(err, ErrNoAudio) {
			err = fmt.Errorf("%w: %w", ErrNotEstablished, err)
		}
		return Entry{}, err
	}
	state := func(sc ParkStateChange) {
		if opts.OnState != nil {
			opts.OnState(sc)
		}
	}
	state(ParkStateChange{State: StateParking})
	fail := func(err error) (Entry, error) {
		state(ParkStateChange{State: StateParkFailed, Err: err})
		return Entry{}, err
	}
	if opts.Orbit != "" {
		o, ok := ParseOrbit(s.cfg.Orbits, opts.Orbit)
		if !ok {
			return fail(fmt.Errorf("%w: %q", ErrNoSuchOrbit, opts.Orbit))
		}
		opts.Orbit = o
	}
	parker := opts.Parker
	if parker == "" {
		parker = call.LocalURI()
	}
	if err := call.BeginPark(); err != nil {
		return fail(ErrNotEstablished)
	}
	call.HandOff()
	e, err := s.hold(call, opts.Orbit, parker)
	if err != nil {
		return fail(err)
	}
	state(ParkStateChange{State: StateParked, Orbit: e.Orbit, SafeRetrieveURI: s.SafeRetrieveURI(e)})
	return e, nil
}

// hold parks an established call in state Parking: orbit, music, timers,
// lamps.
func (s *Service) hold(call *endpoint.Call, directed, parker string) (Entry, error) {
	e, err := s.store.Allocate(directed, Entry{CallID: call.CallID(), Parker: parker, Parked: call.RemoteURI(), Since: s.clock.Now()})
	if err != nil {
		call.EndPark(err)
		return Entry{}, err
	}
	s.adopt(call, e, nil, false, nil)
	return e, nil
}

// adopt plays music to a parked call (in state Parking) and watches it.
// With an announcement (a self-park), the call hears it first, then the
// music; replaceable makes the call one that an INVITE with Replaces may
// take over (completeAttended).
func (s *Service) adopt(call *endpoint.Call, e Entry, announce []int16, replaceable bool, release func()) {
	// Established again, reason "call parked", before a retriever can
	// find the call (b2b wants an established leg).
	call.EndPark(nil)
	pc := &parkedCall{entry: e, call: call, timers: s.Timers(), release: release}
	actx, stop := context.WithCancel(call.Context())
	pc.stopAnnounce = stop
	s.mu.Lock()
	s.parked[e.Token] = pc
	if replaceable {
		s.pending[e.CallID] = e.Token
	}
	pc.timer = s.clock.AfterFunc(pc.timers.PickupTimeout, func() { s.timeout(e.Token) })
	s.mu.Unlock()
	s.emit(Event{Type: Parked, Entry: e})
	if len(announce) == 0 {
		stop()
		s.startMusic(pc)
	} else {
		s.wg.Go(func() {
			defer stop()
			_ = call.Flow().Play(actx, announce)
			s.startMusic(pc)
		})
	}
	s.lamp(e.Orbit, nil)
	s.wg.Go(func() {
		select {
		case <-call.Done():
		case <-s.done:
			return
		}
		// The parked party hung up (or the call ended otherwise): free the
		// orbit if it is still this park's.
		if s.store.Release(e.Orbit, e.Token) {
			s.forget(e.Token)
			s.emit(Event{Type: Abandoned, Entry: e})
			s.lamp(e.Orbit, nil)
		}
	})
}

// startMusic starts the music of a parked call unless it has been claimed
// since: under s.mu, so that a retrieval (forget, then Detach) never sees
// the music start after its Detach.
func (s *Service) startMusic(pc *parkedCall) {
	m := s.player()
	if m == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !pc.claimed {
		m.Attach(pc.call.Flow())
	}
}

func (s *Service) player() *audio.Player {
	if s.music == nil {
		return nil
	}
	p, _ := s.music.Player(s.musicName)
	return p
}

func (s *Service) forget(token string) *parkedCall {
	pc := s.unregister(token)
	if pc != nil && pc.release != nil {
		pc.release() // takes s.mu
	}
	return pc
}

func (s *Service) unregister(token string) *parkedCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	pc := s.parked[token]
	delete(s.parked, token)
	if pc == nil {
		return nil
	}
	pc.claimed = true
	if s.pending[pc.entry.CallID] == token {
		delete(s.pending, pc.entry.CallID)
	}
	if pc.timer != nil {
		pc.timer.Stop()
	}
	if pc.stopAnnounce != nil {
		pc.stopAnnounce()
	}
	return pc
}

// identified reports whether who sent c is known: a trusted peer or a
// local application vouches for it, or it authenticated (digest). Only
// then may it choose an orbit (directed park): a stranger could
// otherwise probe which orbits are occupied by the answers (486 Orbit
// Busy against a park), and take the ones it likes.
func identified(c *endpoint.Call) bool { return vouched(c) || c.Identity().Known() }

// reserveSource counts one more park from c's source address against
// Config.MaxPerSource and returns the function that gives the place back,
// or ErrTooManyParks. Calls vouched for (a trusted peer carries everyone's
// calls, a local application is ours) are not counted: release is nil.
func (s *Service) reserveSource(c *endpoint.Call) (release func(), err error) {
	if s.cfg.MaxPerSource < 0 || vouched(c) {
		return nil, nil
	}
	ap, perr := netip.ParseAddrPort(sourceOf(c))
	if perr != nil {
		return nil, nil
	}
	src := ap.Addr().Unmap()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bySource[src] >= s.cfg.MaxPerSource {
		return nil, ErrTooManyParks
	}
	s.bySource[src]++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.bySource[src]--; s.bySource[src] <= 0 {
				delete(s.bySource, src)
			}
		})
	}, nil
}

// connect hands a claimed parked call to whoever retrieves it: music off,
// media relayed between the two calls until either hangs up.
func (s *Service) connect(ctx context.Context, to *endpoint.Call, pc *parkedCall, by string) error {
	if m := s.player(); m != nil {
		m.Detach(pc.call.Flow())
	}
	b, err := b2b.New(b2b.Leg{Call: to}, b2b.Leg{Call: pc.call}, b2b.Options{TransferInProcess: s.TransferInProcess})
	if err == nil {
		err = b.Establish(ctx)
	}
	s.lamp(pc.entry.Orbit, nil)
	if err != nil {
		_ = pc.call.Terminate(context.WithoutCancel(ctx))
		return err
	}
	s.emit(Event{Type: Retrieved, Entry: pc.entry, By: by})
	return nil
}

// TransferInProcess is a b2b.Options.TransferInProcess for calls of this
// platform: a REFER without Replaces to this service's park address
// (sip:park@ or directed, sip:park-<orbit>@) on this platform parks the
// transferee directly, as Park does, instead of through a call to the
// park address. The parker is the referrer (its Referred-By, else its
// caller), believed as parkerOf believes an arriving call's. A refused
// park reaches the referrer as its NOTIFY's status (486 No Free Orbit),
// and the transferee stays connected to it. Any other REFER is left to
// the caller (nil).
func (s *Service) TransferInProcess(tr *endpoint.TransferRequest, referrer *endpoint.Call) func(context.Context, *endpoint.Call) error {
	u, err := endpoint.ParseURI(tr.Target)
	if err != nil || tr.Replaces != "" || !s.p.IsLocalURI(u) {
		return nil
	}
	directed := ""
	if u.User != s.cfg.User {
		rest, ok := strings.CutPrefix(u.User, s.cfg.User+"-")
		if !ok {
			return nil
		}
		if directed, ok = ParseOrbit(s.cfg.Orbits, rest); !ok {
			return nil // the park address answers 404 No Such Orbit
		}
	}
	claim := tr.ReferredBy
	if claim != "" {
		claim = uriOf(claim)
	} else {
		claim = referrer.RemoteURI()
	}
	parker := s.believe(referrer, claim)
	if directed != "" && !identified(referrer) {
		return func(context.Context, *endpoint.Call) error {
			s.log.Info("park: directed park refused", "orbit", directed, "referrer", referrer.RemoteURI(), "reason", "sender unknown")
			code, reason := refusal(ErrDirectedParkForbidden)
			return &endpoint.ResponseError{Code: code, Reason: reason}
		}
	}
	return func(ctx context.Context, transferee *endpoint.Call) error {
		e, err := s.Park(ctx, transferee, ParkOptions{Orbit: directed, Parker: parker})
		if err != nil {
			code, reason := refusal(err)
			if errors.Is(err, ErrNotEstablished) || errors.Is(err, ErrConferenceLeg) {
				code, reason = sip.StatusServiceUnavailable, "Cannot Park This Call"
			}
			s.log.Info("park: transfer to park refused", "referrer", referrer.RemoteURI(), "transferee", transferee.RemoteURI(), "error", err)
			return &endpoint.ResponseError{Code: code, Reason: reason}
		}
		s.log.Info("park: parked by transfer", "orbit", e.Orbit, "parked", e.Parked, "parker", parker, "referrer", referrer.RemoteURI(), "in_process", true)
		return nil
	}
}

// retrieve claims an orbit (token: safe retrieve) for an incoming call.
func (s *Service) retrieve(ctx context.Context, c *endpoint.Call, orbit, token string) {
	pc, err := s.take(c, orbit, token)
	if err != nil {
		var ew *ElsewhereError
		switch {
		case errors.As(err, &ew):
			s.bridge(ctx, c, ew, token)
		case errors.Is(err, ErrSafeRetrieve):
			_ = c.DeclineWithReason(ctx, sip.StatusNotFound, "Safe Retrieve Failed")
		case errors.Is(err, ErrStoreUnavailable):
			_ = c.DeclineWithReason(ctx, sip.StatusServiceUnavailable, "Park Store Unavailable")
		default:
			_ = c.DeclineWithReason(ctx, sip.StatusNotFound, "Orbit Empty")
		}
		return
	}
	if err := s.connect(ctx, c, pc, c.RemoteURI()); err != nil {
		s.log.Warn("retrieve failed", "orbit", orbit, "error", err)
		return
	}
	c.HandOff()
}

// take claims orbit (token: safe retrieve) for retriever c and takes the
// parked call out of the service's hands, logging who took it from where.
// A claim whose call is already gone is ErrOrbitEmpty.
func (s *Service) take(c *endpoint.Call, orbit, token string) (*parkedCall, error) {
	e, err := s.claim(orbit, token)
	if err != nil {
		return nil, err
	}
	pc := s.forget(e.Token)
	if pc == nil {
		return nil, ErrOrbitEmpty
	}
	s.log.Info("park: retrieved", "orbit", orbit, "by", c.RemoteURI(), "source", sourceOf(c),
		"trusted_source", vouched(c), "identity", c.Identity().URI, "identity_by", string(c.Identity().By), "safe_retrieve", token != "")
	return pc, nil
}

// Retrieve connects call, an answered call of this platform (an IVR's
// caller, a bot's), to the call parked on orbit, in process: one relay
// between the two calls' sessions, no SIP dialog to the park address.
// The retrieval rule is the one a phone dialling the orbit meets, applied
// to call's own caller: its source must vouch for an internal From
// (ErrRetrieveForbidden otherwise), so an app in front of park does not
// lend its trust to whoever called it. An empty orbit is ErrOrbitEmpty; an
// orbit held by another node is an *ElsewhereError (dial the orbit URI
// instead: the park address bridges to the owner). On success the two
// calls are connected until either hangs up: the caller's handler should
// HandOff the call and return.
func (s *Service) Retrieve(ctx context.Context, call *endpoint.Call, orbit string) error {
	if _, ok := ParseOrbit(s.cfg.Orbits, orbit); !ok {
		return ErrNoSuchOrbit
	}
	if !s.internal(call) {
		s.log.Info("park: retrieval refused", "orbit", orbit, "from", call.RemoteURI(),
			"source", sourceOf(call), "identity", call.Identity().URI, "identity_by", string(call.Identity().By), "via", "api")
		return ErrRetrieveForbidden
	}
	pc, err := s.take(call, orbit, "")
	if err != nil {
		return err
	}
	return s.connect(ctx, call, pc, call.RemoteURI())
}

// vouched reports whether what c's INVITE claims about its sender (From,
// Referred-By) can be believed: it came from a trusted peer (a proxy or
// PBX in Config.TrustedPeers, or a trusted TLS certificate) or from an
// application endpoint of this platform. A header from anyone else is a
// claim, never a credential.
func vouched(c *endpoint.Call) bool { return c.FromTrustedPeer() || c.FromLocalApplication() }

// sourceOf is the address an incoming call came from, for logs; "" for a
// call this platform placed (a referrer on a leg we dialled).
func sourceOf(c *endpoint.Call) string {
	if r := c.Request(); r != nil {
		return r.Source()
	}
	return ""
}

// internalHost reports whether host is one of the internal domains.
func (s *Service) internalHost(host string) bool {
	for _, d := range s.cfg.InternalDomains {
		if strings.EqualFold(d, host) {
			return true
		}
	}
	return false
}

// internal reports whether a retriever may retrieve by orbit: its
// identity (endpoint.Call.Identity: a local application, a trusted peer's
// assertion, or a user authenticated by digest) is in an internal domain.
// A caller whose identity is unknown counts as federated, whatever its
// From says.
func (s *Service) internal(c *endpoint.Call) bool {
	id := c.Identity()
	if !id.Known() {
		return false
	}
	u, err := endpoint.ParseURI(id.URI)
	return err == nil && s.internalHost(u.Host)
}

// parkerOf returns the parker of an arriving call, the identity rung back
// and told by MESSAGE when nobody retrieves: Referred-By (or, without it,
// From), accepted only when the source vouches for it and it names an
// internal domain. Otherwise it is "", and nobody is rung back: a stranger
// must not make the server call or message whatever URI it names.
func (s *Service) parkerOf(c *endpoint.Call) string {
	claim := referredBy(c)
	if claim == "" {
		claim = c.RemoteURI()
	}
	return s.believe(c, claim)
}

// believe returns claim, a parker URI that c names, when c's source
// vouches for it and it is in an internal domain; else "".
func (s *Service) believe(c *endpoint.Call, claim string) string {
	u, err := endpoint.ParseURI(claim)
	if err != nil || !vouched(c) || !s.internalHost(u.Host) {
		s.log.Info("park: parker identity not accepted; no ring-back", "claimed", claim,
			"source", sourceOf(c), "trusted_source", vouched(c))
		return ""
	}
	return claim
}

// serveOrbit handles an INVITE to sip:<orbit>@host: retrieval.
func (s *Service) serveOrbit(ctx context.Context, c *endpoint.Call) {
	orbit, ok := ParseOrbit(s.cfg.Orbits, c.Request().Recipient.User)
	if !ok {
		_ = c.DeclineWithReason(ctx, sip.StatusNotFound, "No Such Orbit")
		return
	}
	if !s.internal(c) {
		id := c.Identity()
		if !id.Known() && s.p.CanAuthenticate() {
			// Who calls is unknown: ask, and the phone calls again with
			// its user's credentials (or gets 403 if it has none).
			_ = c.Challenge(ctx)
			return
		}
		s.log.Info("park: retrieval refused", "orbit", orbit, "from", c.RemoteURI(),
			"source", sourceOf(c), "identity", id.URI, "identity_by", string(id.By))
		_ = c.DeclineWithReason(ctx, sip.StatusForbidden, "Federated Users Cannot Retrieve")
		return
	}
	s.retrieve(ctx, c, orbit, "")
}

// serveParkPrefix handles sip:park-<orbit>@ (directed park) and
// sip:park-retrieve-<token>@ (safe retrieve).
func (s *Service) serveParkPrefix(ctx context.Context, c *endpoint.Call) {
	rest := strings.TrimPrefix(c.Request().Recipient.User, s.cfg.User+"-")
	if token, ok := strings.CutPrefix(rest, "retrieve-"); ok {
		e, found := s.store.ByToken(token)
		if !found {
			_ = c.DeclineWithReason(ctx, sip.StatusNotFound, "Safe Retrieve Failed")
			return
		}
		s.retrieve(ctx, c, e.Orbit, token)
		return
	}
	orbit, ok := ParseOrbit(s.cfg.Orbits, rest)
	if !ok {
		_ = c.DeclineWithReason(ctx, sip.StatusNotFound, "No Such Orbit")
		return
	}
	if !identified(c) {
		// Refused before the orbit is looked at, so that the answer is
		// the same for a free orbit and an occupied one; with
		// platform.Config.UniformRefusals it is the platform's uniform
		// refusal, as for a retrieval by a stranger.
		s.log.Info("park: directed park refused", "orbit", orbit, "from", c.RemoteURI(),
			"source", sourceOf(c), "reason", "sender unknown")
		if s.p.CanAuthenticate() {
			_ = c.Challenge(ctx)
			return
		}
		_ = c.DeclineWithReason(ctx, sip.StatusForbidden, "Directed Park Not Allowed")
		return
	}
	s.parkArrival(ctx, c, orbit)
}

// serveParkAddress handles INVITEs to sip:park@host: a parked party sent
// by a blind transfer (Referred-By names the parker), the parked party of
// an attended park (Replaces names the parker's call to us), or any other
// call, which parks itself (a transferee whose phone sent no Referred-By,
// RFC 3892 being only a SHOULD, or a parker starting an attended park).
func (s *Service) serveParkAddress(ctx context.Context, c *endpoint.Call) {
	if old := c.Replaces(); old != nil {
		s.completeAttended(ctx, c, old)
		return
	}
	if c.Request().GetHeader("Referred-By") != nil {
		s.parkArrival(ctx, c, "")
		return
	}
	s.parkSelf(ctx, c)
}

func referredBy(c *endpoint.Call) string {
	h := c.Request().GetHeader("Referred-By")
	if h == nil {
		return ""
	}
	return uriOf(h.Value())
}

// uriOf returns the URI of a name-addr header value (Referred-By), or ""
// when what the brackets hold is itself bracketed ("<<>", found by
// FuzzURIOf).
func uriOf(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 0 {
			if u := v[i+1 : i+j]; !strings.ContainsAny(u, "<>") {
				return u
			}
			return ""
		}
	}
	return strings.Split(v, ";")[0]
}

// parkArrival parks an arriving call (blind transfer or directed park).
func (s *Service) parkArrival(ctx context.Context, c *endpoint.Call, directed string) {
	s.admit(ctx, c, directed, s.parkerOf(c))
}

// admit parks an incoming call in an orbit (directed, or by policy):
// allocate, answer with the orbit in X-Park-Orbit, play music.
func (s *Service) admit(ctx context.Context, c *endpoint.Call, directed, parker string) {
	release, err := s.reserveSource(c)
	if err != nil {
		s.refuseTooMany(ctx, c)
		return
	}
	e, err := s.store.Allocate(directed, Entry{CallID: c.CallID(), Parker: parker, Parked: c.RemoteURI(), Since: s.clock.Now()})
	if err != nil {
		callIf(release)
		code, reason := refusal(err)
		_ = c.DeclineWithReason(ctx, code, reason)
		return
	}
	if err := c.AcceptWithHeaders(ctx, endpoint.Header{Name: "X-Park-Orbit", Value: e.Orbit}); err != nil {
		callIf(release)
		s.store.Release(e.Orbit, e.Token)
		return
	}
	c.HandOff()
	_ = c.BeginPark() // fails only if the caller has hung up already
	s.adopt(c, e, nil, false, release)
}

// refuseTooMany answers a park over Config.MaxPerSource.
func (s *Service) refuseTooMany(ctx context.Context, c *endpoint.Call) {
	s.log.Info("park: refused", "from", c.RemoteURI(), "source", sourceOf(c), "reason", "max_per_source",
		"max_per_source", s.cfg.MaxPerSource)
	code, reason := refusal(ErrTooManyParks)
	_ = c.DeclineWithReason(ctx, code, reason)
}

func callIf(f func()) {
	if f != nil {
		f()
	}
}

func refusal(err error) (int, string) {
	switch {
	case errors.Is(err, ErrNoFreeOrbit):
		return sip.StatusBusyHere, "No Free Orbit"
	case errors.Is(err, ErrOrbitBusy):
		return sip.StatusBusyHere, "Orbit Busy"
	case errors.Is(err, ErrTooManyParks):
		return sip.StatusBusyHere, "Too Many Parks"
	case errors.Is(err, ErrDirectedParkForbidden):
		return sip.StatusForbidden, "Directed Park Not Allowed"
	case errors.Is(err, ErrDoublePark):
		return sip.StatusForbidden, "Already Parked"
	case errors.Is(err, ErrNoSuchOrbit):
		return sip.StatusNotFound, "No Such Orbit"
	case errors.Is(err, ErrStoreUnavailable):
		return sip.StatusServiceUnavailable, "Park Store Unavailable"
	}
	return sip.StatusServiceUnavailable, "Service Unavailable"
}

// parkSelf parks a call to the park address that names no parker
// (neither Replaces nor Referred-By), as a PBX's parking extension does:
// the caller hears the orbit announced, then the music, and the orbit is
// occupied and retrievable. The caller may be a parked party whose phone
// followed a blind transfer without Referred-By, or a parker starting an
// attended park: then its transfer's INVITE with Replaces takes the orbit
// over (completeAttended). Either way the parker is unknown here, so the
// timeout chain goes to the fallback URI, else disconnects.
func (s *Service) parkSelf(ctx context.Context, c *endpoint.Call) {
	release, err := s.reserveSource(c)
	if err != nil {
		s.refuseTooMany(ctx, c)
		return
	}
	e, err := s.store.Allocate("", Entry{CallID: c.CallID(), Parked: c.RemoteURI(), Since: s.clock.Now()})
	if err != nil {
		callIf(release)
		code, reason := refusal(err)
		_ = c.DeclineWithReason(ctx, code, reason)
		return
	}
	if err := c.AcceptWithHeaders(ctx, endpoint.Header{Name: "X-Park-Orbit", Value: e.Orbit}); err != nil {
		callIf(release)
		s.store.Release(e.Orbit, e.Token)
		return
	}
	then := "disconnect"
	if fb := s.Timers().FallbackURI; fb != "" {
		then = "fallback " + fb
	}
	s.log.Info("park: caller parked itself; parker unknown", "orbit", e.Orbit, "parked", e.Parked,
		"call_id", e.CallID, "on_timeout", then, "reason", "no Referred-By and no Replaces")
	c.HandOff()
	_ = c.BeginPark()
	var announce []int16
	if s.cfg.Announce == nil || *s.cfg.Announce {
		announce = announcement(e.Orbit)
	}
	s.adopt(c, e, announce, true, release)
}

// completeAttended takes the parked party's INVITE with Replaces: it
// takes over the orbit of the call it replaces (a parker's call that
// parked itself) in one store operation, so no other park can take the
// orbit in between. The parker is the Referred-By identity, else the
// replaced call's caller, when believed (parkerOf).
func (s *Service) completeAttended(ctx context.Context, c, old *endpoint.Call) {
	s.mu.Lock()
	token := s.pending[old.CallID()]
	pc := s.parked[token]
	s.mu.Unlock()
	if pc == nil {
		s.log.Info("park: Replaces names no park in progress", "replaces", old.CallID(), "from", c.RemoteURI())
		_ = c.DeclineWithReason(ctx, sip.StatusCallTransactionDoesNotExists, "No Park In Progress")
		return
	}
	parker := ""
	if referredBy(c) != "" {
		parker = s.parkerOf(c)
	} else {
		parker = s.parkerOf(old)
	}
	e, err := s.store.Replace(pc.entry.Orbit, token, Entry{CallID: c.CallID(), Parker: parker, Parked: c.RemoteURI(), Since: s.clock.Now()})
	if err != nil {
		// The replaced call was retrieved or hung up meanwhile.
		_ = c.DeclineWithReason(ctx, sip.StatusCallTransactionDoesNotExists, "No Park In Progress")
		return
	}
	s.forget(token)
	if m := s.player(); m != nil {
		m.Detach(pc.call.Flow())
	}
	if err := c.AcceptWithHeaders(ctx, endpoint.Header{Name: "X-Park-Orbit", Value: e.Orbit}); err != nil {
		if s.store.Release(e.Orbit, e.Token) {
			s.lamp(e.Orbit, nil)
		}
		return
	}
	s.log.Info("park: attended park completed", "orbit", e.Orbit, "parker", e.Parker, "parked", e.Parked)
	c.HandOff()
	_ = c.BeginPark()
	// The orbit was the replaced call's, counted against its source (and
	// given back by forget): taking it over parks no more calls.
	s.adopt(c, e, nil, false, nil)
}

// announcement is "parked on orbit" and the orbit's digits.
func announcement(orbit string) []int16 {
	var out []int16
	read := func(name string) {
		b, err := prompts.ReadFile("prompts/" + name + ".wav")
		if err != nil {
			return
		}
		a, err := audio.ReadWAV(bytes.NewReader(b))
		if err == nil && a.SampleRate == 8000 && a.Channels == 1 {
			out = append(out, a.Samples...)
			out = append(out, make([]int16, 800)...) // 100 ms
		}
	}
	read("parked")
	for _, d := range orbit {
		read(string(d))
	}
	return out
}

// timeout runs the timeout chain of a park: ring back the parker, up to
// MaxAttempts times; then the fallback; then disconnect.
func (s *Service) timeout(token string) {
	s.mu.Lock()
	pc := s.parked[token]
	if pc == nil || pc.busy {
		s.mu.Unlock()
		return
	}
	pc.busy = true
	pc.attempts++
	attempt := pc.attempts
	e := pc.entry
	s.mu.Unlock()
	s.emit(Event{Type: TimedOut, Entry: e})
	go s.chain(pc, attempt)
}

func (s *Service) chain(pc *parkedCall, attempt int) {
	e := pc.entry
	if attempt <= pc.timers.MaxAttempts && e.Parker != "" {
		s.emit(Event{Type: RingBack, Entry: e})
		if s.dialAndConnect(pc, e.Parker, "ring back") {
			return
		}
		if attempt < pc.timers.MaxAttempts {
			s.mu.Lock()
			pc.busy = false
			if s.parked[e.Token] == pc {
				pc.timer = s.clock.AfterFunc(pc.timers.PickupTimeout, func() { s.timeout(e.Token) })
			}
			s.mu.Unlock()
			return
		}
	}
	if pc.timers.FallbackURI != "" {
		s.emit(Event{Type: Fallback, Entry: e})
		if s.dialAndConnect(pc, pc.timers.FallbackURI, "fallback") {
			return
		}
	}
	// Nobody took it: disconnect and tell the parker why.
	if _, err := s.store.Claim(e.Orbit, e.Token); err == nil {
		s.forget(e.Token)
		s.lamp(e.Orbit, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = pc.call.Terminate(ctx)
		s.emit(Event{Type: Disconnected, Entry: e})
		s.tell(ctx, e.Parker, fmt.Sprintf("Your parked call from %s on orbit %s was disconnected: nobody retrieved it.", e.Parked, e.Orbit))
	}
}

// dialAndConnect calls target for a parked call and, if answered and the
// orbit still holds the call, connects them.
func (s *Service) dialAndConnect(pc *parkedCall, target, why string) bool {
	if s.ringer == nil {
		return false
	}
	conv := s.ringer.NewConversation()
	if err := conv.Impersonate(endpoint.Identity{URI: s.OrbitURI(pc.entry.Orbit), DisplayName: "Parked call " + pc.entry.Orbit}); err != nil {
		return false
	}
	out := conv.NewCall()
	ctx, cancel := context.WithTimeout(context.Background(), pc.timers.RingTime)
	defer cancel()
	var eo endpoint.EstablishOptions
	if why == "ring back" {
		// A reminder: the parker's phone may ring differently, and an
		// application sees the reason (ReminderOf).
		eo.Headers = []endpoint.Header{{Name: "Alert-Info", Value: "<" + RecallURN + ">"}, {Name: "X-Park-Orbit", Value: pc.entry.Orbit}}
	}
	if err := out.Establish(ctx, target, eo); err != nil {
		s.log.Info("park "+why+" not answered", "orbit", pc.entry.Orbit, "target", target, "error", err)
		return false
	}
	if _, err := s.store.Claim(pc.entry.Orbit, pc.entry.Token); err != nil {
		_ = out.Terminate(context.Background()) // retrieved meanwhile
		return true
	}
	s.forget(pc.entry.Token)
	// The orbit is claimed: whatever happens now, the chain is over.
	if err := s.connect(context.Background(), out, pc, target); err != nil {
		s.log.Warn("park "+why+" connect failed", "orbit", pc.entry.Orbit, "error", err)
	}
	return true
}

// RecallURN is the Alert-Info URN (RFC 7462 section 4.2.2) of the
// park's ring-back calls to the parker: a recall of a call that waited on
// hold (parked, hearing music) and that nobody took. Phones may render it
// with a distinct ring.
const RecallURN = "urn:alert:service:recall:hold"

// Reminder is why a call reached an application: the park service rings
// the parker back about a call parked on Orbit that nobody retrieved.
type Reminder struct {
	Orbit string
}

// ReminderOf reports whether c, an incoming call, is a park reminder (a
// ring-back to the parker): its INVITE carries the recall Alert-Info and
// names the orbit in X-Park-Orbit. Like any identity claim, it is believed
// only from a local application (this platform's park service) or a
// trusted peer; from anyone else ReminderOf reports false.
func ReminderOf(c *endpoint.Call) (Reminder, bool) {
	if c == nil || c.Request() == nil || !vouched(c) {
		return Reminder{}, false
	}
	recall := false
	for _, v := range c.Headers("Alert-Info") {
		for part := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.Trim(strings.TrimSpace(strings.Split(part, ";")[0]), "<>"), RecallURN) {
				recall = true
			}
		}
	}
	orbit := strings.TrimSpace(c.Header("X-Park-Orbit"))
	if !recall || orbit == "" {
		return Reminder{}, false
	}
	return Reminder{Orbit: orbit}, true
}

// tell sends the parker a SIP MESSAGE with text, from the park address.
func (s *Service) tell(ctx context.Context, to, text string) {
	if s.ringer == nil || to == "" {
		return
	}
	if err := s.ringer.SendMessage(ctx, to, "text/plain", []byte(text)); err != nil {
		s.log.Info("park message not delivered", "to", to, "error", err)
	}
}

// serveParkOther answers out-of-dialog requests to the park address: a
// REFER sent to the service itself must name its referrer.
func (s *Service) serveParkOther(r *platform.Request) {
	if r.Method == sip.REFER {
		if r.GetHeader("Referred-By") == nil {
			_ = r.Respond(sip.StatusBadRequest, "Missing Referred-By", nil)
			return
		}
		_ = r.Respond(501, "Not Implemented", nil, sip.NewHeader("Warning", `399 switchboard "transfer the call to the park address instead"`))
		return
	}
	_ = r.Respond(sip.StatusMethodNotAllowed, "Method Not Allowed", nil)
}

// serveOrbitOther takes SUBSCRIBE to an orbit's dialog events (busy lamp).
func (s *Service) serveOrbitOther(r *platform.Request) {
	if r.Method != sip.SUBSCRIBE {
		_ = r.Respond(sip.StatusMethodNotAllowed, "Method Not Allowed", nil)
		return
	}
	orbit, ok := ParseOrbit(s.cfg.Orbits, r.Recipient.User)
	if !ok {
		_ = r.Respond(sip.StatusNotFound, "No Such Orbit", nil)
		return
	}
	if endpoint.EventPackage(r) != "dialog" {
		_ = r.Respond(489, "Bad Event", nil, sip.NewHeader("Allow-Events", "dialog"))
		return
	}
	sub, err := endpoint.AcceptSubscription(s.p, r, endpoint.SubscribeOptions{ContactUser: orbit})
	if err != nil && !errors.Is(err, endpoint.ErrUnsubscribed) {
		return
	}
	bs := &blfSub{sub: sub}
	if err == nil {
		s.mu.Lock()
		s.subs[orbit] = append(s.subs[orbit], bs)
		s.mu.Unlock()
		sub.OnEnd(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			list := s.subs[orbit]
			for i, x := range list {
				if x == bs {
					s.subs[orbit] = append(list[:i], list[i+1:]...)
					break
				}
			}
		})
	}
	s.lamp(orbit, bs) // the initial NOTIFY (RFC 6665 section 4.2.1.2)
}

// lamp queues a busy-lamp update of orbit: a NOTIFY of the orbit's state
// to only (the initial NOTIFY of a new subscription) or, when only is nil,
// to every subscriber of the orbit. Updates of one orbit run one at a time
// on the orbit's serial queue, so each watcher gets them in order with
// versions 0, 1, 2, ... (RFC 4235 section 4.1). The state is read when the
// update runs, not when it is queued: whatever order concurrent parks and
// retrievals queue their updates in, the last NOTIFY shows the orbit as it
// is.
func (s *Service) lamp(orbit string, only *blfSub) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	q := s.lamps[orbit]
	if q == nil {
		q = &serial.Queue{}
		s.lamps[orbit] = q
	}
	s.wg.Add(1) // Close waits for queued updates (s.closed is checked under s.mu)
	q.Post(func() {
		defer s.wg.Done()
		s.notifyLamp(orbit, only)
	})
}

// notifyLamp runs on the orbit's lamp queue.
func (s *Service) notifyLamp(orbit string, only *blfSub) {
	select {
	case <-s.done:
		return
	default:
	}
	_, occupied := s.store.Get(orbit)
	s.mu.Lock()
	subs := []*blfSub{only}
	if only == nil {
		subs = append([]*blfSub(nil), s.subs[orbit]...)
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Watchers are notified concurrently; the next update of the orbit
	// waits for all of them.
	var wg sync.WaitGroup
	for _, bs := range subs {
		body, err := DialogInfo(s.OrbitURI(orbit), bs.version, orbit, occupied, "park-"+orbit)
		bs.version++
		if err != nil {
			continue
		}
		wg.Go(func() { _ = bs.sub.Notify(ctx, "application/dialog-info+xml", body) })
	}
	wg.Wait()
}

// Close stops the timers and event delivery; parked calls stay up until
// the platform ends them. It is idempotent.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	if s.unwatch != nil {
		s.unwatch()
	}
	for _, pc := range s.parked {
		if pc.timer != nil {
			pc.timer.Stop()
		}
	}
	s.mu.Unlock()
	close(s.done)
	s.wg.Wait()
	for _, ep := range s.eps {
		_ = ep.Close()
	}
	return nil
}
