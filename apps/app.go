package apps

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/platform"
)

// Option configures the endpoint of a one-handler app (echo, announce).
type Option func(*endpoint.Settings)

// WithCallTimers sets the RFC 4028 session interval and the RTP timeout
// of the app's calls (see endpoint.Settings). Default: the endpoint's.
func WithCallTimers(sessionExpires, rtpTimeout time.Duration) Option {
	return func(s *endpoint.Settings) { s.SessionExpires, s.RTPTimeout = sessionExpires, rtpTimeout }
}

// WithCodecs sets the audio formats the app's calls offer and accept, in
// order of preference (see endpoint.Settings.Codecs): for example "G722",
// "PCMU", "PCMA", "telephone-event" to prefer wideband. Default: PCMU,
// PCMA, telephone-event.
func WithCodecs(names ...string) Option {
	return func(s *endpoint.Settings) { s.Codecs = names }
}

// Endpoint puts h on p at sip:<user>@host, for an app called name (which
// prefixes errors), with opts applied to its settings.
func Endpoint(p *platform.Platform, name, user string, h endpoint.Handler, opts []Option) (*endpoint.Endpoint, error) {
	st := endpoint.Settings{OwnerURI: "sip:" + user + "@" + p.Host()}
	for _, o := range opts {
		o(&st)
	}
	ep, err := endpoint.NewApplication(p, st)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	ep.HandleCalls(h)
	return ep, nil
}

// Calls tracks the calls an app is serving so that its Close can end them
// and wait for their handlers. The zero value is ready; it must not be
// copied.
type Calls struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

func (cs *Calls) initLocked() {
	if cs.ctx == nil {
		cs.ctx, cs.cancel = context.WithCancel(context.Background())
	}
}

// Enter admits the call being served on ctx: it returns ctx cancelled also
// by Close, and done, which the handler calls when it returns. After Close
// it returns ok false: decline the call (503).
func (cs *Calls) Enter(ctx context.Context) (_ context.Context, done func(), ok bool) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.closed {
		return ctx, func() {}, false
	}
	cs.initLocked()
	cs.wg.Add(1)
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(cs.ctx, cancel)
	return ctx, func() { stop(); cancel(); cs.wg.Done() }, true
}

// Context returns a context cancelled by Close, for the app's own work
// outside calls.
func (cs *Calls) Context() context.Context {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.initLocked()
	return cs.ctx
}

// Closed reports whether Close has begun.
func (cs *Calls) Closed() bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.closed
}

// Close refuses new calls, cancels the ones being served and waits for
// their handlers. It reports false when Close had been called before.
func (cs *Calls) Close() bool {
	cs.mu.Lock()
	if cs.closed {
		cs.mu.Unlock()
		return false
	}
	cs.closed = true
	cs.initLocked()
	cs.mu.Unlock()
	cs.cancel()
	cs.wg.Wait()
	return true
}
