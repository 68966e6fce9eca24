package park_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/apps/park"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/platform"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// fakeClock fires timers only when the test advances it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at      time.Time
	f       func()
	stopped bool
}

func (t *fakeTimer) Stop() bool { was := !t.stopped; t.stopped = true; return was }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) park.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	rest := c.timers[:0]
	for _, t := range c.timers {
		if !t.stopped && !t.at.After(c.now) {
			due = append(due, t)
		} else if !t.stopped {
			rest = append(rest, t)
		}
	}
	c.timers = rest
	c.mu.Unlock()
	for _, t := range due {
		t.f()
	}
}

// eventLog collects park events.
type eventLog struct {
	mu sync.Mutex
	ev []park.EventType
}

func (l *eventLog) add(e park.Event) { l.mu.Lock(); l.ev = append(l.ev, e.Type); l.mu.Unlock() }

func (l *eventLog) waitFor(t *testing.T, want park.EventType) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		l.mu.Lock()
		for _, e := range l.ev {
			if e == want {
				l.mu.Unlock()
				return
			}
		}
		got := append([]park.EventType(nil), l.ev...)
		l.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no %q event; got %v", want, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTimeoutChainRingBackThenFallback: under a fake clock, the pickup
// timeout rings the (busy) parker back, then the fallback answers and is
// connected to the parked party.
func TestTimeoutChainRingBackThenFallback(t *testing.T) {
	busy := sbt.NewPhone(t, "parker", sbt.PhoneOptions{Answer: func(ctx context.Context, c *endpoint.Call) error {
		_ = c.Decline(ctx, 486)
		return errors.New("busy")
	}})
	operator := sbt.NewPhone(t, "operator")
	clock := &fakeClock{now: time.Unix(1e9, 0)}
	var log eventLog
	r := newRigWithParker(t, park.Config{PickupTimeout: 30 * time.Second, MaxAttempts: 2, RingTime: 2 * time.Second, FallbackURI: operator.URI()},
		busy.URI(), park.WithClock(clock))
	r.svc.OnEvent(log.add)
	parked, _ := r.parkPhone(t, sbt.NewPhone(t, "caller"))
	clock.Advance(30 * time.Second) // first ring-back: busy
	log.waitFor(t, park.RingBack)
	time.Sleep(500 * time.Millisecond)
	clock.Advance(30 * time.Second) // second ring-back: busy, then the fallback
	log.waitFor(t, park.Fallback)
	op := operator.NextCall(t)
	log.waitFor(t, park.Retrieved)
	parked.StartTone(700)
	hears(t, op, 700, 0.7)
	if n := len(r.svc.List()); n != 0 {
		t.Fatalf("%d still parked", n)
	}
	op.Hangup(t)
}

// TestTimeoutChainDisconnectsAndTellsTheParker: no answer and no fallback:
// the parked party is disconnected and the parker gets a MESSAGE saying why.
func TestTimeoutChainDisconnectsAndTellsTheParker(t *testing.T) {
	msgs := make(chan string, 2)
	parker := sbt.NewPhone(t, "parker", sbt.PhoneOptions{Answer: func(ctx context.Context, c *endpoint.Call) error {
		_ = c.Decline(ctx, 480)
		return errors.New("away")
	}})
	parker.Endpoint.HandleOther(platform.HandlerFunc(func(r *platform.Request) {
		_ = r.Respond(200, "OK", nil)
		if r.Method != "MESSAGE" || r.From().Address.User != "park" || r.From().DisplayName != "Call Park" {
			msgs <- fmt.Sprintf("%s from %s", r.Method, r.From().Value())
			return
		}
		if ct := r.ContentType(); ct == nil || ct.Value() != "text/plain" {
			msgs <- fmt.Sprintf("Content-Type %v", ct)
			return
		}
		msgs <- string(r.Body())
	}))
	clock := &fakeClock{now: time.Unix(1e9, 0)}
	var log eventLog
	r := newRigWithParker(t, park.Config{PickupTimeout: 30 * time.Second, RingTime: time.Second}, parker.URI(), park.WithClock(clock))
	r.svc.OnEvent(log.add)
	parked, e := r.parkPhone(t, sbt.NewPhone(t, "caller"))
	clock.Advance(30 * time.Second)
	log.waitFor(t, park.Disconnected)
	parked.WaitTerminated(t, 5*time.Second)
	select {
	case m := <-msgs:
		if !strings.Contains(m, e.Orbit) || !strings.Contains(m, "disconnected") {
			t.Fatalf("parker was told %q", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the parker was not told why")
	}
	if n := len(r.svc.List()); n != 0 {
		t.Fatalf("%d still parked", n)
	}
}

// TestRealTimePickupTimeoutRingsParkerBack: with the minimum 10 s pickup
// timeout on a real clock, the parker is rung back and reconnected.
func TestRealTimePickupTimeoutRingsParkerBack(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 10 s")
	}
	parker := sbt.NewPhone(t, "parker")
	r := newRigWithParker(t, park.Config{PickupTimeout: 10 * time.Second, RingTime: 5 * time.Second}, parker.URI())
	parked, _ := r.parkPhone(t, sbt.NewPhone(t, "caller"))
	start := time.Now()
	back := parker.NextCallWithin(t, 15*time.Second)
	if d := time.Since(start); d < 9*time.Second {
		t.Fatalf("rung back after %v, want about 10 s", d)
	}
	parked.StartTone(650)
	hears(t, back, 650, 0.7)
	back.Hangup(t)
}

func newRigWithParker(t *testing.T, cfg park.Config, parkerURI string, opts ...park.Option) *rig {
	r := &rig{srv: sbt.NewServer(t, trustLoopback), desk: make(chan park.Entry, 8), errs: make(chan error, 8)}
	svc, err := park.New(r.srv.Platform, cfg, append([]park.Option{park.WithMusic(newMusic(t), "")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	r.svc = svc
	r.srv.Handle(t, "desk", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		if err := c.Accept(ctx); err != nil {
			r.errs <- err
			return
		}
		e, err := svc.Park(ctx, c, park.ParkOptions{Parker: parkerURI})
		if err != nil {
			r.errs <- err
			return
		}
		r.desk <- e
	}))
	return r
}
