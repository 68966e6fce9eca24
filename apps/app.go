package apps

import (
	"fmt"
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
