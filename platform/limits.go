package platform

import (
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"golang.org/x/time/rate"
)

// Rejection reasons counted by a RejectObserver.
const (
	RejectRate     = "rate"       // over the source's request rate (503 for INVITE, else dropped)
	RejectMaxCalls = "max_calls"  // the platform's call limit (503)
	RejectAuth     = "auth"       // digest credentials refused (403)
	RejectLocked   = "locked_out" // a source locked out after failed authentications (403)
)

// RejectObserver is an Observer that is also told of each request the
// platform refuses to protect itself (RejectRate, RejectMaxCalls), for
// metrics. Its method must not block.
type RejectObserver interface {
	ObserveRejected(method, reason string)
}

func (p *Platform) rejected(method, reason string) {
	if o, ok := p.obs.(RejectObserver); ok {
		o.ObserveRejected(method, reason)
	}
}

// sourceLimiter keeps a token bucket (golang.org/x/time/rate) per source
// address for out-of-dialog requests. The table is bounded: when it is
// full, buckets idle longer than it takes them to fill again are dropped
// (they would allow a full burst anyway), and if none is, new sources
// share one overflow bucket, so a spoofed-source flood costs bounded
// memory and still cannot pass more than the limit in all.
type sourceLimiter struct {
	limit    rate.Limit
	burst    int
	max      int
	mu       sync.Mutex
	buckets  map[netip.Addr]*bucket
	overflow *rate.Limiter
}

type bucket struct {
	lim  *rate.Limiter
	last time.Time
}

func newSourceLimiter(perSecond float64, burst, max int) *sourceLimiter {
	return &sourceLimiter{limit: rate.Limit(perSecond), burst: burst, max: max,
		buckets: make(map[netip.Addr]*bucket), overflow: rate.NewLimiter(rate.Limit(perSecond), burst)}
}

// allow reports whether one more request from src fits its rate.
func (l *sourceLimiter) allow(src netip.Addr, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[src]
	if b == nil {
		if len(l.buckets) >= l.max {
			refill := time.Duration(float64(l.burst) / float64(l.limit) * float64(time.Second))
			for k, v := range l.buckets {
				if now.Sub(v.last) > refill {
					delete(l.buckets, k)
				}
			}
		}
		if len(l.buckets) >= l.max {
			return l.overflow.AllowN(now, 1)
		}
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[src] = b
	}
	b.last = now
	return b.lim.AllowN(now, 1)
}

// admitOutOfDialog applies the platform's abuse limits to an out-of-dialog
// request from src (trusted peers are exempt: a proxy in front carries
// everyone's traffic). It returns the response to send instead of serving
// the request, or drop when it is to be dropped silently (scanner noise:
// anything but an INVITE over the rate, so that a flood is not answered);
// (nil, false) lets the request through.
func (p *Platform) admitOutOfDialog(req *sip.Request, src netip.Addr, trusted bool) (res *sip.Response, drop bool) {
	if trusted || req.IsAck() || req.IsCancel() {
		return nil, false
	}
	if p.limiter != nil && !p.limiter.allow(src, time.Now()) {
		p.rejected(string(req.Method), RejectRate)
		if req.Method != sip.INVITE {
			return nil, true
		}
		return p.busy(req), false
	}
	if req.Method == sip.INVITE && p.cfg.MaxCalls > 0 && p.ActiveDialogs() >= p.cfg.MaxCalls {
		p.rejected(string(req.Method), RejectMaxCalls)
		return p.busy(req), false
	}
	return nil, false
}

// busy is the 503 with Retry-After of a refused INVITE: smaller than the
// INVITE it answers, so the refusal amplifies nothing.
func (p *Platform) busy(req *sip.Request) *sip.Response {
	res := sip.NewResponseFromRequest(req, sip.StatusServiceUnavailable, "Service Unavailable", nil)
	res.AppendHeader(sip.NewHeader("Retry-After", strconv.Itoa(int(p.cfg.RetryAfter/time.Second))))
	return res
}

// uniformTx is the server transaction of an out-of-dialog request from a
// sender the platform does not know (untrusted, no identity) when
// Config.UniformRefusals is set: every 403 and 404 it answers goes out
// alike, so that a scanner (sipvicious svwar) cannot tell a missing user
// from an existing one that refused it, nor an empty orbit from an
// unknown number. With users (Config.Users) the refusal is the digest
// challenge every protected target sends (Asterisk's alwaysauthreject),
// else a plain 404 Not Found. Requests that carried credentials are not
// touched: their 403 is the answer to those credentials.
type uniformTx struct {
	sip.ServerTransaction
	r *Request
}

func (t uniformTx) Respond(res *sip.Response) error {
	if res.StatusCode == sip.StatusForbidden || res.StatusCode == sip.StatusNotFound {
		for _, h := range res.GetHeaders("Warning") {
			res.RemoveHeader(h.Name())
		}
		code, reason, hs := sip.StatusNotFound, "Not Found", []sip.Header(nil)
		if t.r.platform.auth != nil {
			code, reason, hs = t.r.ChallengeResponse()
		}
		res.StatusCode, res.Reason = code, reason
		for _, h := range hs {
			res.AppendHeader(h)
		}
	}
	return t.ServerTransaction.Respond(res)
}
