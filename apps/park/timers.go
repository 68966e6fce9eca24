package park

import (
	"fmt"
	"time"

	"github.com/switchboard-sip/switchboard/endpoint"
)

// Timers are the park settings that may change while calls are parked
// (SetTimers; the server does it on SIGHUP): what happens to a call
// nobody retrieves. The fields mean what the Config fields of the same
// names mean, with the same defaults and limits.
type Timers struct {
	PickupTimeout time.Duration
	MaxAttempts   int
	RingTime      time.Duration
	FallbackURI   string
}

// TimersOf returns the timers cfg sets.
func TimersOf(cfg Config) Timers {
	return Timers{PickupTimeout: cfg.PickupTimeout, MaxAttempts: cfg.MaxAttempts, RingTime: cfg.RingTime, FallbackURI: cfg.FallbackURI}
}

// check fills in the defaults and checks the limits.
func (t Timers) check() (Timers, error) {
	if t.PickupTimeout == 0 {
		t.PickupTimeout = 90 * time.Second
	}
	if t.PickupTimeout < 10*time.Second || t.PickupTimeout > 10*time.Minute {
		return t, fmt.Errorf("park: pickup timeout %v outside 10s–10m", t.PickupTimeout)
	}
	if t.MaxAttempts == 0 {
		t.MaxAttempts = 1
	}
	if t.MaxAttempts < 1 || t.MaxAttempts > 10 {
		return t, fmt.Errorf("park: max attempts %d outside 1–10", t.MaxAttempts)
	}
	if t.RingTime == 0 {
		t.RingTime = 30 * time.Second
	}
	if t.FallbackURI != "" {
		if _, err := endpoint.ParseURI(t.FallbackURI); err != nil {
			return t, fmt.Errorf("park: fallback URI: %w", err)
		}
	}
	return t, nil
}

// Timers returns the timers new parks get.
func (s *Service) Timers() Timers { return *s.timers.Load() }

// SetTimers checks t (as New checks Config) and gives it to the calls
// parked from now on; a call already parked keeps the timers it was
// parked with, its pickup timeout already running. On error nothing
// changes.
func (s *Service) SetTimers(t Timers) error {
	t, err := t.check()
	if err != nil {
		return err
	}
	s.timers.Store(&t)
	return nil
}
