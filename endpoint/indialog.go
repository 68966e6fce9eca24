package endpoint

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-sip/switchboard/media"
	"github.com/switchboard-sip/switchboard/media/sdp"
	"github.com/switchboard-sip/switchboard/platform"
)

// serveDialog handles an in-dialog request on its own goroutine.
func (c *Call) serveDialog(r *platform.Request) {
	if r.IsAck() {
		c.serveAck(r)
		return
	}
	c.mu.Lock()
	if r.Method == sip.NOTIFY && c.referWait {
		// The outcome of our REFER, even after the transferee's BYE
		// (handled first) or with a CSeq below it: see referWait.
		c.mu.Unlock()
		c.serveNotify(r)
		return
	}
	seq := r.CSeq().SeqNo
	if seq < c.dlg.remoteSeq && r.Method != sip.CANCEL {
		// RFC 3261 section 12.2.2: out of order.
		c.mu.Unlock()
		_ = r.Respond(sip.StatusInternalServerError, "Server Internal Error", nil)
		return
	}
	c.dlg.remoteSeq = seq
	state := c.state
	c.mu.Unlock()
	if state == StateTerminated {
		_ = r.Respond(sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil)
		return
	}
	switch r.Method {
	case sip.BYE:
		_ = r.Respond(sip.StatusOK, "OK", nil)
		c.log.Info("remote hung up")
		c.mu.Lock()
		reason := ReasonRemoteHangUp
		if c.transferred {
			reason = ReasonTransferred
		}
		c.setStateLocked(StateTerminated, reason)
		c.mu.Unlock()
	case sip.INVITE:
		c.serveReinvite(r)
	case sip.UPDATE:
		c.serveUpdate(r)
	case sip.REFER:
		c.serveRefer(r)
	case sip.NOTIFY:
		c.serveNotify(r)
	case sip.INFO:
		c.serveInfo(r)
	case sip.OPTIONS, sip.MESSAGE:
		_ = r.Respond(sip.StatusOK, "OK", nil)
	default:
		_ = r.Respond(sip.StatusMethodNotAllowed, "Method Not Allowed", nil, sip.NewHeader("Allow", platform.Allowed))
	}
}

func (c *Call) serveAck(r *platform.Request) {
	seq := r.CSeq().SeqNo
	if body := r.Body(); len(body) > 0 {
		// Answer to an offer we sent in a 2xx (delayed offer).
		c.mu.Lock()
		if n, err := sdp.ParseAnswer(body, &c.local); err == nil {
			c.applyLocked(n)
		}
		c.mu.Unlock()
	}
	c.ackReceived(seq)
}

// serveReinvite always answers a re-INVITE: 200 with our answer, 488 when
// the offer is unacceptable (the call goes on), 491 during our own
// re-INVITE (RFC 3261 section 14.2).
func (c *Call) serveReinvite(r *platform.Request) {
	c.mu.Lock()
	if c.reinviting {
		c.mu.Unlock()
		_ = r.Respond(sip.StatusRequestPending, "Request Pending", nil)
		return
	}
	body, ok := c.answerOfferLocked(r)
	if !ok {
		c.mu.Unlock()
		_ = r.Respond(sip.StatusNotAcceptableHere, "Not Acceptable Here", nil)
		return
	}
	if body == nil {
		var err error
		if body, err = sdp.Offer(&c.local); err != nil {
			c.mu.Unlock()
			_ = r.Respond(sip.StatusInternalServerError, "Server Internal Error", nil)
			return
		}
	}
	res := sip.NewResponseFromRequest(r.Request, sip.StatusOK, "OK", body)
	ct := c.contactLocked()
	res.AppendHeader(&ct)
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	res.AppendHeader(sip.NewHeader("Allow", platform.Allowed))
	c.refreshedLocked(r.Request, res)
	reliable := isReliable(c.dlg.transport)
	c.mu.Unlock()
	c.respond2xx(c.ctx, r.Tx, res, r.CSeq().SeqNo, reliable)
}

