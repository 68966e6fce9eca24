package platform_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/ua"

	"github.com/switchboard-sip/switchboard/platform"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// exchange sends raw bytes to the server over UDP and returns the first
// response, or "" if none came within d.
func exchange(t *testing.T, addr net.Addr, msg string, d time.Duration) string {
	t.Helper()
	c, err := net.Dial("udp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Responses go to the Via: point it at this socket.
	msg = strings.ReplaceAll(msg, "127.0.0.1:5999", c.LocalAddr().String())
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 65535)
	n, err := c.Read(buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

func request(method, ruri string, extra ...string) string {
	h := []string{
		method + " " + ruri + " SIP/2.0",
		"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK" + method + time.Now().Format("150405.000000000"),
		"From: <sip:tester@127.0.0.1>;tag=abc",
		"To: <" + ruri + ">",
		"Call-ID: raw-" + time.Now().Format("150405.000000000"),
		"CSeq: 1 " + method,
		"Max-Forwards: 70",
	}
	h = append(h, extra...)
	return strings.Join(h, "\r\n") + "\r\nContent-Length: 0\r\n\r\n"
}

func statusLine(res string) string {
	line, _, _ := strings.Cut(res, "\r\n")
	return line
}

func TestOptionsAnswered(t *testing.T) {
	srv := sbt.NewServer(t)
	res := exchange(t, srv.Addr("udp"), request("OPTIONS", srv.URI("anyone")), 2*time.Second)
	if !strings.HasPrefix(res, "SIP/2.0 200") {
		t.Fatalf("OPTIONS got %q", statusLine(res))
	}
	for _, h := range []string{"Allow: INVITE, ACK, CANCEL, BYE", "Accept: application/sdp", "Supported: replaces, timer"} {
		if !strings.Contains(res, h) {
			t.Errorf("OPTIONS response lacks %q:\n%s", h, res)
		}
	}
}

func TestBadRequestsGetClearResponses(t *testing.T) {
	srv := sbt.NewServer(t)
	uri := srv.URI("echo")
	cases := []struct {
		name, msg, want string
	}{
		{"CSeq method mismatch", strings.Replace(request("OPTIONS", uri), "CSeq: 1 OPTIONS", "CSeq: 1 INVITE", 1), "SIP/2.0 400"},
		{"no From tag", strings.Replace(request("OPTIONS", uri), ";tag=abc", "", 1), "SIP/2.0 400"},
		{"missing Call-ID", strings.Replace(request("OPTIONS", uri), "Call-ID: raw-", "X-Call-ID: raw-", 1), "SIP/2.0 400"},
		{"BYE outside a dialog", request("BYE", uri), "SIP/2.0 481"},
		{"unknown dialog", strings.Replace(request("BYE", uri), "To: <"+uri+">", "To: <"+uri+">;tag=nope", 1), "SIP/2.0 481"},
		{"max-forwards 0", strings.Replace(request("OPTIONS", uri), "Max-Forwards: 70", "Max-Forwards: 0", 1), "SIP/2.0 483"},
		{"unknown target", request("INVITE", srv.URI("nobody"), "Contact: <sip:tester@127.0.0.1:5999>"), "SIP/2.0 404"},
		{"unknown method", request("FOO", uri), "SIP/2.0 405"},
	}
	for _, c := range cases {
		res := exchange(t, srv.Addr("udp"), c.msg, 2*time.Second)
		if !strings.HasPrefix(res, c.want) {
			t.Errorf("%s: got %q, want %s", c.name, statusLine(res), c.want)
		}
	}
}

func TestGarbageAndOversizedInputIsSurvived(t *testing.T) {
	srv := sbt.NewServer(t)
	addr := srv.Addr("udp")
	junk := []string{
		"\x00\x01\x02garbage",
		"INVITE\r\n\r\n",
		"INVITE sip:x SIP/2.0\r\nVia: \r\n\r\n",
		"SIP/2.0 200 OK\r\n\r\n",
		request("OPTIONS", srv.URI("x"), "X-Big: "+strings.Repeat("A", 60000)),
		strings.Replace(request("INVITE", srv.URI("x")), "Content-Length: 0", "Content-Length: 99999", 1),
	}
	for _, j := range junk {
		exchange(t, addr, j, 100*time.Millisecond)
	}
	// Over TCP too: a stream that never ends its headers.
	if c, err := net.Dial("tcp", srv.Addr("tcp").String()); err == nil {
		c.Write([]byte("INVITE sip:x@127.0.0.1 SIP/2.0\r\n" + strings.Repeat("X-Junk: 1\r\n", 5000)))
		c.Close()
	}
	if res := exchange(t, addr, request("OPTIONS", srv.URI("x")), 2*time.Second); !strings.HasPrefix(res, "SIP/2.0 200") {
		t.Fatalf("server stopped answering after bad input: %q", statusLine(res))
	}
}

func TestConfigValidation(t *testing.T) {
	for name, cfg := range map[string]platform.Config{
		"bad trusted peer": {UDP: []string{"127.0.0.1:0"}, TrustedPeers: []string{"not-an-ip"}},
		"bad port range":   {UDP: []string{"127.0.0.1:0"}, RTPPortMin: 3000, RTPPortMax: 2000},
		"bad listen addr":  {UDP: []string{"256.0.0.1:1"}},
		"missing cert":     {TLS: []platform.TLSListener{{Addr: "127.0.0.1:0", CertFile: "/nonexistent", KeyFile: "/nonexistent"}}},
	} {
		if p, err := platform.New(cfg); err == nil {
			p.Close()
			t.Errorf("%s: New succeeded", name)
		}
	}
}

func TestCloseIsIdempotentAndShutdownAfterCloseFails(t *testing.T) {
	sbt.CheckGoroutines(t)
	p, err := platform.New(platform.Config{UDP: []string{"127.0.0.1:0"}, TCP: []string{"127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { p.Close(); close(done) }()
	p.Close()
	<-done
	if err := p.Shutdown(context.Background()); err == nil {
		t.Fatal("Shutdown after Close succeeded")
	}
}

// TestRequestsLeaveFromTheListeningSocket: an outgoing INVITE comes from
// the platform's UDP listening port and says so in its Via.
func TestRequestsLeaveFromTheListeningSocket(t *testing.T) {
	srv := sbt.NewServer(t)
	uas, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer uas.Close()
	call := srv.Handle(t, "bot", nil).NewConversation().NewCall()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		if err := call.Establish(ctx, "sip:x@"+uas.LocalAddr().String(), endpoint.EstablishOptions{}); err != nil {
			t.Log("Establish:", err)
		}
	}()
	uas.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 65535)
	n, from, err := uas.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	listen := srv.Addr("udp").(*net.UDPAddr).Port
	if got := from.(*net.UDPAddr).Port; got != listen {
		t.Fatalf("INVITE came from port %d, want the listening port %d", got, listen)
	}
	if via := fmt.Sprintf("Via: SIP/2.0/UDP 127.0.0.1:%d", listen); !strings.Contains(string(buf[:n]), via) {
		t.Fatalf("INVITE lacks %q:\n%s", via, buf[:n])
	}
	// Refuse the call so that it ends at once.
	msg, err := sip.ParseMessage(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	res := sip.NewResponseFromRequest(msg.(*sip.Request), 486, "Busy Here", nil)
	uas.WriteTo([]byte(res.String()), from)
	select {
	case <-call.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("call did not end on 486")
	}
}

// TestProcessWideSipgoSettingsMustAgree: sipgo keeps T1 and the UDP size
// limit in package variables, so a second open platform with other values
// is refused with an error that says why, one with the same values (the
// defaults included) is accepted, and once the first is closed the values
// may change.
func TestProcessWideSipgoSettingsMustAgree(t *testing.T) {
	udp := []string{"127.0.0.1:0"}
	first, err := platform.New(platform.Config{UDP: udp})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	same, err := platform.New(platform.Config{UDP: udp, T1: 500 * time.Millisecond, UDPMaxMessage: 8192})
	if err != nil {
		t.Fatalf("a platform with the default values spelled out: %v", err)
	}
	same.Close()
	for name, cfg := range map[string]platform.Config{
		"T1":            {UDP: udp, T1: 100 * time.Millisecond},
		"UDPMaxMessage": {UDP: udp, UDPMaxMessage: 4096},
	} {
		p, err := platform.New(cfg)
		if err == nil {
			p.Close()
			t.Fatalf("%s: a second platform with another value was accepted", name)
		}
		if !errors.Is(err, platform.ErrSettingsConflict) || !strings.Contains(err.Error(), "process-wide") || !strings.Contains(err.Error(), name) {
			t.Fatalf("%s: error %q does not say which setting conflicts and why", name, err)
		}
	}
	if sip.T1 != 500*time.Millisecond || sip.UDPMTUSize != 8192+200 {
		t.Fatalf("a refused platform changed sipgo: T1 %v, UDPMTUSize %d", sip.T1, sip.UDPMTUSize)
	}
	first.Close()
	// With no platform open the values are free again.
	other, err := platform.New(platform.Config{UDP: udp, T1: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("after Close: %v", err)
	}
	if sip.T1 != 100*time.Millisecond {
		t.Errorf("sip.T1 = %v, want 100ms", sip.T1)
	}
	other.Close()
	back, err := platform.New(platform.Config{UDP: udp})
	if err != nil {
		t.Fatal(err)
	}
	back.Close()
	if sip.T1 != 500*time.Millisecond {
		t.Errorf("sip.T1 = %v after a default platform, want 500ms", sip.T1)
	}
}

// TestStartReturnsWithListenerRegistered: as soon as Start returns, a
// request is sent from the listening socket (sipgo has registered it), for
// many platforms in a row.
func TestStartReturnsWithListenerRegistered(t *testing.T) {
	for range 20 {
		uc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p, err := platform.New(platform.Config{}, platform.WithUDPConn(uc))
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		conn, err := ua.Of(p).Client().TransportLayer().GetConnection("udp", uc.LocalAddr().String())
		if err != nil || conn == nil {
			t.Fatalf("listener %s not registered when Start returned: %v", uc.LocalAddr(), err)
		}
		p.Close()
	}
}
