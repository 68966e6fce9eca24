package platform_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/endpoint"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// exchangeFinal sends msg over UDP and returns the status line of the
// first final response, "" if none came within d.
func exchangeFinal(t *testing.T, addr net.Addr, msg string, d time.Duration) string {
	t.Helper()
	c, err := net.Dial("udp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg = strings.ReplaceAll(msg, "127.0.0.1:5999", c.LocalAddr().String())
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65535)
	deadline := time.Now().Add(d)
	for {
		_ = c.SetReadDeadline(deadline)
		n, err := c.Read(buf)
		if err != nil {
			return ""
		}
		if line := statusLine(string(buf[:n])); !strings.HasPrefix(line, "SIP/2.0 1") {
			return line
		}
	}
}

// TestMalformedRequestsAnswered is the table of issue 14 item 8: each
// malformed request gets the response RFC 3261 asks for (section 18.3,
// 8.2.2.2, 8.1.1.8, 21.5.6) instead of being dropped or served. The
// handler declines every INVITE that reaches it with 486, so a 486 means
// the request was (wrongly) served.
func TestMalformedRequestsAnswered(t *testing.T) {
	srv := sbt.NewServer(t)
	srv.Handle(t, "x", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) { _ = c.Decline(ctx, 486) }))
	good := request("INVITE", srv.URI("x"), "Contact: <sip:tester@127.0.0.1:5999>")
	if got := exchangeFinal(t, srv.Addr("udp"), good, 2*time.Second); got != "SIP/2.0 486 Busy Here" {
		t.Fatalf("the well-formed INVITE got %q; the table below means nothing", got)
	}
	// No response of any kind may carry the request's bogus version.
	if got := statusLine(exchange(t, srv.Addr("udp"), strings.Replace(good, " SIP/2.0\r\n", " SIP/3.0\r\n", 1), time.Second)); got != "SIP/2.0 505 Version Not Supported" {
		t.Errorf("first response to a SIP/3.0 INVITE: %q", got)
	}
	for _, tc := range []struct {
		name, msg, want string
	}{
		{"SIP version 3.0", strings.Replace(good, " SIP/2.0\r\n", " SIP/3.0\r\n", 1), "SIP/2.0 505"},
		{"two Content-Length", strings.Replace(good, "Max-Forwards: 70", "Max-Forwards: 70\r\nContent-Length: 0", 1), "SIP/2.0 400"},
		{"Contact: * on INVITE", strings.Replace(good, "Contact: <sip:tester@127.0.0.1:5999>", "Contact: *", 1), "SIP/2.0 400"},
		{"bad CSeq number", strings.Replace(good, "CSeq: 1 INVITE", "CSeq: one INVITE", 1), "SIP/2.0 400"},
		{"bad Max-Forwards", strings.Replace(good, "Max-Forwards: 70", "Max-Forwards: many", 1), "SIP/2.0 400"},
		{"bad Content-Length", strings.Replace(good, "Content-Length: 0", "Content-Length: -5", 1), "SIP/2.0 400"},
		{"short UDP body", strings.Replace(good, "Content-Length: 0", "Content-Length: 50", 1), "SIP/2.0 400"},
		{"raw CR in the Request-URI", strings.Replace(good, "INVITE sip:x@", "INVITE sip:x\r@", 1), "SIP/2.0 400"},
		{"REFER with empty Refer-To", request("REFER", srv.URI("x"), "Contact: <sip:tester@127.0.0.1:5999>", "Refer-To: <>"), "SIP/2.0 400"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := exchangeFinal(t, srv.Addr("udp"), tc.msg, time.Second)
			if !strings.HasPrefix(got, tc.want) {
				t.Errorf("got %q, want %s", got, tc.want)
			}
		})
	}
}

// TestMergedRequestLoopDetected: the same INVITE (From tag, Call-ID, CSeq)
// arriving a second time with another branch from another socket, as
// through two paths of a forking proxy, is one request: the second copy
// gets 482 and makes no second call (RFC 3261 section 8.2.2.2).
func TestMergedRequestLoopDetected(t *testing.T) {
	srv := sbt.NewServer(t)
	calls := make(chan struct{}, 4)
	srv.Handle(t, "x", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		calls <- struct{}{}
		_ = c.Decline(ctx, 486)
	}))
	inv := func(branch string) string {
		return strings.Join([]string{
			"INVITE " + srv.URI("x") + " SIP/2.0",
			"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK" + branch,
			"From: <sip:tester@127.0.0.1>;tag=merge",
			"To: <" + srv.URI("x") + ">",
			"Call-ID: merged-request",
			"CSeq: 7 INVITE",
			"Contact: <sip:tester@127.0.0.1:5999>",
			"Max-Forwards: 70",
			"Content-Length: 0", "", ""}, "\r\n")
	}
	if got := exchangeFinal(t, srv.Addr("udp"), inv("path1"), 2*time.Second); got != "SIP/2.0 486 Busy Here" {
		t.Fatalf("first copy: %q", got)
	}
	if got := exchangeFinal(t, srv.Addr("udp"), inv("path2"), 2*time.Second); got != "SIP/2.0 482 Loop Detected" {
		t.Fatalf("second copy by another path: %q, want 482", got)
	}
	if n := len(calls); n != 1 {
		t.Fatalf("%d calls from one merged request", n)
	}
}
