package ivr

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/switchboard-sip/switchboard/conference"
	"github.com/switchboard-sip/switchboard/endpoint"
)

// AnnouncerOptions configure an Announcer.
type AnnouncerOptions struct {
	// EntryTone and ExitTone, when set, are played into the conference
	// whenever an ordinary (not trusted) participant joins or leaves.
	EntryTone, ExitTone Prompt
}

// Announcer plays prompts into a conference from a hidden participant: a
// call from an application endpoint that joins as a trusted participant
// with a generated identity, so it appears in no RFC 4575 roster and can
// sit next to other legs of the same endpoint (UCMA's trusted
// conference join). The leg joins on the first Play and stays until Close
// or the end of the conference.
//
// Methods are safe for concurrent use; plays take turns.
type Announcer struct {
	ep   *endpoint.Endpoint
	conf *conference.Conference
	opts AnnouncerOptions

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	remove func()

	play   sync.Mutex // one play at a time
	mu     sync.Mutex
	leg    *endpoint.Call
	closed bool
}

// NewAnnouncer returns an announcer for conf whose leg is placed from ep,
// which must be an application endpoint of conf's platform.
func NewAnnouncer(ep *endpoint.Endpoint, conf *conference.Conference, opts AnnouncerOptions) *Announcer {
	a := &Announcer{ep: ep, conf: conf, opts: opts}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	a.remove = func() {}
	if opts.EntryTone.d != nil || opts.ExitTone.d != nil {
		a.remove = conf.OnRosterChanged(a.rosterChanged)
	}
	return a
}

// rosterChanged runs on the conference's event goroutine: it only starts
// a goroutine.
func (a *Announcer) rosterChanged(rc conference.RosterChange) {
	var p Prompt
	for _, j := range rc.Joined {
		if !j.Trusted {
			p = a.opts.EntryTone
		}
	}
	for _, l := range rc.Left {
		if !l.Trusted {
			p = a.opts.ExitTone
		}
	}
	if p.d == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	a.wg.Go(func() {
		ctx, cancel := context.WithTimeout(a.ctx, 10*time.Second+p.Duration())
		defer cancel()
		_ = a.Play(ctx, p)
	})
}

// Leg returns the announcer's call, nil before the first Play.
func (a *Announcer) Leg() *endpoint.Call {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.leg
}

// Play joins the conference if the announcer has not yet, then plays the
// prompts into it and returns when they end, ctx is done or the announcer
// is closed.
func (a *Announcer) Play(ctx context.Context, prompts ...Prompt) error {
	a.play.Lock()
	defer a.play.Unlock()
	ctx, stop := mergeDone(ctx, a.ctx)
	defer stop()
	leg, err := a.join(ctx)
	if err != nil {
		return err
	}
	f := leg.Flow()
	for _, p := range prompts {
		pcm, err := p.PCM(f.SampleRate())
		if err != nil {
			return err
		}
		if err := f.Play(ctx, pcm); err != nil {
			return err
		}
	}
	return nil
}

func (a *Announcer) join(ctx context.Context) (*endpoint.Call, error) {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil, fmt.Errorf("ivr: announcer of %s is closed", a.conf.ID())
	}
	if a.leg != nil && a.leg.State() == endpoint.StateEstablished {
		leg := a.leg
		a.mu.Unlock()
		return leg, nil
	}
	a.mu.Unlock()
	leg, err := a.conf.Join(ctx, a.ep.NewConversation(), conference.JoinOptions{Trusted: true, GeneratedIdentity: true})
	if err != nil {
		if leg != nil {
			_ = leg.Terminate(context.WithoutCancel(ctx))
		}
		return nil, fmt.Errorf("ivr: announcer join %s: %w", a.conf.ID(), err)
	}
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		_ = leg.Terminate(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("ivr: announcer of %s is closed", a.conf.ID())
	}
	a.leg = leg
	a.mu.Unlock()
	return leg, nil
}

// Close stops the tones, ends a play in progress and hangs up the leg. It
// waits for the goroutines it started and is idempotent.
func (a *Announcer) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	leg := a.leg
	a.mu.Unlock()
	a.remove()
	a.cancel()
	a.wg.Wait()
	if leg != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = leg.Terminate(ctx)
	}
	return nil
}

// mergeDone returns a context done when either a or b is done.
func mergeDone(a, b context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(a)
	stop := context.AfterFunc(b, cancel)
	return ctx, func() { stop(); cancel() }
}
