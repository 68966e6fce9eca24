package platform

import (
	"bytes"
	"hash/fnv"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// This file holds the protocol strictness sipgo leaves to its users:
// answering datagrams that do not parse (sipgo drops them without a word)
// and refusing requests that parse but that RFC 3261 calls malformed.

// validate returns the response code and reason for a request that
// handlers must not see, or 0. Every check names what RFC 3261 asks.
func validate(req *sip.Request) (int, string) {
	switch {
	case req.SipVersion != "SIP/2.0":
		return 505, "Version Not Supported" // section 8.2.2.3 ... 21.5.6
	case req.From() == nil:
		return 400, "Missing From"
	case req.To() == nil:
		return 400, "Missing To"
	case req.CallID() == nil || req.CallID().Value() == "":
		return 400, "Missing Call-ID"
	case req.CSeq() == nil:
		return 400, "Missing CSeq"
	case req.CSeq().MethodName != req.Method:
		return 400, "CSeq Method Mismatch"
	case req.Recipient.Host == "":
		return 400, "Bad Request-URI"
	case len(req.GetHeaders("Content-Length")) > 1:
		// Two lengths let a stream be split two ways (request smuggling).
		return 400, reasonDuplicateLength
	}
	if _, ok := req.From().Params.Get("tag"); !ok {
		return 400, "Missing From Tag"
	}
	if req.IsInvite() {
		for _, h := range req.GetHeaders("Contact") {
			if strings.TrimSpace(h.Value()) == "*" {
				return 400, "Contact * Not Allowed" // section 10.2.2: REGISTER only
			}
		}
	}
	return 0, ""
}

// reasonDuplicateLength is the reason of the 400 for two Content-Length
// headers; over a stream the connection is closed after it (closeStream).
const reasonDuplicateLength = "Duplicate Content-Length"

// closeStream closes the TCP, TLS or WS connection req arrived on: after
// two Content-Length headers, where the next request begins is anybody's
// guess, so nothing more is read from it.
func (p *Platform) closeStream(req *sip.Request) {
	if strings.EqualFold(req.Transport(), "UDP") || p.ua == nil {
		return
	}
	pool := p.ua.TransportLayer().Pool(req.Transport())
	if pool == nil {
		return
	}
	c := pool.Get(req.Source())
	if c == nil {
		return
	}
	_, _ = c.TryClose() // give back the reference Get took before the socket goes
	// Close the socket beneath sipgo's connection: its read loop then
	// ends and releases the connection as for any closed peer.
	var conn net.Conn
	switch sc := c.(type) {
	case *sip.TCPConnection: // TLS connections are TCPConnections too
		conn = sc.Conn
	case *sip.WSConnection:
		conn = sc.Conn
	}
	if conn != nil {
		_ = conn.Close()
		p.log.Info("platform: closed a connection after a request with two Content-Length headers",
			"transport", req.Transport(), "source", req.Source())
	}
}

// respondInvalid answers a request that validate refused. A 505 is sent
// as SIP/2.0: the response copies the request's version otherwise.
func respondInvalid(r *Request, code int, reason string) {
	if r.IsAck() {
		return
	}
	if code == 505 {
		r.SipVersion = "SIP/2.0"
	}
	_ = r.Respond(code, reason, nil)
}

// screen looks at a datagram before sipgo does and answers, statelessly,
// what needs no transaction: a request sipgo's parser rejects (400 if at
// all possible, RFC 3261 sections 18.3 and 16.3; sipgo would drop it
// without a word), a request validate refuses, and an out-of-dialog
// OPTIONS (a keep-alive probe: a flood of them must not hold a server
// transaction each until Timer J). It reports whether it answered, and
// the datagram is then not handed to sipgo. Responses, ACKs and
// everything else go on to sipgo.
func (p *Platform) screen(conn net.PacketConn, parser *sip.Parser, b []byte, from net.Addr) bool {
	if len(bytes.TrimSpace(b)) == 0 || bytes.HasPrefix(b, []byte("SIP/")) {
		return false // a CRLF keep-alive, or a response: sipgo's alone
	}
	msg, err := parser.ParseSIP(b)
	if err != nil {
		return answerUnparsable(conn, b, from)
	}
	req, ok := msg.(*sip.Request)
	if !ok || req.IsAck() {
		return false
	}
	if code, reason := validate(req); code != 0 {
		if p.obs != nil {
			p.obs.ObserveRequest(string(req.Method))
		}
		req.SipVersion = "SIP/2.0"
		p.writeFitted(conn, from, sip.NewResponseFromRequest(req, code, reason, nil), len(b))
		return true
	}
	if !hasToTag(req) {
		src := sourceAddr(from)
		if res, drop := p.admitOutOfDialog(req, src, p.trustedAddr(src)); drop {
			return true
		} else if res != nil {
			req.SipVersion = "SIP/2.0"
			p.writeFitted(conn, from, res, len(b))
			return true
		}
	}
	if req.Method == sip.OPTIONS && !hasToTag(req) {
		if mf := req.MaxForwards(); mf != nil && mf.Val() == 0 {
			return false // 483 from ServeRequest
		}
		if p.obs != nil {
			p.obs.ObserveRequest(string(req.Method))
		}
		p.writeFitted(conn, from, p.optionsResponse(req), len(b))
		return true
	}
	return false
}

// writeFitted is writeStateless for a response to a datagram of size
// bytes: to a source that is not a trusted peer (screen knows no other
// identity) it is fitted to that size first (fitResponse), and not sent
// when it cannot be, with Config.NoAmplification.
func (p *Platform) writeFitted(conn net.PacketConn, to net.Addr, res *sip.Response, size int) {
	if p.cfg.NoAmplification && !p.trustedAddr(sourceAddr(to)) && !fitResponse(res, size) {
		p.rejected(string(res.CSeq().MethodName), RejectAmplification)
		return
	}
	p.writeStateless(conn, to, res)
}

func hasToTag(req *sip.Request) bool {
	tag, ok := req.To().Params.Get("tag")
	return ok && tag != ""
}

// writeStateless sends a response outside any transaction, to the address
// the request came from (what sipgo does for UDP), with a To tag derived
// from the request so that a retransmission is answered alike (RFC 3261
// section 8.2.6.2).
func (p *Platform) writeStateless(conn net.PacketConn, to net.Addr, res *sip.Response) {
	if t := res.To(); t != nil && res.StatusCode > 100 {
		if _, ok := t.Params.Get("tag"); !ok {
			h := fnv.New64a()
			h.Write([]byte(res.CallID().Value()))
			if via := res.Via(); via != nil {
				b, _ := via.Params.Get("branch")
				h.Write([]byte(b))
			}
			t.Params.Add("tag", strconv.FormatUint(h.Sum64(), 36))
		}
	}
	if p.obs != nil {
		p.obs.ObserveResponse(string(res.CSeq().MethodName), res.StatusCode)
	}
	_, _ = conn.WriteTo([]byte(res.String()), to)
}

// answerUnparsable answers a datagram that does not parse when it is a
// request with enough headers to address a response; it reports whether
// it was a request (answered or not: it is not passed on).
func answerUnparsable(conn net.PacketConn, b []byte, from net.Addr) bool {
	line, rest, ok := bytes.Cut(b, []byte("\r\n"))
	if !ok || !bytes.HasSuffix(line, []byte(" SIP/2.0")) || bytes.HasPrefix(line, []byte("ACK ")) {
		return false
	}
	var res bytes.Buffer
	res.WriteString("SIP/2.0 400 Bad Request\r\n")
	have := map[string]bool{}
	head, _, _ := bytes.Cut(rest, []byte("\r\n\r\n"))
	for _, h := range bytes.Split(head, []byte("\r\n")) {
		name, _, ok := bytes.Cut(h, []byte(":"))
		if !ok || bytes.ContainsAny(h, "\r\n\x00") {
			continue
		}
		switch n := strings.ToLower(strings.TrimSpace(string(name))); n {
		case "via", "v", "from", "f", "to", "t", "call-id", "i", "cseq":
			res.Write(h)
			res.WriteString("\r\n")
			have[n[:1]] = true
		}
	}
	if !have["v"] || !have["c"] {
		return true // nothing to address a response with: drop it
	}
	res.WriteString("Content-Length: 0\r\n\r\n")
	_, _ = conn.WriteTo(res.Bytes(), from)
	return true
}

// mergeDetector finds merged requests (RFC 3261 section 8.2.2.2): a
// request without a To tag whose From tag, Call-ID and CSeq equal those of
// a recent request that arrived with another branch, as when a forking
// proxy delivers one request twice by two paths. The second one gets 482.
// Entries live for 64*T1, like the server transaction they stand for;
// the table is bounded, so a flood cannot grow it without limit (when it
// is full the oldest entries go first).
type mergeDetector struct {
	mu    sync.Mutex
	ttl   time.Duration
	max   int
	seen  map[string]mergeEntry
	order []string // keys in arrival order, for expiry
}

type mergeEntry struct {
	branch string
	at     time.Time
}

func newMergeDetector(ttl time.Duration, max int) *mergeDetector {
	return &mergeDetector{ttl: ttl, max: max, seen: map[string]mergeEntry{}}
}

// merged records req and reports whether it merges with an earlier one.
func (m *mergeDetector) merged(req *sip.Request, now time.Time) bool {
	if req.IsAck() || req.IsCancel() {
		return false
	}
	if tag, ok := req.To().Params.Get("tag"); ok && tag != "" {
		return false
	}
	via := req.Via()
	if via == nil {
		return false
	}
	branch, _ := via.Params.Get("branch")
	fromTag, _ := req.From().Params.Get("tag")
	key := fromTag + "\x00" + req.CallID().Value() + "\x00" + strconv.FormatUint(uint64(req.CSeq().SeqNo), 10) + " " + string(req.CSeq().MethodName)
	m.mu.Lock()
	defer m.mu.Unlock()
	for len(m.order) > 0 {
		k := m.order[0]
		if e, ok := m.seen[k]; ok && now.Sub(e.at) < m.ttl && len(m.order) < m.max {
			break
		}
		delete(m.seen, k)
		m.order = m.order[1:]
	}
	if e, ok := m.seen[key]; ok {
		return e.branch != branch // the same branch is a retransmission
	}
	m.seen[key] = mergeEntry{branch: branch, at: now}
	m.order = append(m.order, key)
	return false
}
