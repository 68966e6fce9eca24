package platform

import (
	"bytes"
	"hash/maphash"
	"net"
	"sync"
	"time"
)

// Directions of a retransmission, as RetransmissionObserver reports them.
const (
	DirectionReceived = "received"
	DirectionSent     = "sent"
)

// RetransmissionObserver is an Observer that also counts retransmitted
// SIP messages. sipgo's transaction layer absorbs retransmissions without
// telling anyone (a request retransmitted to a server transaction, a
// response to a client transaction) and retransmits on its own timers
// (RFC 3261 section 17: timers A, E and G), so the platform finds them
// where every UDP datagram passes: its listening sockets. A retransmission
// is a datagram identical to one received (or sent) on that socket within
// the last 64·T1 (32 s by default) — or within the last 65,536 datagrams
// of that direction when traffic is heavier, so that memory stays bounded.
// TCP, TLS and WebSocket carry no retransmissions (section 17.1.1.2).
//
// If the Observer passed to WithObserver implements it,
// ObserveRetransmission runs on the goroutine that reads or writes the
// datagram and must not block.
type RetransmissionObserver interface {
	Observer
	// ObserveRetransmission is called for each retransmitted datagram:
	// method is the request's method or, for a response, its CSeq method;
	// direction is DirectionReceived or DirectionSent.
	ObserveRetransmission(method string, response bool, direction string)
}

// dupSet remembers the hashes of recent datagrams of one direction in two
// generations: a hash is a duplicate if either holds it; the older one is
// dropped when the newer is half the window old or full.
type dupSet struct {
	mu        sync.Mutex
	seed      maphash.Seed
	half      time.Duration
	max       int
	cur, prev map[uint64]struct{}
	since     time.Time
}

func newDupSet(window time.Duration, max int) *dupSet {
	return &dupSet{seed: maphash.MakeSeed(), half: window / 2, max: max / 2,
		cur: map[uint64]struct{}{}, prev: map[uint64]struct{}{}}
}

// seen records b and reports whether an identical datagram was recorded
// within the window.
func (d *dupSet) seen(b []byte, now time.Time) bool {
	h := maphash.Bytes(d.seed, b)
	d.mu.Lock()
	defer d.mu.Unlock()
	if now.Sub(d.since) >= d.half || len(d.cur) >= d.max {
		clear(d.prev)
		d.prev, d.cur = d.cur, d.prev
		d.since = now
	}
	if _, ok := d.cur[h]; ok {
		return true
	}
	if _, ok := d.prev[h]; ok {
		return true
	}
	d.cur[h] = struct{}{}
	return false
}

// retransmissions watches one platform's UDP datagrams for duplicates.
type retransmissions struct {
	obs            RetransmissionObserver
	received, sent *dupSet
}

func newRetransmissions(obs RetransmissionObserver, window time.Duration) *retransmissions {
	const max = 1 << 17 // both generations of one direction
	return &retransmissions{obs: obs, received: newDupSet(window, max), sent: newDupSet(window, max)}
}

// check reports b to the observer if it repeats an earlier datagram of
// its direction. Keep-alives (CRLF) are not SIP messages and are skipped.
func (r *retransmissions) check(b []byte, d *dupSet, direction string) {
	if len(b) < 8 || len(bytes.TrimSpace(b[:min(len(b), 8)])) == 0 {
		return
	}
	if !d.seen(b, time.Now()) {
		return
	}
	method, response := messageMethod(b)
	r.obs.ObserveRetransmission(method, response, direction)
}

// messageMethod reads the method of a raw SIP message without parsing it
// all: a request's first token, or the method of a response's CSeq.
func messageMethod(b []byte) (method string, response bool) {
	line, rest, _ := bytes.Cut(b, []byte("\r\n"))
	if !bytes.HasPrefix(line, []byte("SIP/")) {
		m, _, _ := bytes.Cut(line, []byte(" "))
		return string(m), false
	}
	head, _, _ := bytes.Cut(rest, []byte("\r\n\r\n"))
	for _, h := range bytes.Split(head, []byte("\r\n")) {
		name, val, ok := bytes.Cut(h, []byte(":"))
		if !ok || !bytes.EqualFold(bytes.TrimSpace(name), []byte("CSeq")) {
			continue
		}
		f := bytes.Fields(val)
		if len(f) == 2 {
			return string(f[1]), true
		}
	}
	return "", true
}

// WriteTo sends a datagram and counts it if it repeats one already sent.
func (c *readyConn) WriteTo(b []byte, to net.Addr) (int, error) {
	if r := c.p.retx; r != nil {
		r.check(b, r.sent, DirectionSent)
	}
	return c.PacketConn.WriteTo(b, to)
}
