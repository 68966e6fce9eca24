// Package callsession lets Switchboard's own packages reach the parts of
// an endpoint call that applications never see: the RTP session behind
// its narrow media.Flow, the call at the other end of its dialog when both
// ends are on this platform, and the in-process media splice that joins
// such local calls without loopback RTP.
//
// Go offers no "friend" access across packages, so package endpoint
// installs these accessors when it is initialized; they are set once and
// never changed, so they are not mutable state in the sense of the house
// style. The calls are passed as any (they are *endpoint.Call) because
// endpoint imports this package.
package callsession

import "github.com/switchboard-sip/switchboard/media"

// Splicer is offered by the consumer of a call's media (a conference
// participant) that can take its media from another flow directly: the
// flow of a call bridged to this one on the same platform.
type Splicer interface {
	// Splice makes f the source and destination of the call's media
	// instead of the call's own session. It may be called again to move
	// to another flow (a leg re-paired by a transfer).
	Splice(f *media.Flow) error
}

var (
	// Of returns the RTP session of call, or nil when it has no media.
	Of func(call any) *media.Session
	// LocalPeer returns the call at the other end of call's dialog when
	// that end is a call on this platform too (an application endpoint
	// calling the conference service), or nil.
	LocalPeer func(call any) any
	// OfferSplice records s as the splicer of call (nil withdraws it).
	OfferSplice func(call any, s Splicer)
	// SpliceOf returns the splicer offered for call, or nil.
	SpliceOf func(call any) Splicer
	// MediaElsewhere closes call's own RTP session because src carries
	// its media now: the call keeps its dialog, and its RTP inactivity
	// timer watches src.
	MediaElsewhere func(call any, src *media.Flow)
	// OnSignalledDTMF adds a DTMF handler to call, as OnDTMF does, that
	// wants only signalled keys (RFC 4733, SIP INFO): unlike OnDTMF it
	// does not start the in-band detector, which decodes all audio heard.
	OnSignalledDTMF func(call any, f func(media.DTMFEvent)) (remove func())
)
