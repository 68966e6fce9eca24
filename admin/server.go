package admin

import (
	"context"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/switchboard-sip/switchboard/admin/console"
	"github.com/switchboard-sip/switchboard/apps/holdmusic"
	"github.com/switchboard-sip/switchboard/apps/park"
	"github.com/switchboard-sip/switchboard/apps/recording"
	"github.com/switchboard-sip/switchboard/conference"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/platform"
)

//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the OpenAPI 3 document of the API (a copy).
func OpenAPI() []byte { return append([]byte(nil), openAPI...) }

// Config is the admin interface's configuration. The zero value listens
// nowhere (New then only builds the handler).
type Config struct {
	// Listen is the TCP address to serve on, e.g. "127.0.0.1:8080"; empty
	// disables the listener. A non-loopback address needs Token.
	Listen string `yaml:"listen"`
	// Token, when set, is required of every request as
	// "Authorization: Bearer <token>".
	Token string `yaml:"token"`
	// TLSCert and TLSKey are PEM files; when both are set the interface
	// speaks HTTPS.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// EventBacklog is how many events are kept for clients resuming with
	// Last-Event-ID. Default 4096.
	EventBacklog int `yaml:"event_backlog"`
	// EventBuffer is how many events a stream may fall behind before it
	// is cut off. Default 1024.
	EventBuffer int `yaml:"event_buffer"`
}

// ErrTokenRequired is returned by New for a non-loopback listen address
// without a token.
var ErrTokenRequired = errors.New("admin: a listen address other than loopback needs a token")

// Services are what the API acts on; nil services are absent from the
// server (their endpoints answer 404).
type Services struct {
	Platform    *platform.Platform
	Park        *park.Service
	Conferences *conference.Service
	Recording   *recording.Service
	// RecordingDir is the recording app's directory (audio and sidecars).
	RecordingDir string
	// Version is reported by /api/v1/version.
	Version string
	// Drain starts a graceful shutdown (the same as SIGTERM); nil makes
	// POST /api/v1/drain drain the platform itself.
	Drain func()
	// Originator is the application endpoint originated calls come from
	// (POST /api/v1/calls); nil disables originate.
	Originator *endpoint.Endpoint
	// Music plays hold music to calls held through the API (nil: silence).
	Music *holdmusic.Service
}

