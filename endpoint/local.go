package endpoint

import (
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-sip/switchboard/internal/callsession"
	"github.com/switchboard-sip/switchboard/internal/ua"
	"github.com/switchboard-sip/switchboard/media"
)

// This file lets two calls whose dialog runs between two endpoints of the
// same platform (a b2b leg joined to the conference service, say) skip the
// loopback RTP between them: see internal/callsession.

func init() {
	callsession.Of = func(call any) *media.Session { return call.(*Call).session() }
	callsession.LocalPeer = func(call any) any {
		if p := call.(*Call).localPeer(); p != nil {
			return p
		}
		return nil
	}
	callsession.OfferSplice = func(call any, s callsession.Splicer) {
		c := call.(*Call)
		c.mu.Lock()
		c.splicer = s
		c.mu.Unlock()
	}
	callsession.SpliceOf = func(call any) callsession.Splicer {
		c := call.(*Call)
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.splicer
	}
	callsession.MediaElsewhere = func(call any, src *media.Flow) { call.(*Call).mediaElsewhere(src) }
	callsession.OnSignalledDTMF = func(call any, f func(media.DTMFEvent)) func() { return call.(*Call).onSignalledDTMF(f) }
}

// noteSelfBranch is a sipgo client request option run after ua.Core's
// Prepare, before the initial INVITE leaves: when the INVITE goes to one of
// this platform's own listeners it records the Via branch, a value that
// then never leaves the process.
func (c *Call) noteSelfBranch(_ *sipgo.Client, req *sip.Request) error {
	if !c.p.IsListenerURI(req.Recipient) {
		return nil
	}
	if via := req.Via(); via != nil {
		if b, ok := via.Params.Get("branch"); ok {
			c.mu.Lock()
			c.selfBranch = b
			c.mu.Unlock()
		}
	}
	return nil
}

// sentBy reports whether in (an incoming call) is out (an outgoing call of
// this platform) arriving: out sent its INVITE to our own listener and in's
// INVITE carries that INVITE's Via branch. Call-ID and From tag alone are
// not enough: a remote party learns them from any INVITE we send it and
// can replay them from its own socket.
func sentBy(in, out *Call) bool {
	return out.sent(in.Request())
}

// sent reports whether req is the INVITE this outgoing call sent to one of
// this platform's own listeners: it carries that INVITE's Via branch.
func (c *Call) sent(req *sip.Request) bool {
	c.mu.Lock()
	branch := c.selfBranch
	c.mu.Unlock()
	if req == nil || branch == "" {
		return false
	}
	via := req.Via()
	if via == nil {
		return false
	}
	b, ok := via.Params.Get("branch")
	return ok && b == branch
}

// localPeer returns the call at the other end of c's dialog when it is a
// call of this platform: the dialog is registered under the same Call-ID
// with our remote tag as its local tag, and the incoming one of the two
// carries the outgoing one's self-addressed INVITE branch (sentBy).
func (c *Call) localPeer() *Call {
	c.mu.Lock()
	callID, remoteTag := c.dlg.callID, c.dlg.remoteTag
	c.mu.Unlock()
	if remoteTag == "" {
		return nil
	}
	h, ok := ua.Of(c.p).Dialog(callID, remoteTag)
	if !ok {
		return nil
	}
	peer, ok := callOf(h)
	if !ok || peer == c || peer.incoming == c.incoming {
		return nil
	}
	in, out := c, peer
	if !c.incoming {
		in, out = peer, c
	}
	if !sentBy(in, out) {
		return nil
	}
	return peer
}

// mediaElsewhere closes c's own RTP session, whose media src now carries,
// and points the RTP inactivity check at src.
func (c *Call) mediaElsewhere(src *media.Flow) {
	c.mu.Lock()
	c.mediaSrc = src
	s := c.rtp
	c.mu.Unlock()
	if s != nil {
		_ = s.Close()
	}
}
