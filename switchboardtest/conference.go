package switchboardtest

import (
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/conference"
)

// WaitRoster waits until c's roster (the application view, trusted
// participants included) holds n participants and returns it. It waits on
// roster changes, not on a clock, and fails the test after within.
func WaitRoster(t testing.TB, c *conference.Conference, n int, within time.Duration) []conference.ParticipantInfo {
	t.Helper()
	changed := make(chan struct{}, 1)
	remove := c.OnRosterChanged(func(conference.RosterChange) {
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	defer remove()
	timeout := time.NewTimer(within)
	defer timeout.Stop()
	for {
		r := c.Roster()
		if len(r) == n {
			return r
		}
		select {
		case <-changed:
		case <-timeout.C:
			t.Fatalf("roster has %d participants after %v, want %d: %+v", len(r), within, n, r)
		}
	}
}
