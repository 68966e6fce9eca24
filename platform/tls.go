package platform

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// listenerTLS is a TLS listener's config and the source of its
// certificate.
type listenerTLS struct {
	*tls.Config
	src *certSource
}

// certSource serves a listener's certificate to handshakes and swaps it
// atomically on reload: handshakes after the swap get the new one,
// connections already up keep theirs.
type certSource struct {
	l   TLSListener
	cur atomic.Pointer[tls.Certificate]
}

func (c *certSource) load() error {
	cert, err := tls.LoadX509KeyPair(c.l.CertFile, c.l.KeyFile)
	if err != nil {
		return fmt.Errorf("platform: tls %s: %w", c.l.Addr, err)
	}
	c.cur.Store(&cert)
	return nil
}

func (c *certSource) get(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.cur.Load(), nil }

// ReloadCertificates reads every TLS listener's certificate and key
// files again; new handshakes use them, established connections are not
// touched. A listener whose files fail to load keeps its certificate and
// the error is returned (joined for several). cmd/switchboard calls it on
// SIGHUP. Safe for concurrent use.
func (p *Platform) ReloadCertificates() error {
	var errs []error
	for _, c := range p.certFiles {
		errs = append(errs, c.load())
	}
	return errors.Join(errs...)
}

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
