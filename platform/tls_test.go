package platform_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/platform"
)

type certKey struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	der  []byte
}

func issue(t *testing.T, name string, parent *certKey, isCA bool) *certKey {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IsCA:        isCA, BasicConstraintsValid: true,
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:    []string{name},
	}
	signer, signKey := tmpl, key
	if parent != nil {
		signer, signKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &certKey{cert: c, key: key, der: der}
}

func (c *certKey) files(t *testing.T, dir, name string) (certFile, keyFile string) {
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.der}), 0o600)
	kb, _ := x509.MarshalECPrivateKey(c.key)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return
}

// TestTLSClientCertificateNamesAreTrusted: a trusted-only endpoint on a TLS
// listener accepts a peer whose verified client certificate names a
// trusted peer, and refuses (403) one whose certificate names someone else.
func TestTLSClientCertificateNamesAreTrusted(t *testing.T) {
	dir := t.TempDir()
	ca := issue(t, "test-ca", nil, true)
	caFile, _ := ca.files(t, dir, "ca")
	srvCert, srvKey := issue(t, "switchboard", ca, false).files(t, dir, "server")
	p, err := platform.New(platform.Config{
		TLS:              []platform.TLSListener{{Addr: "127.0.0.1:0", CertFile: srvCert, KeyFile: srvKey, ClientCAFile: caFile}},
		TrustedCertNames: []string{"trusted-peer"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ep, err := endpoint.NewApplication(p, endpoint.Settings{OwnerURI: "sip:admin@127.0.0.1", TrustedOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	ep.HandleCalls(endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) { _ = c.Decline(ctx, 486) }))
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	for name, want := range map[string]string{"trusted-peer": "SIP/2.0 486", "someone-else": "SIP/2.0 403"} {
		cf, kf := issue(t, name, ca, false).files(t, dir, name)
		cert, _ := tls.LoadX509KeyPair(cf, kf)
		conn, err := tls.Dial("tcp", p.Addr("tls").String(), &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, ServerName: "switchboard"})
		if err != nil {
			t.Fatal(err)
		}
		local := conn.LocalAddr().String()
		invite := strings.Join([]string{
			"INVITE sip:admin@127.0.0.1 SIP/2.0",
			"Via: SIP/2.0/TLS " + local + ";branch=z9hG4bK" + name,
			"From: <sip:" + name + "@127.0.0.1>;tag=1",
			"To: <sip:admin@127.0.0.1>",
			"Call-ID: tls-" + name,
			"CSeq: 1 INVITE",
			"Contact: <sip:" + name + "@" + local + ";transport=tls>",
			"Max-Forwards: 70",
			"Content-Type: application/sdp",
		}, "\r\n")
		body := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
		conn.Write([]byte(invite + "\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body))
		conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		r := bufio.NewReader(conn)
		var got string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				break
			}
			if strings.HasPrefix(line, "SIP/2.0 ") && !strings.HasPrefix(line, "SIP/2.0 100") {
				got = strings.TrimSpace(line)
				break
			}
		}
		conn.Close()
		if !strings.HasPrefix(got, want) {
			t.Errorf("certificate %q: got %q, want %s", name, got, want)
		}
	}
}
