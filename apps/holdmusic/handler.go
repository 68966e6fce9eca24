package holdmusic

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/platform"
)

// User is the user part of the default music's URI, sip:moh@host; a named
// source answers at sip:moh-<name>@host.
const User = "moh"

// Handler returns the handler that plays hold music to callers. It picks
// the source from the user part of the Request-URI: "moh-<name>" plays
// the source called name (and declines with 404 Not Found if there is
// none); any other user plays the default source. It answers, attaches the
// call's media to the source's shared player, so the caller joins the
// music where it is, and detaches it when the caller hangs up or the
// Service closes. After Close it declines calls with 503.
func (s *Service) Handler() endpoint.Handler { return endpoint.HandlerFunc(s.serveCall) }

func (s *Service) serveCall(ctx context.Context, c *endpoint.Call) {
	cat := s.cat.Load()
	name := cat.def
	if rest, ok := strings.CutPrefix(c.Request().Recipient.User, User+"-"); ok {
		name = rest
	}
	p, ok := cat.players[name]
	if !ok {
		_ = c.Decline(ctx, 404)
		return
	}
	callCtx := ctx
	ctx, done, ok := s.calls.Enter(ctx)
	if !ok {
		_ = c.Decline(ctx, 503)
		return
	}
	if err := c.Accept(ctx); err != nil {
		done()
		return
	}
	sess := c.Flow()
	if sess == nil {
		done()
		return
	}
	log := s.log.With("call_id", c.CallID(), "moh", name)
	log.Debug("holdmusic: caller joined")
	p.Attach(sess)
	// The listener stays without a goroutine of its own (its stack was
	// most of what a music call cost): it leaves when the call ends or
	// the Service closes, which hangs the call up.
	c.HandOff()
	context.AfterFunc(ctx, func() {
		p.Detach(sess)
		log.Debug("holdmusic: caller left")
		if callCtx.Err() == nil {
			tctx, cancel := context.WithTimeout(context.Background(), 32*time.Second) // 64×T1, as the endpoint gives a returning handler
			_ = c.Terminate(tctx)
			cancel()
		}
		done()
	})
}

// register creates two application endpoints on p serving the Handler:
// sip:moh@host for the default source and a prefix endpoint sip:moh-@host
// for the named ones.
func (s *Service) register(p *platform.Platform) error {
	h := s.Handler()
	for _, st := range []endpoint.Settings{
		{OwnerURI: "sip:" + User + "@" + p.Host()},
		{OwnerURI: "sip:" + User + "-@" + p.Host(), Prefix: true},
	} {
		ep, err := endpoint.NewApplication(p, st)
		if err != nil {
			return fmt.Errorf("holdmusic: %w", err)
		}
		ep.HandleCalls(h)
		s.eps = append(s.eps, ep)
	}
	return nil
}