// musicPlayer returns the default hold music player, if any.
func (s *Server) musicPlayer() (*audio.Player, bool) {
	if s.svc.Music == nil {
		return nil, false
	}
	return s.svc.Music.Player("")
}

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the logger (default: the platform's).
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithMetrics makes the server expose m (which must also be the
// platform's Observer to count SIP messages). Default: metrics of its own,
// without SIP counts.
func WithMetrics(m *Metrics) Option { return func(s *Server) { s.metrics = m } }

// Server is the admin HTTP server. It is safe for concurrent use; Close
// and Shutdown are idempotent.
type Server struct {
	cfg     Config
	svc     Services
	log     *slog.Logger
	metrics *Metrics
	events  *broker
	mux     *http.ServeMux
	handler http.Handler
	http    *http.Server
	drained sync.Once
	tickets ticketStore

	unwatch []func()
	mu      sync.Mutex
	closed  bool
}

// New validates cfg and builds the server over svc; it starts watching
// the services' events at once (nothing is served before Serve).
func New(cfg Config, svc Services, opts ...Option) (*Server, error) {
	if cfg.Listen != "" && cfg.Token == "" {
		if !isLoopback(cfg.Listen) {
			return nil, fmt.Errorf("%w: %q", ErrTokenRequired, cfg.Listen)
		}
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, errors.New("admin: tls_cert and tls_key go together")
	}
	if svc.Platform == nil {
		return nil, errors.New("admin: no platform")
	}
	if cfg.EventBacklog <= 0 {
		cfg.EventBacklog = 4096
	}
	if cfg.EventBuffer <= 0 {
		cfg.EventBuffer = 1024
	}
	s := &Server{cfg: cfg, svc: svc, log: svc.Platform.Logger(), events: newBroker(cfg.EventBacklog, cfg.EventBuffer)}
	for _, o := range opts {
		o(s)
	}
	if s.metrics == nil {
		s.metrics = NewMetrics()
	}
	s.metrics.attach(&s.svc)
	s.routes()
	s.watch()
	s.http = &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	return s, nil
}

// isLoopback reports whether a listen address binds loopback only. An
// empty host binds every interface.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Handler returns the server's HTTP handler (authentication included).
func (s *Server) Handler() http.Handler { return s.handler }

// Metrics returns the server's metrics.
func (s *Server) Metrics() *Metrics { return s.metrics }

// ListenAndServe listens on Config.Listen and serves until Close or
// Shutdown (then it returns http.ErrServerClosed).
func (s *Server) ListenAndServe() error {
	l, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	return s.Serve(l)
}

// Serve serves on l (HTTPS when Config has a certificate).
func (s *Server) Serve(l net.Listener) error {
	if s.cfg.TLSCert != "" {
		return s.http.ServeTLS(l, s.cfg.TLSCert, s.cfg.TLSKey)
	}
	return s.http.Serve(l)
}

// Shutdown stops the server gracefully: event streams end, requests in
// progress finish (until ctx is done).
func (s *Server) Shutdown(ctx context.Context) error {
	s.stop()
	return s.http.Shutdown(ctx)
}

// Close stops the server at once.
func (s *Server) Close() error {
	s.stop()
	return s.http.Close()
}

func (s *Server) stop() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	un := s.unwatch
	s.unwatch = nil
	s.mu.Unlock()
	for _, f := range un {
		f()
	}
	s.events.closeAll()
}

// routes builds the mux. Every route is in openapi.json.
func (s *Server) routes() {
	m := http.NewServeMux()
	s.mux = m
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { s.json(w, http.StatusOK, status{Status: "ok"}) })
	m.HandleFunc("GET /readyz", s.serveReady)
	m.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	m.HandleFunc("GET /api/v1/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openAPI)
	})
	m.HandleFunc("GET /api/v1/version", func(w http.ResponseWriter, r *http.Request) {
		s.json(w, http.StatusOK, versionInfo{Version: s.svc.Version})
	})
	m.HandleFunc("POST /api/v1/drain", s.serveDrain)
	m.HandleFunc("GET /api/v1/events", s.serveEvents)
	m.HandleFunc("GET /api/v1/calls", s.listCalls)
	m.HandleFunc("POST /api/v1/calls", s.originate)
	m.HandleFunc("POST /api/v1/calls/{id}/transfer", s.transferCall)
	m.HandleFunc("POST /api/v1/calls/{id}/hold", s.holdCall)
	m.HandleFunc("POST /api/v1/calls/{id}/retrieve", s.retrieveCall)
	m.HandleFunc("POST /api/v1/calls/{id}/park", s.parkCall)
	m.HandleFunc("GET /api/v1/calls/{id}", s.getCall)
	m.HandleFunc("DELETE /api/v1/calls/{id}", s.hangUpCall)
	m.HandleFunc("GET /api/v1/orbits", s.listOrbits)
	m.HandleFunc("POST /api/v1/orbits/{orbit}/retrieve", s.retrieveOrbit)
	m.HandleFunc("DELETE /api/v1/orbits/{orbit}", s.hangUpOrbit)
	m.HandleFunc("GET /api/v1/conferences", s.listConferences)
	m.HandleFunc("GET /api/v1/conferences/{id}", s.getConference)
	m.HandleFunc("POST /api/v1/conferences/{id}/lock", s.lockConference(true))
	m.HandleFunc("POST /api/v1/conferences/{id}/unlock", s.lockConference(false))
	m.HandleFunc("POST /api/v1/conferences/{id}/participants/{pid}/mute", s.muteParticipant(true))
	m.HandleFunc("POST /api/v1/conferences/{id}/participants/{pid}/unmute", s.muteParticipant(false))
	m.HandleFunc("DELETE /api/v1/conferences/{id}/participants/{pid}", s.ejectParticipant)
	m.HandleFunc("POST /api/v1/conferences/{id}/recording", s.startConferenceRecording)
	m.HandleFunc("DELETE /api/v1/conferences/{id}/recording", s.stopConferenceRecording)
	m.HandleFunc("POST /api/v1/conferences/{id}/announcement", s.announceConference)
	m.HandleFunc("GET /api/v1/recordings", s.listRecordings)
	m.HandleFunc("GET /api/v1/recordings/{id}", s.getRecording)
	m.HandleFunc("GET /api/v1/recordings/{id}/audio", s.downloadRecording)
	m.HandleFunc("DELETE /api/v1/recordings/{id}", s.deleteRecording)
	m.HandleFunc("POST /api/v1/tickets", s.issueTicket)
	// The operator console (admin/console): static files, open without
	// the token, which the page asks for when the API wants one.
	m.Handle("GET /{$}", console.Handler())
	m.Handle("GET /console/", console.Handler())
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.problem(w, http.StatusNotFound, "not found", "no such resource: "+r.URL.Path)
	})
	s.handler = s.authenticate(m)
}

// authenticate requires the bearer token, when one is configured, of
// every request (RFC 6750 section 3: 401 with WWW-Authenticate) but the
// console's static files and a GET with a ticket for its path (tickets.go).
func (s *Server) authenticate(h http.Handler) http.Handler {
	if s.cfg.Token == "" {
		return h
	}
	want := []byte("Bearer " + s.cfg.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 && !console.Public(r) && !s.ticketed(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="switchboard"`)
			s.problem(w, http.StatusUnauthorized, "unauthorized", "a valid bearer token is required")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Problem is an RFC 9457 problem details object.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
}

func (s *Server) problem(w http.ResponseWriter, code int, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(Problem{Type: "about:blank", Title: title, Status: code, Detail: detail})
}

func (s *Server) json(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

type status struct {
	Status string `json:"status"`
}

type versionInfo struct {
	Version string `json:"version"`
}

func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	if s.svc.Platform.Draining() {
		w.Header().Set("Retry-After", fmt.Sprint(int(s.svc.Platform.Config().RetryAfter/time.Second)))
		s.problem(w, http.StatusServiceUnavailable, "draining", "the server is draining: new calls are refused")
		return
	}
	s.json(w, http.StatusOK, status{Status: "ready"})
}

func (s *Server) serveDrain(w http.ResponseWriter, r *http.Request) {
	s.drained.Do(func() {
		if s.svc.Drain != nil {
			s.svc.Drain()
			return
		}
		go func() { _ = s.svc.Platform.Shutdown(context.Background()) }()
	})
	s.json(w, http.StatusAccepted, status{Status: "draining"})
}

// decodeBody decodes an optional JSON body into v.
func decodeBody(r *http.Request, v any) error {
	if r.Body == nil || r.ContentLength == 0 {
		return nil
	}
	d := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<16))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	return nil
}
