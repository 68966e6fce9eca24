package endpoint

import (
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
}

// localPeer returns the call at the other end of c's dialog when it is a
// call of this platform: the dialog is registered under the same Call-ID
// with our remote tag as its local tag.
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
	if !ok || peer == c {
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
