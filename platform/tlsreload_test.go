package platform_test

import (
	"crypto/tls"
	"os"
	"testing"

	"github.com/switchboard-sip/switchboard/platform"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestTLSReloadCertificates: after the certificate files are replaced
// and ReloadCertificates is called (cmd/switchboard does on SIGHUP), a
// new handshake gets the new certificate; a connection made before keeps
// working; files that fail to load leave the running certificate in
// place and return an error.
func TestTLSReloadCertificates(t *testing.T) {
	sbt.CheckGoroutines(t)
	dir := t.TempDir()
	certFile, keyFile := issue(t, "first", nil, false).files(t, dir, "server")
	p, err := platform.New(platform.Config{TLS: []platform.TLSListener{{Addr: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile}}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	served := func() (string, *tls.Conn) {
		t.Helper()
		c, err := tls.Dial("tcp", p.Addr("tls").String(), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName, c
	}
	name, old := served()
	defer old.Close()
	if name != "first" {
		t.Fatalf("served %q", name)
	}
	next := issue(t, "second", nil, false)
	next.files(t, dir, "server") // same paths, new contents
	if name, c := served(); name != "first" {
		t.Fatalf("before reload served %q", name)
	} else {
		c.Close()
	}
	if err := p.ReloadCertificates(); err != nil {
		t.Fatal(err)
	}
	if name, c := served(); name != "second" {
		t.Fatalf("after reload served %q, want second", name)
	} else {
		c.Close()
	}
	if _, err := old.Write([]byte("\r\n\r\n")); err != nil { // keep-alive on the old connection
		t.Fatalf("old connection: %v", err)
	}
	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.ReloadCertificates(); err == nil {
		t.Fatal("broken certificate file reloaded without error")
	}
	if name, c := served(); name != "second" {
		t.Fatalf("after failed reload served %q, want second", name)
	} else {
		c.Close()
	}
}
