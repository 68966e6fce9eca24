package endpoint

import (
	"context"
	"errors"

	"github.com/switchboard-sip/switchboard/media/audio"
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
	if c.state != StateEstablished {
		c.mu.Unlock()
		return ErrState
	}
	c.hold = t
	c.local.Direction = t.direction()
	if c.rtp != nil && !c.local.Direction.CanSend() {
		c.rtp.SetSending(false)
	}
	if c.rtp != nil && !c.local.Direction.CanReceive() {
		c.rtp.SetReceiving(false) // at once, before the answer
	}
	c.mu.Unlock()
	return c.reinvite(ctx)
}

// HoldWithMusic holds the call with HoldRemoteWithMusic and attaches the
// player to its media, so the held party hears it; Retrieve detaches it.
// The player is shared: one decode feeds every call attached to it.
func (c *Call) HoldWithMusic(ctx context.Context, music *audio.Player) error {
	if music == nil {
		return errors.New("endpoint: HoldWithMusic needs a player")
	}
	err := c.Hold(ctx, HoldRemoteWithMusic)
	c.mu.Lock()
	if c.hold == HoldRemoteWithMusic && c.rtp != nil {
		c.music = music
		music.Attach(c.flow)
	}
	c.mu.Unlock()
	return err
}

// Retrieve takes the call off hold (detaching music on hold); media
// resumes when the answer arrives.
func (c *Call) Retrieve(ctx context.Context) error {
	c.detachMusic()
	return c.Hold(ctx, HoldNone)
}

func (c *Call) detachMusic() {
	c.mu.Lock()
	m, s := c.music, c.flow
	c.music = nil
	c.mu.Unlock()
	if m != nil && s != nil {
		m.Detach(s)
	}
}

// HoldType returns the current hold type.
func (c *Call) HoldType() HoldType {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hold
}
