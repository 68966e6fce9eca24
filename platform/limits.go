package platform

import (
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"golang.org/x/time/rate"

	"github.com/switchboard-sip/switchboard/media/sdp"
)

// Rejection reasons counted by a RejectObserver.
const (
	RejectRate     = "rate"       // over the source's request rate (503 for INVITE, else dropped)
	RejectMaxCalls = "max_calls"  // the platform's call limit (503)
	RejectAuth     = "auth"       // digest credentials refused (403)
	RejectLocked   = "locked_out" // a source locked out after failed authentications (403)
	// RejectSourceCalls: the source's call limit, Config.MaxCallsPerSource (503).
	RejectSourceCalls = "max_calls_per_source"
	// RejectBodySize: a body over Config.MaxBodySize (413).
	RejectBodySize = "body_size"
	// RejectSDP: an SDP body over Config's SDP bounds (488).
	RejectSDP = "sdp_limits"
	// RejectAmplification: a response to an unverified UDP source that
	// stayed larger than its request once trimmed, and was not sent.
	RejectAmplification = "amplification"
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
	if req.Method == sip.INVITE && p.cfg.MaxCallsPerSource > 0 && p.core.DialogsFrom(src) >= p.cfg.MaxCallsPerSource {
		p.rejected(string(req.Method), RejectSourceCalls)
		return p.busy(req), false
	}
	return nil, false
}

// checkBody applies Config.MaxBodySize and the SDP bounds to any request,
// in a dialog or not: it returns the refusal to send (413, 488), or nil.
// Only Content-Length and a line count are looked at, so nothing is
// allocated in proportion to the body.
func (p *Platform) checkBody(req *sip.Request) (code int, reason string) {
	n := len(req.Body())
	if cl := req.ContentLength(); cl != nil && int(*cl) > n {
		n = int(*cl)
	}
	if p.cfg.MaxBodySize > 0 && n > p.cfg.MaxBodySize {
		p.rejected(string(req.Method), RejectBodySize)
		return sip.StatusRequestEntityTooLarge, "Request Entity Too Large"
	}
	if n == 0 {
		return 0, ""
	}
	ct := req.ContentType()
	if ct == nil || !strings.EqualFold(strings.TrimSpace(strings.Split(ct.Value(), ";")[0]), "application/sdp") {
		return 0, ""
	}
	lim := sdp.Limits{Size: p.cfg.SDPMaxSize, Media: p.cfg.SDPMaxMedia, Attributes: p.cfg.SDPMaxAttributes}
	if sdp.Check(req.Body(), lim) != nil {
		p.rejected(string(req.Method), RejectSDP)
		return sip.StatusNotAcceptableHere, "Not Acceptable Here"
	}
	return 0, ""
}

// courtesyHeaders, then identityHeaders, are removed from a response to
// an unverified UDP source that would be larger than its request: what
// they say is optional. The server's name goes last, as scanners and
// operators' probes (sipvicious svmap) look for it.
var (
	courtesyHeaders = []string{"Allow", "Accept", "Accept-Encoding", "Accept-Language", "Supported",
		"Warning", "Allow-Events", "Organization", "Date", "Retry-After"}
	identityHeaders = []string{"Server", "User-Agent"}
)

// fitResponse makes res no larger than limit bytes, the size of the
// request it answers from an unverified UDP source (untrusted, not
// authenticated), so that a spoofed source address gets nothing bigger
// than what was sent in its name (no amplification): it removes optional
// headers (courtesyHeaders, then identityHeaders), and of several digest
// challenges keeps only the last (MD5, which every phone answers). It
// reports whether res now fits; one that does not is not to be sent. A
// 2xx to an INVITE is left alone: it carries the session a caller
// without an offer asked for.
func fitResponse(res *sip.Response, limit int) bool {
	if len(res.String()) <= limit {
		return true
	}
	if res.StatusCode >= 200 && res.StatusCode < 300 && res.CSeq() != nil && res.CSeq().MethodName == sip.INVITE {
		return true
	}
	if ch := res.GetHeaders("WWW-Authenticate"); len(ch) > 1 {
		last := ch[len(ch)-1].Value()
		for range ch {
			res.RemoveHeader("WWW-Authenticate")
		}
		res.AppendHeader(sip.NewHeader("WWW-Authenticate", last))
	}
	for _, names := range [][]string{courtesyHeaders, identityHeaders} {
		for _, name := range names {
			for _, h := range res.GetHeaders(name) {
				res.RemoveHeader(h.Name())
			}
		}
		if len(res.String()) <= limit {
			return true
		}
	}
	return false
}

// smallTx is the server transaction of a request from an unverified UDP
// source: every response is fitted to the request's size (fitResponse),
// and one that cannot be is not sent. The request's size is measured as
// sipgo writes it (compact header names count at their full length).
type smallTx struct {
	sip.ServerTransaction
	p     *Platform
	limit int
}

func (t smallTx) Respond(res *sip.Response) error {
	if !fitResponse(res, t.limit) {
		t.p.rejected(string(res.CSeq().MethodName), RejectAmplification)
		return nil
	}
	return t.ServerTransaction.Respond(res)
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