// serveInfo takes DTMF sent as SIP INFO: application/dtmf-relay
// ("Signal=5\r\nDuration=160", the de-facto format of Cisco and most PBXs)
// or application/dtmf ("5"). Other INFO bodies are acknowledged and
// ignored.
func (c *Call) serveInfo(r *platform.Request) {
	// Answer once the key is queued: the sender's next INFO, which it
	// sends after our 200, then cannot overtake this one.
	defer func() { _ = r.Respond(sip.StatusOK, "OK", nil) }()
	ct := ""
	if h := r.ContentType(); h != nil {
		ct = h.Value()
	}
	if digit, dur := parseDTMFInfo(ct, r.Body()); digit != 0 {
		c.dtmfReceived(media.DTMFEvent{Digit: digit, Duration: dur, Source: media.DTMFInfo})
	}
}

// parseDTMFInfo reads the key and duration of an INFO body of content
// type ct (application/dtmf-relay or application/dtmf); the key is 0 when
// there is none, and the duration 250 ms unless the body gives one
// between 1 ms and 10 s.
func parseDTMFInfo(ct string, body []byte) (digit rune, dur time.Duration) {
	ct = strings.ToLower(strings.TrimSpace(strings.Split(ct, ";")[0]))
	dur = 250 * time.Millisecond
	switch ct {
	case "application/dtmf-relay":
		for _, line := range strings.Split(string(body), "\n") {
			k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
			if !ok {
				continue
			}
			v = strings.TrimSpace(v)
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "signal":
				digit = infoDigit(v)
			case "duration":
				if ms, err := strconv.Atoi(v); err == nil && ms > 0 && ms < 10000 {
					dur = time.Duration(ms) * time.Millisecond
				}
			}
		}
	case "application/dtmf":
		digit = infoDigit(strings.TrimSpace(string(body)))
	}
	return digit, dur
}

// infoDigit maps an INFO signal value (a key, or an RFC 4733 event number
// 10/11 for * and #) to a key.
func infoDigit(v string) rune {
	switch {
	case len(v) == 1 && strings.ContainsRune("0123456789*#ABCDabcd", rune(v[0])):
		return []rune(strings.ToUpper(v))[0]
	case v == "10":
		return '*'
	case v == "11":
		return '#'
	}
	return 0
}

// answerOfferLocked answers the SDP offer of an in-dialog request and
// applies it; it returns nil when the request has no offer, and false for
// an unacceptable one, which the caller answers with 488 once it has
// unlocked (the call goes on). c.mu is held.
func (c *Call) answerOfferLocked(r *platform.Request) ([]byte, bool) {
	offer := r.Body()
	if len(offer) == 0 {
		return nil, true
	}
	ans, n, err := sdp.Answer(offer, &c.local)
	if err != nil {
		return nil, false
	}
	c.applyLocked(n)
	return ans, true
}

