package admin

import (
	"testing"
	"time"
)

// TestConsoleTicketsExpireAndBindToPath: a ticket opens its own path only,
// until it expires a minute after it was issued; expired tickets are
// pruned when the next is issued.
func TestConsoleTicketsExpireAndBindToPath(t *testing.T) {
	var ts ticketStore
	t0 := time.Unix(1e9, 0)
	tk := ts.issue("/api/v1/events", t0)
	if len(tk.Ticket) < 32 || !tk.ExpiresAt.Equal(t0.Add(ticketLifetime)) {
		t.Fatalf("ticket %+v", tk)
	}
	if !ts.valid(tk.Ticket, "/api/v1/events", t0.Add(59*time.Second)) {
		t.Error("a ticket is refused within its minute")
	}
	if ts.valid(tk.Ticket, "/api/v1/calls", t0) || ts.valid(tk.Ticket, "/api/v1/events/", t0) {
		t.Error("a ticket opens another path")
	}
	if ts.valid(tk.Ticket, "/api/v1/events", t0.Add(61*time.Second)) {
		t.Error("an expired ticket is accepted")
	}
	if ts.valid("", "/api/v1/events", t0) || ts.valid(tk.Ticket+"x", "/api/v1/events", t0) {
		t.Error("an empty or altered ticket is accepted")
	}
	other := ts.issue("/api/v1/recordings/r1/audio", t0.Add(2*time.Minute))
	if _, ok := ts.m[tk.Ticket]; ok || len(ts.m) != 1 {
		t.Errorf("expired tickets kept: %d in the store", len(ts.m))
	}
	if other.Ticket == tk.Ticket {
		t.Error("two tickets are the same")
	}
	for path, ok := range map[string]bool{
		"/api/v1/events": true, "/api/v1/recordings/abc/audio": true,
		"/api/v1/calls": false, "/api/v1/recordings/a/b/audio": false, "/api/v1/events?x": false, "/": false,
	} {
		if ticketPaths.MatchString(path) != ok {
			t.Errorf("ticket for %q allowed: %v, want %v", path, !ok, ok)
		}
	}
}
