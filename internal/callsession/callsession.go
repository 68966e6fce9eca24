// Package callsession lets Switchboard's own packages reach the RTP
// session behind an endpoint call, which applications only see through
// its narrow media.Flow. The test kit's lossy relay is the one user: it
// points two calls' sessions at itself, as a network in the middle would.
//
// Go offers no "friend" access across packages, so package endpoint
// installs the accessor when it is initialized; it is set once and never
// changed, so it is not mutable state in the sense of the house style.
package callsession

import "github.com/switchboard-sip/switchboard/media"

// Of returns the RTP session of call, an *endpoint.Call, or nil when the
// call has no media. It is installed by package endpoint's init.
var Of func(call any) *media.Session
