package switchboardtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/platform"
)

// TLSOptions configure NewTLSServer.
type TLSOptions struct {
	// Config is the platform config; its listen addresses are ignored.
	Config platform.Config
	// Logger receives the platform's logs; default as NewServer's.
	Logger *slog.Logger
}

// NewTLSServer is NewServer with a TLS listener on an ephemeral port of
// 127.0.0.1 besides UDP and TCP, serving a self-signed certificate for
// 127.0.0.1 and "switchboard" written to files in t.TempDir (CertFile).
func NewTLSServer(t testing.TB, opts TLSOptions) *Server {
	t.Helper()
	certFile, keyFile := WriteSelfSigned(t, t.TempDir(), "switchboard")
	log := opts.Logger
	if log == nil {
		log = Logger(t)
	}
	return newServer(t, opts.Config, []platform.TLSListener{{Addr: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile}}, log)
}

// WriteSelfSigned writes a self-signed ECDSA certificate for name and
// 127.0.0.1, valid for a day, and its key to dir as name.crt and
// name.key (PEM).
func WriteSelfSigned(t testing.TB, dir, name string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:    []string{name},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TLSURI returns the server's URI for user over TLS (NewTLSServer).
func (s *Server) TLSURI(user string) string {
	return fmt.Sprintf("sip:%s@127.0.0.1:%d;transport=tls", user, s.Addr("tls").(*net.TCPAddr).Port)
}
