package park

import (
	"context"
	"fmt"
	"time"

	"github.com/switchboard-sip/switchboard/endpoint"
)

// Capacity returns the number of orbits of the configured ranges.
func (s *Service) Capacity() int { return newPool(s.cfg.Orbits).size }

// Ranges returns the configured orbit ranges (a copy), in configuration
// order: an operator's busy-lamp field shows every orbit of each.
func (s *Service) Ranges() []OrbitRange { return append([]OrbitRange(nil), s.cfg.Orbits...) }

// PickupTimeout returns how long a parked call waits before its parker
// is rung back (Config.PickupTimeout, defaulted).
func (s *Service) PickupTimeout() time.Duration { return s.cfg.PickupTimeout }

// RetrieveTo is an operator's retrieve: it calls target (a SIP URI) for
// the call parked in orbit, presenting the orbit as the caller, and when
// target answers and the call is still parked, connects them. It waits for
// the answer (ctx bounds the ringing, at most Config.RingTime) and returns
// ErrOrbitEmpty when the orbit holds no call, or the dialling error.
func (s *Service) RetrieveTo(ctx context.Context, orbit, target string) error {
	o, ok := ParseOrbit(s.cfg.Orbits, orbit)
	if !ok {
		return fmt.Errorf("%w: %q", ErrNoSuchOrbit, orbit)
	}
	e, ok := s.store.Get(o)
	if !ok {
		return fmt.Errorf("%w: %s", ErrOrbitEmpty, o)
	}
	if s.ringer == nil {
		return fmt.Errorf("park: no endpoint to dial %s from", target)
	}
	conv := s.ringer.NewConversation()
	if err := conv.Impersonate(endpoint.Identity{URI: s.OrbitURI(o), DisplayName: "Parked call " + o}); err != nil {
		return err
	}
	out := conv.NewCall()
	rctx, cancel := context.WithTimeout(ctx, s.Timers().RingTime)
	defer cancel()
	if err := out.Establish(rctx, target, endpoint.EstablishOptions{}); err != nil {
		return fmt.Errorf("park: retrieve %s to %s: %w", o, target, err)
	}
	if _, err := s.store.Claim(o, e.Token); err != nil {
		_ = out.Terminate(context.WithoutCancel(ctx)) // retrieved meanwhile
		return fmt.Errorf("%w: %s", ErrOrbitEmpty, o)
	}
	pc := s.forget(e.Token)
	if pc == nil {
		_ = out.Terminate(context.WithoutCancel(ctx))
		return fmt.Errorf("%w: %s", ErrOrbitEmpty, o)
	}
	return s.connect(context.WithoutCancel(ctx), out, pc, target)
}

// HangUp ends the call parked in orbit (BYE) and frees the orbit; it
// returns ErrOrbitEmpty when the orbit holds no call.
func (s *Service) HangUp(ctx context.Context, orbit string) error {
	o, ok := ParseOrbit(s.cfg.Orbits, orbit)
	if !ok {
		return fmt.Errorf("%w: %q", ErrNoSuchOrbit, orbit)
	}
	e, ok := s.store.Get(o)
	if !ok {
		return fmt.Errorf("%w: %s", ErrOrbitEmpty, o)
	}
	if _, err := s.store.Claim(o, e.Token); err != nil {
		return fmt.Errorf("%w: %s", ErrOrbitEmpty, o)
	}
	pc := s.forget(e.Token)
	s.lamp(o, nil)
	if pc == nil {
		return nil
	}
	s.emit(Event{Type: Disconnected, Entry: pc.entry, By: "api"})
	return pc.call.Terminate(ctx)
}
