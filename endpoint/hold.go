package endpoint

import (
	"context"

	"github.com/switchboard-sip/switchboard/media/sdp"
)

// HoldType selects how a call is held.
type HoldType int

// Hold types, as in UCMA.
const (
	// HoldNone is an active call (sendrecv).
	HoldNone HoldType = iota
	// HoldBoth stops media both ways (inactive).
	HoldBoth
	// HoldRemote stops the remote side's media; we may still send
	// (sendonly).
	HoldRemote
	// HoldRemoteWithMusic is HoldRemote with music on hold played to the
	// remote party; the media engine attaches the player.
	HoldRemoteWithMusic
)

func (h HoldType) direction() sdp.Direction {
	switch h {
	case HoldBoth:
		return sdp.Inactive
	case HoldRemote, HoldRemoteWithMusic:
		return sdp.SendOnly
	}
	return sdp.SendRecv
}

// Hold puts the call on hold with a re-INVITE. The restriction applies
// locally at once, even if the remote side rejects the offer.
func (c *Call) Hold(ctx context.Context, t HoldType) error {
	c.mu.Lock()
	if c.state != Established {
		c.mu.Unlock()
		return ErrState
	}
	c.hold = t
	c.local.Direction = t.direction()
	if c.rtp != nil && !c.local.Direction.CanSend() {
		c.rtp.SetSending(false)
	}
	c.mu.Unlock()
	return c.reinvite(ctx)
}

// Retrieve takes the call off hold; media resumes when the answer arrives.
func (c *Call) Retrieve(ctx context.Context) error {
	return c.Hold(ctx, HoldNone)
}

// HoldType returns the current hold type.
func (c *Call) HoldType() HoldType {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hold
}
