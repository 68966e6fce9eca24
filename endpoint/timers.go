package endpoint

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// deadPeerByeTimeout bounds, in units of T1, the wait for the answer to a
// BYE sent because the peer looks dead (session expiry, RTP timeout): it
// will most likely never answer, and the call should not linger 64*T1.
const deadPeerByeTimeout = 4

func parseSessionExpires(h sip.Header) (time.Duration, string, bool) {
	if h == nil {
		return 0, "", false
	}
	parts := strings.Split(h.Value(), ";")
	n, err := strconv.Atoi(strings.TrimSpace(parts[0]))
	if err != nil || n <= 0 {
		return 0, "", false
	}
	refresher := ""
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, "refresher") {
			refresher = strings.ToLower(v)
		}
	}
	return time.Duration(n) * time.Second, refresher, true
}

func supports(m interface{ GetHeaders(string) []sip.Header }, opt string) bool {
	for _, h := range m.GetHeaders("Supported") {
		for _, v := range strings.Split(h.Value(), ",") {
			if strings.EqualFold(strings.TrimSpace(v), opt) {
				return true
			}
		}
	}
	return false
}

// negotiateSessionTimerUAS applies RFC 4028 section 9 to an incoming
// INVITE: use the interval the UAC asked for (never above our own), and let
// the UAC refresh when it supports timers. c.mu is held.
func (c *Call) negotiateSessionTimerUAS(req *sip.Request) error {
	local := c.ep.settings.SessionExpires
	if local <= 0 {
		return nil
	}
	d, refresher, ok := parseSessionExpires(req.GetHeader("Session-Expires"))
	if ok && d < c.ep.settings.MinSessionExpires {
		return errSessionIntervalTooSmall
	}
	uacSupports := supports(req, "timer")
	if !ok {
		if !uacSupports {
			// The UAC knows nothing of session timers: we refresh.
			c.seInterval, c.seRefresher = local, true
			c.rspHdrs = append(c.rspHdrs, sessionExpiresHeader(local, "uas"))
			return nil
		}
		d = local
	}
	if d > local {
		d = local
	}
	if refresher == "" {
		refresher = "uas"
		if uacSupports {
			refresher = "uac"
		}
	}
	c.seInterval, c.seRefresher = d, refresher == "uas"
	c.rspHdrs = append(c.rspHdrs, sessionExpiresHeader(d, refresher))
	if uacSupports {
		c.rspHdrs = append(c.rspHdrs, sip.NewHeader("Require", "timer"))
	}
	return nil
}

var errSessionIntervalTooSmall = errors.New("session interval too small")

// negotiateSessionTimerUAC reads the 2xx of our INVITE (RFC 4028 section
// 7.2). No Session-Expires means no session timer. c.mu is held.
func (c *Call) negotiateSessionTimerUAC(res *sip.Response) {
	d, refresher, ok := parseSessionExpires(res.GetHeader("Session-Expires"))
	if !ok || c.ep.settings.SessionExpires <= 0 {
		return
	}
	c.seInterval, c.seRefresher = d, refresher != "uas"
}

// startTimersLocked starts the session timer and the RTP inactivity timer
// once the call is established. c.mu is held.
func (c *Call) startTimersLocked() {
	c.resetSessionTimerLocked()
	if to := c.ep.settings.RTPTimeout; to > 0 && c.rtp != nil && c.rtpTimer == nil {
		c.rtpTimer = time.AfterFunc(to, c.checkRTP)
	}
}

// resetSessionTimerLocked (re)arms the session timer: the refresher
// refreshes at half the interval; the other side sends BYE when no refresh
// arrived by interval - min(32s, interval/3) (RFC 4028 section 10).
func (c *Call) resetSessionTimerLocked() {
	if c.seInterval <= 0 || c.state == StateTerminated {
		return
	}
	if c.seTimer != nil {
		c.seTimer.Stop()
	}
	if c.seRefresher {
		c.seTimer = time.AfterFunc(c.seInterval/2, c.refreshSession)
		return
	}
	c.seTimer = time.AfterFunc(c.seInterval-min(32*time.Second, c.seInterval/3), c.sessionExpired)
}

func (c *Call) refreshSession() {
	ctx, cancel := context.WithTimeout(c.ctx, 64*c.p.Config().T1)
	defer cancel()
	if err := c.reinvite(ctx); err != nil {
		if c.State() == StateTerminated {
			return
		}
		c.log.Warn("session refresh failed; ending call", "error", err)
		_ = c.terminate(context.Background(), ReasonSessionExpired)
		return
	}
}

func (c *Call) sessionExpired() {
	c.log.Info("session timer expired; ending call")
	ctx, cancel := context.WithTimeout(context.Background(), deadPeerByeTimeout*c.p.Config().T1)
	defer cancel()
	_ = c.terminate(ctx, ReasonSessionExpired)
}

// checkRTP ends the call when no RTP arrived for RTPTimeout while the
// negotiated direction says the remote side sends.
func (c *Call) checkRTP() {
	to := c.ep.settings.RTPTimeout
	c.mu.Lock()
	if c.state == StateTerminated || c.rtp == nil {
		c.mu.Unlock()
		return
	}
	expect := c.neg.Direction.CanReceive()
	last := c.rtp.LastReceived()
	if c.mediaSrc != nil {
		// Spliced: another call's session carries this call's media.
		last = c.mediaSrc.Stats().LastReceived
	}
	if c.negotiatedAt.After(last) {
		last = c.negotiatedAt
	}
	idle := time.Since(last)
	if !expect || idle < to {
		next := to - idle
		if !expect {
			next = to
		}
		c.rtpTimer.Reset(next)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.log.Info("no RTP; ending call", "idle", idle.String())
	ctx, cancel := context.WithTimeout(context.Background(), deadPeerByeTimeout*c.p.Config().T1)
	defer cancel()
	_ = c.terminate(ctx, ReasonRTPTimeout)
}
