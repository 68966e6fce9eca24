package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/media/dsp"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// freeTCPPort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestTLSSRTPEchoAndCertificateReload runs the built binary with a TLS
// listener and calls.srtp: optional, as an operator would: baresip calls
// sip:echo over SIP/TLS with SRTP (srtp-mand) and hears its own 500 Hz
// back, decrypted and re-encrypted by the server; the server's log never
// shows the SRTP keys baresip logged. Then the certificate files are
// replaced and SIGHUP makes the next TLS handshake present the new
// certificate, while a connection made before it stays up.
func TestTLSSRTPEchoAndCertificateReload(t *testing.T) {
	peers.RequireBaresip(t)
	dir := t.TempDir()
	bin := buildSwitchboard(t, dir)
	port, tlsPort := peers.FreeSIPPort(t), freeTCPPort(t)
	certFile, keyFile := sbt.WriteSelfSigned(t, dir, "first")
	cfgPath := filepath.Join(dir, "switchboard.yaml")
	cfg := fmt.Sprintf(`platform:
  udp: ["127.0.0.1:%d"]
  tcp: []
  tls: [{addr: "127.0.0.1:%d", cert_file: %q, key_file: %q}]
  rtp_port_min: 44000
  rtp_port_max: 44999
calls:
  srtp: optional
log:
  level: debug
admin:
  listen: "127.0.0.1:0"
apps:
  recording: {dir: %q}
  ivr: {message_dir: %q}
`, port, tlsPort, certFile, keyFile, dir, dir)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd, logs, _ := startServe(t, bin, dir, cfgPath, port)

	served := func() (string, *tls.Conn) {
		t.Helper()
		var c *tls.Conn
		var err error
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if c, err = tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", tlsPort), &tls.Config{InsecureSkipVerify: true}); err == nil || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			t.Fatalf("TLS dial: %v\n%s", err, logs.String())
		}
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName, c
	}
	name, before := served()
	defer before.Close()
	if name != "first" {
		t.Fatalf("served %q", name)
	}

	b := peers.StartBaresip(t, peers.BaresipOptions{User: "tlsecho", Codecs: []string{"PCMU"},
		AudioFile:   peers.WriteWAV(t, dsp.Sine(8000, 500, 60*time.Second, 0.3), 8000),
		ExtraConfig: "module\tsrtp.so", AccountParams: ";mediaenc=srtp-mand"})
	if err := b.Dial(fmt.Sprintf("sip:echo@127.0.0.1:%d;transport=tls", tlsPort)); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := b.WaitEvent(ctx, "CALL_ESTABLISHED"); err != nil {
		t.Fatalf("%v\n%s\n%s", err, b.Log(), logs.String())
	}
	time.Sleep(2 * time.Second) // two seconds of echo, recorded by baresip
	if err := b.Hangup(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.Log(), "SRTP is Enabled") {
		t.Fatalf("baresip did not use SRTP:\n%s", b.Log())
	}
	rec, rate := b.RecordingSamples(t)
	if f := dsp.ToneFraction(rec, rate, 500); f < 0.4 {
		t.Errorf("baresip hears its echo in %.0f%%", f*100)
	}
	l := logs.String()
	if !strings.Contains(l, "level=DEBUG") {
		t.Fatal("no debug log: the key check is blind")
	}
	if strings.Contains(l, "inline:") {
		t.Error("an a=crypto key is in the server's log")
	}

	// A renewal: the same file names, a new certificate named "second".
	next, _ := sbt.WriteSelfSigned(t, t.TempDir(), "second")
	pem, err := os.ReadFile(next)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := os.ReadFile(strings.TrimSuffix(next, ".crt") + ".key")
	if err := os.WriteFile(certFile, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	logs.waitLog(t, `config reloaded.*applied=[^ ]*tls.certificates`, 10*time.Second)
	if name, c := served(); name != "second" {
		t.Fatalf("after SIGHUP served %q, want second", name)
	} else {
		c.Close()
	}
	if _, err := before.Write([]byte("\r\n\r\n")); err != nil {
		t.Fatalf("the connection from before the reload: %v", err)
	}
}

// TestCheckConfigSRTP: check-config refuses an unknown calls.srtp and
// accepts the three policies.
func TestCheckConfigSRTP(t *testing.T) {
	for mode, ok := range map[string]bool{"off": true, "optional": true, "required": true, "sometimes": false} {
		cfg, err := loadConfig("")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Calls.SRTP = mode
		err = checkConfig(cfg)
		if ok && err != nil {
			t.Errorf("srtp %s: %v", mode, err)
		}
		if !ok && (err == nil || !strings.Contains(err.Error(), "calls.srtp")) {
			t.Errorf("srtp %s: %v", mode, err)
		}
	}
}