// serveUpdate answers UPDATE (RFC 3311), used by peers as a session
// refresh without SDP.
func (c *Call) serveUpdate(r *platform.Request) {
	c.mu.Lock()
	body, ok := c.answerOfferLocked(r)
	if !ok {
		c.mu.Unlock()
		_ = r.Respond(sip.StatusNotAcceptableHere, "Not Acceptable Here", nil)
		return
	}
	res := sip.NewResponseFromRequest(r.Request, sip.StatusOK, "OK", body)
	ct := c.contactLocked()
	res.AppendHeader(&ct)
	if body != nil {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	c.refreshedLocked(r.Request, res)
	c.mu.Unlock()
	_ = r.Tx.Respond(res)
}

// refreshedLocked treats an incoming re-INVITE or UPDATE as a session
// refresh (RFC 4028 section 9) and restarts the session timer.
func (c *Call) refreshedLocked(req *sip.Request, res *sip.Response) {
	if c.seInterval <= 0 {
		return
	}
	d, refresher, ok := parseSessionExpires(req.GetHeader("Session-Expires"))
	if ok {
		if d < c.seInterval {
			c.seInterval = d
		}
		if refresher == "" {
			refresher = "uac"
		}
		// In a request from the peer, "uac" means the peer refreshes.
		c.seRefresher = refresher == "uas"
		res.AppendHeader(sessionExpiresHeader(c.seInterval, refresher))
		if supports(req, "timer") {
			res.AppendHeader(sip.NewHeader("Require", "timer"))
		}
	}
	c.resetSessionTimerLocked()
}

// serveNotify takes the NOTIFYs of the refer event package (RFC 3515
// section 2.4.5) for our REFER.
func (c *Call) serveNotify(r *platform.Request) {
	ev := r.GetHeader("Event")
	if ev == nil || !strings.HasPrefix(strings.ToLower(strings.TrimSpace(ev.Value())), "refer") {
		_ = r.Respond(489, "Bad Event", nil)
		return
	}
	// Record the outcome before answering: the transferee may send BYE
	// as soon as it has our 200, and the transfer must be seen as done.
	if code, ok := sipfragStatus(r.Body()); ok {
		select {
		case c.referCh <- code:
		default:
		}
	} else if ss := r.GetHeader("Subscription-State"); ss != nil && strings.HasPrefix(strings.ToLower(ss.Value()), "terminated") {
		select {
		case c.referCh <- 0:
		default:
		}
	}
	_ = r.Respond(sip.StatusOK, "OK", nil)
}

// sipfragStatus reads the status code of a message/sipfrag body such as
// "SIP/2.0 200 OK".
func sipfragStatus(b []byte) (int, bool) {
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 2 || !strings.HasPrefix(f[0], "SIP/") {
		return 0, false
	}
	n, err := strconv.Atoi(f[1])
	return n, err == nil
}

// glareDelay is the random 2–4 s wait before retrying a re-INVITE that got
// 491 (RFC 3261 section 14.1).
func glareDelay() time.Duration {
	return 2*time.Second + time.Duration(time.Now().UnixNano()%int64(2*time.Second))
}

// reinvite sends a re-INVITE with a fresh offer of c.local and applies the
// answer. 491 is retried after a random 2–4 s.
func (c *Call) reinvite(ctx context.Context) error {
	c.reinviteMu.Lock()
	defer c.reinviteMu.Unlock()
	for attempt := 0; ; attempt++ {
		c.mu.Lock()
		if c.state == StateTerminated || c.state == StateTerminating {
			c.mu.Unlock()
			return ErrTerminated
		}
		offer, err := sdp.Offer(&c.local)
		if err != nil {
			c.mu.Unlock()
			return err
		}
		var hdrs []sip.Header
		if c.seInterval > 0 {
			ref := "uas"
			if c.seRefresher {
				ref = "uac"
			}
			hdrs = append(hdrs, sessionExpiresHeader(c.seInterval, ref), sip.NewHeader("Supported", "timer"))
		}
		req := c.requestLocked(sip.INVITE, offer, hdrs...)
		c.reinviting = true
		c.mu.Unlock()

		res, tx, err := c.do(ctx, req)
		c.mu.Lock()
		c.reinviting = false
		c.mu.Unlock()
		if err != nil {
			return err
		}
		switch {
		case res.IsSuccess():
			_ = c.sendAck(tx, req.CSeq().SeqNo, nil)
			c.mu.Lock()
			if n, err := sdp.ParseAnswer(res.Body(), &c.local); err == nil {
				c.applyLocked(n)
			}
			if d, ref, ok := parseSessionExpires(res.GetHeader("Session-Expires")); ok {
				c.seInterval, c.seRefresher = d, ref != "uas"
			}
			c.resetSessionTimerLocked()
			c.mu.Unlock()
			return nil
		case res.StatusCode == sip.StatusRequestPending && attempt < 3:
			tx.Terminate()
			select {
			case <-time.After(glareDelay()):
			case <-ctx.Done():
				return ctx.Err()
			}
		default:
			tx.Terminate()
			if res.StatusCode == 408 || res.StatusCode == 481 {
				// RFC 5057 section 5.1: the dialog is gone.
				go func() { _ = c.terminate(context.Background(), ReasonFailed) }()
			}
			return &ResponseError{Code: res.StatusCode, Reason: res.Reason, Res: res}
		}
	}
}
