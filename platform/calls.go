package platform

import "time"

// CallDefaults are the call timers every endpoint on the platform starts
// from: an endpoint.Settings field left zero takes the platform's value,
// and a zero here leaves the endpoint's own default. The platform itself
// keeps no calls; it only carries these for the endpoints built on it, so
// that one setting (the server's calls: section) reaches every app, the
// ones that build several endpoints included.
type CallDefaults struct {
	// SessionExpires is the RFC 4028 session interval (endpoint default
	// 30m; negative disables session timers).
	SessionExpires time.Duration
	// RTPTimeout ends a call whose remote side sends no RTP for this long
	// (endpoint default 30s; negative disables).
	RTPTimeout time.Duration
	// SRTP is the media encryption policy of endpoints that set none:
	// "off" (default), "optional" or "required" (endpoint.Settings.SRTP).
	SRTP string
}

// WithCallDefaults sets the call timers of every endpoint built on the
// platform that does not set its own.
func WithCallDefaults(d CallDefaults) Option { return func(p *Platform) { p.calls = d } }

// CallDefaults returns the platform's call timers (WithCallDefaults).
func (p *Platform) CallDefaults() CallDefaults { return p.calls }
