package platform

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Accept backoff bounds, as in net/http's Server.Serve.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

// connGuard is the state the stream listeners (TCP, TLS, WS) of one
// platform share: the open connections per source address and a signal
// that one of them closed. Its methods are safe for concurrent use.
type connGuard struct {
	idle         time.Duration // <= 0: no idle timeout
	maxPerSource int           // <= 0: no cap
	log          *slog.Logger

	mu        sync.Mutex
	perSource map[netip.Addr]int
	refusing  map[netip.Addr]bool // sources at the cap whose refusal was logged
	freed     chan struct{}       // closed (and replaced) when a connection closes

	refused atomic.Uint64 // connections refused by the cap, ever
}

func newConnGuard(idle time.Duration, maxPerSource int, log *slog.Logger) *connGuard {
	return &connGuard{
		idle:         idle,
		maxPerSource: maxPerSource,
		log:          log,
		perSource:    map[netip.Addr]int{},
		refusing:     map[netip.Addr]bool{},
		freed:        make(chan struct{}),
	}
}

// listen wraps l, a stream listener of the named transport.
func (g *connGuard) listen(l net.Listener, transport string) *guardedListener {
	return &guardedListener{Listener: l, g: g, transport: transport, done: make(chan struct{})}
}

// freedSignal returns a channel that is closed when the next guarded
// connection closes.
func (g *connGuard) freedSignal() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.freed
}

// admit counts c against its source's cap and wraps it, or closes it and
// returns nil when the source already has MaxConnsPerSource connections.
func (g *connGuard) admit(c net.Conn, transport string) net.Conn {
	src := sourceAddr(c.RemoteAddr())
	g.mu.Lock()
	if g.maxPerSource > 0 && g.perSource[src] >= g.maxPerSource {
		first := !g.refusing[src]
		g.refusing[src] = true
		g.mu.Unlock()
		_ = c.Close()
		n := g.refused.Add(1)
		if first {
			// Logged once per source until it drops below the cap again: a
			// flood of connections must not become a flood of log lines.
			g.log.Warn("platform: refusing connections over the per-source cap",
				"transport", transport, "source", src, "max_conns_per_source", g.maxPerSource, "refused_total", n)
		}
		return nil
	}
	g.perSource[src]++
	g.mu.Unlock()
	return &guardedConn{Conn: c, g: g, src: src, transport: transport}
}

// release forgets one connection of src and wakes accept loops that are
// backing off: the descriptor it held is free again.
func (g *connGuard) release(src netip.Addr) {
	g.mu.Lock()
	if n := g.perSource[src] - 1; n > 0 {
		g.perSource[src] = n
	} else {
		delete(g.perSource, src)
	}
	if g.perSource[src] < g.maxPerSource {
		delete(g.refusing, src)
	}
	close(g.freed)
	g.freed = make(chan struct{})
	g.mu.Unlock()
}

func sourceAddr(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	if a != nil {
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			return ap.Addr().Unmap()
		}
	}
	return netip.Addr{}
}

// guardedListener is the listener sipgo serves a TCP, TLS or WS transport
// on. sipgo's accept loop (sip.TransportTCP.Serve, TransportWS.Serve) ends
// at the first error Accept returns, which would stop the transport for
// good when file descriptors run out (EMFILE, ENFILE) or the kernel is
// short of buffers. So Accept retries every error with exponential backoff
// (5 ms doubling to 1 s, as net/http's Server.Serve does, and at once when
// one of the platform's connections closes), logs once per burst of
// failures, and returns an error only when the listener is closed. It also
// applies the connection guard: the per-source cap and the idle timeout.
type guardedListener struct {
	net.Listener
	g         *connGuard
	transport string
	done      chan struct{}
	closeOnce sync.Once
}

// Accept waits for the next admitted connection. It returns an error only
// once the listener is closed.
func (l *guardedListener) Accept() (net.Conn, error) {
	var (
		delay    time.Duration
		failures int
		since    time.Time
	)
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			select {
			case <-l.done:
				return nil, err
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return nil, err
			}
			freed := l.g.freedSignal()
			if delay == 0 {
				delay, since = acceptBackoffMin, time.Now()
				l.g.log.Warn("platform: accept failed; retrying with backoff",
					"transport", l.transport, "addr", l.Addr().String(), "error", err)
			} else if delay *= 2; delay > acceptBackoffMax {
				delay = acceptBackoffMax
			}
			failures++
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-freed:
				t.Stop()
			case <-l.done:
				t.Stop()
				return nil, net.ErrClosed
			}
			continue
		}
		if failures > 0 {
			l.g.log.Info("platform: accepting again",
				"transport", l.transport, "addr", l.Addr().String(), "failures", failures, "after", time.Since(since))
			delay, failures = 0, 0
		}
		if gc := l.g.admit(c, l.transport); gc != nil {
			return gc, nil
		}
	}
}

// Close closes the listener and ends a pending Accept. It is idempotent.
func (l *guardedListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// guardedConn is an accepted connection: it releases its place in the
// per-source count when closed, and when the idle timeout is set each Read
// waits at most that long. The connection's readers are sipgo's (and
// crypto/tls's, gobwas/ws's during the handshake), which set no read
// deadline of their own on it.
type guardedConn struct {
	net.Conn
	g         *connGuard
	src       netip.Addr
	transport string
	closeOnce sync.Once
}

// Read reads, failing when nothing arrives within the idle timeout. The
// error it then returns wraps net.ErrClosed, which sipgo's read loop takes
// for a closed connection: it ends that loop, which closes the connection
// and removes it from sipgo's pool (the TLS handshake and the WebSocket
// upgrade close it on error too). Read leaves the closing to them so that
// a TLS connection can still send its close_notify alert.
func (c *guardedConn) Read(b []byte) (int, error) {
	if c.g.idle > 0 {
		if err := c.Conn.SetReadDeadline(time.Now().Add(c.g.idle)); err != nil {
			return 0, err
		}
	}
	n, err := c.Conn.Read(b)
	if err != nil && c.g.idle > 0 && errors.Is(err, os.ErrDeadlineExceeded) {
		c.g.log.Debug("platform: closing an idle connection",
			"transport", c.transport, "remote", c.RemoteAddr().String(), "idle_timeout", c.g.idle)
		return n, fmt.Errorf("platform: %s connection from %s idle for %s: %w", c.transport, c.RemoteAddr(), c.g.idle, net.ErrClosed)
	}
	return n, err
}

// Close closes the connection and releases its place in the per-source
// count. It is idempotent (later calls return nil).
func (c *guardedConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		err = c.Conn.Close()
		c.g.release(c.src)
	})
	return err
}
