package admin

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"regexp"
	"sync"
	"time"
)

// A ticket lets a browser reach one URL that it cannot send an
// Authorization header to: an EventSource (the event stream) and an
// <audio> element (a recording's audio). The console, holding the bearer
// token, asks POST /api/v1/tickets for a ticket bound to one path and
// puts it in that URL's ticket query parameter. A ticket is good for GET
// (and HEAD) of its path only, for ticketLifetime, so a URL that leaks (a
// proxy log, the browser's history) is worth little: never the token,
// which stays in the Authorization header of every other request.
const ticketLifetime = 60 * time.Second

// ticketPaths are the paths a ticket may be issued for.
var ticketPaths = regexp.MustCompile(`^/api/v1/(events|recordings/[^/]+/audio)$`)

// TicketRequest is the body of POST /api/v1/tickets.
type TicketRequest struct {
	// Path is the URL path the ticket opens: /api/v1/events or
	// /api/v1/recordings/{id}/audio.
	Path string `json:"path"`
}

// Ticket is a short-lived credential for one path, passed as the ticket
// query parameter.
type Ticket struct {
	Ticket    string    `json:"ticket"`
	Path      string    `json:"path"`
	ExpiresAt time.Time `json:"expires_at"`
}

type ticketStore struct {
	mu sync.Mutex
	m  map[string]Ticket
}

// issue makes a ticket for path.
func (ts *ticketStore) issue(path string, now time.Time) Ticket {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24)
	t := Ticket{Ticket: base64.RawURLEncoding.EncodeToString(b), Path: path, ExpiresAt: now.Add(ticketLifetime).UTC()}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.m == nil {
		ts.m = map[string]Ticket{}
	}
	ts.prune(now)
	ts.m[t.Ticket] = t
	return t
}

// prune drops expired tickets (ts.mu held): the store holds at most the
// tickets of the last minute.
func (ts *ticketStore) prune(now time.Time) {
	for k, t := range ts.m {
		if now.After(t.ExpiresAt) {
			delete(ts.m, k)
		}
	}
}

// valid reports whether tok is a live ticket for path.
func (ts *ticketStore) valid(tok, path string, now time.Time) bool {
	if tok == "" {
		return false
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	t, ok := ts.m[tok]
	if !ok || now.After(t.ExpiresAt) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(t.Path), []byte(path)) == 1
}

// issueTicket is POST /api/v1/tickets (behind the bearer token).
func (s *Server) issueTicket(w http.ResponseWriter, r *http.Request) {
	var req TicketRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	if !ticketPaths.MatchString(req.Path) {
		s.problem(w, http.StatusBadRequest, "bad path", "a ticket opens /api/v1/events or /api/v1/recordings/{id}/audio")
		return
	}
	s.json(w, http.StatusCreated, s.tickets.issue(req.Path, time.Now()))
}

// ticketed reports whether r is a GET or HEAD carrying a live ticket for
// its own path.
func (s *Server) ticketed(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	return s.tickets.valid(r.URL.Query().Get("ticket"), r.URL.Path, time.Now())
}
