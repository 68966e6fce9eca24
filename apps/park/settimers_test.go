package park_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/apps/park"
	"github.com/switchboard-sip/switchboard/endpoint"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestSetTimersForNewParks: under a fake clock, SetTimers shortens the
// pickup timeout for the calls parked after it (disconnected at the new
// 10 s) while the call parked before keeps its 60 s; invalid timers are
// refused and change nothing.
func TestSetTimersForNewParks(t *testing.T) {
	parker := sbt.NewPhone(t, "parker", sbt.PhoneOptions{Answer: func(ctx context.Context, c *endpoint.Call) error {
		_ = c.Decline(ctx, 480)
		return errors.New("away")
	}})
	clock := &fakeClock{now: time.Unix(1e9, 0)}
	r := newRigWithParker(t, park.Config{PickupTimeout: 60 * time.Second, RingTime: time.Second}, parker.URI(), park.WithClock(clock))
	first, _ := r.parkPhone(t, sbt.NewPhone(t, "first"))
	if err := r.svc.SetTimers(park.Timers{PickupTimeout: 5 * time.Second}); err == nil || !strings.Contains(err.Error(), "outside 10s–10m") {
		t.Fatalf("SetTimers(5s): %v", err)
	}
	if got := r.svc.Timers().PickupTimeout; got != 60*time.Second {
		t.Fatalf("after a refused SetTimers: %v, want 60s", got)
	}
	if err := r.svc.SetTimers(park.Timers{PickupTimeout: 10 * time.Second, RingTime: time.Second}); err != nil {
		t.Fatal(err)
	}
	if got := r.svc.Timers(); got.MaxAttempts != 1 || got.PickupTimeout != 10*time.Second {
		t.Fatalf("timers %+v, want defaults filled in and 10s", got)
	}
	second, _ := r.parkPhone(t, sbt.NewPhone(t, "second"))
	clock.Advance(10 * time.Second)
	second.WaitTerminated(t, 5*time.Second)
	select {
	case <-first.Done():
		t.Fatal("the call parked before SetTimers ended at the new timeout")
	case <-time.After(300 * time.Millisecond):
	}
	clock.Advance(50 * time.Second) // 60 s after the first park
	first.WaitTerminated(t, 5*time.Second)
}
