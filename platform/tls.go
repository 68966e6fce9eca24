package platform

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"time"
)

// certRegistry remembers the verified client certificate names of live TLS
// connections by remote address, so that trust is decided by the
// connection a request arrived on, never by a header.
type certRegistry struct {
	mu sync.Mutex
	m  map[string][]string
}

func newCertRegistry() *certRegistry { return &certRegistry{m: map[string][]string{}} }

func (r *certRegistry) names(remote string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[remote]
}

// tlsListener completes the handshake in Accept and records the verified
// peer certificate names before sipgo sees the connection.
type tlsListener struct {
	net.Listener
	conf *tls.Config
	reg  *certRegistry
}

func (l *tlsListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		tc := tls.Server(c, l.conf)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			_ = c.Close()
			continue
		}
		var names []string
		if st := tc.ConnectionState(); len(st.VerifiedChains) > 0 && len(st.PeerCertificates) > 0 {
			leaf := st.PeerCertificates[0]
			names = append(names, leaf.Subject.CommonName)
			names = append(names, leaf.DNSNames...)
		}
		remote := c.RemoteAddr().String()
		l.reg.mu.Lock()
		l.reg.m[remote] = names
		l.reg.mu.Unlock()
		return &trackedConn{Conn: tc, reg: l.reg, remote: remote}, nil
	}
}

type trackedConn struct {
	net.Conn
	reg    *certRegistry
	remote string
	once   sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.reg.mu.Lock()
		delete(c.reg.m, c.remote)
		c.reg.mu.Unlock()
	})
	return c.Conn.Close()
}
