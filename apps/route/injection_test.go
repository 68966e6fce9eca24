package route

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-sip/switchboard/endpoint"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// rawInvite sends one INVITE for user, from the From value from (default
// <sip:alice@host>;tag=a1), with the extra header lines extra (each ending
// in CRLF), from a raw socket (network "udp" or "tcp") to
// addr, ACKs the final response and returns its status code. The raw
// socket lets the test send what no well-behaved user agent would.
func rawInvite(t *testing.T, network string, addr net.Addr, user, from, extra string) int {
	t.Helper()
	conn, err := net.Dial(network, addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	local := conn.LocalAddr().String()
	target := addr.String()
	callID, branch := sip.GenerateTagN(16), "z9hG4bK"+sip.GenerateTagN(10)
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
	uri := fmt.Sprintf("sip:%s@%s;transport=%s", user, target, network)
	if from == "" {
		from = "<sip:alice@" + local + ">;tag=a1"
	}
	head := func(method, to string) string {
		return fmt.Sprintf("%s %s SIP/2.0\r\nVia: SIP/2.0/%s %s;branch=%s\r\n"+
			"From: %s\r\n%s\r\nCall-ID: %s\r\nCSeq: 1 %s\r\nMax-Forwards: 70\r\n",
			method, uri, strings.ToUpper(network), local, branch, from, to, callID, method)
	}
	inv := head("INVITE", "To: <"+uri+">") + "Contact: <sip:alice@" + local + ";transport=" + network + ">\r\n" + extra +
		"Content-Type: application/sdp\r\nContent-Length: " + strconv.Itoa(len(sdp)) + "\r\n\r\n" + sdp
	if _, err := conn.Write([]byte(inv)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	for {
		// One response: status line, headers, a body of Content-Length
		// bytes (a UDP read returns the whole datagram into r's buffer).
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("INVITE for %.40q: no final response: %v", user, err)
		}
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "SIP/2.0" {
			continue
		}
		code, _ := strconv.Atoi(f[1])
		toHdr, clen := "", 0
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("INVITE for %.40q: truncated response: %v", user, err)
			}
			l = strings.TrimRight(l, "\r\n")
			if l == "" {
				break
			}
			name, value, _ := strings.Cut(l, ":")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "to", "t":
				toHdr = l
			case "content-length", "l":
				clen, _ = strconv.Atoi(strings.TrimSpace(value))
			}
		}
		if _, err := io.CopyN(io.Discard, r, int64(clen)); err != nil {
			t.Fatal(err)
		}
		if code < 200 {
			continue
		}
		// ACK for a non-2xx final response reuses the INVITE's branch and
		// the response's To (RFC 3261 section 17.1.1.3).
		_, _ = conn.Write([]byte(head("ACK", toHdr) + "Content-Length: 0\r\n\r\n"))
		return code
	}
}

// TestRouteHeaderInjection routes raw INVITEs whose Request-URI user (a
// route template's ${user} and ${1}) or allow-listed header tries to
// inject a header, a tag or an oversized value (issue 15 item 5). The far
// end, a test phone that answers 486, must either not be called at all
// (the caller then gets a 4xx) or receive an INVITE without the injected
// header; the legitimate call in the same table arrives with its
// X-Account, so the far end was listening.
func TestRouteHeaderInjection(t *testing.T) {
	sbt.CheckGoroutines(t)
	got := make(chan *sip.Request, 64)
	pbx := sbt.NewPhone(t, "pbx", sbt.PhoneOptions{Answer: func(ctx context.Context, c *endpoint.Call) error {
		got <- c.Request()
		_ = c.DeclineWithReason(ctx, 486, "Busy Here")
		return fmt.Errorf("busy")
	}})
	srv := sbt.NewServer(t)
	port := pbx.Server.Port()
	a, err := New(srv.Platform, Config{Rules: []Rule{
		{Name: "re", Match: `^9(.*)$`, Target: fmt.Sprintf("sip:${1}@127.0.0.1:%d", port), Headers: []string{"X-Account"}},
		{Name: "impersonating", Prefix: "7", Target: fmt.Sprintf("sip:pbx@127.0.0.1:%d", port), Impersonate: true},
		{Name: "prefix", Prefix: "8", Target: fmt.Sprintf("sip:pbx@127.0.0.1:%d;u=${user}", port), Headers: []string{"X-Account"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })

	long := strings.Repeat("a", 10<<10)
	cases := []struct {
		name, user, from, extra string
		reached                 bool   // the far end is called, without the injection
		network                 string // default "udp"; "tcp" for what UDP cannot carry
	}{
		{"legitimate", "9pbx", "", "X-Account: 42\r\n", true, ""},
		{"legitimate over TCP", "9pbx", "", "X-Account: 42\r\n", true, "tcp"},
		{"tag in ${1}", "9pbx>;tag=evil", "", "", false, ""},
		{"tag in ${user}", "8x>;tag=evil", "", "", false, ""},
		{"header in ${1}, escaped", "9pbx%0d%0aX-Evil:1", "", "", false, ""}, // no such user at the far end
		{"parameter in ${user}", "8x;y=>;tag=evil", "", "", false, ""},
		{"quote in ${user}", `8x"`, "", "", false, ""},
		{"oversized ${1}", "9" + long, "", "", false, "tcp"},
		{"folded X-Account", "9pbx", "", "X-Account: 42\r\n X-Evil: 1\r\n", true, ""},
		{"NUL in X-Account", "9pbx", "", "X-Account: 42\x00X-Evil: 1\r\n", false, ""},
		{"oversized X-Account", "9pbx", "", "X-Account: " + long + "\r\n", false, "tcp"},
		{"legitimate impersonation", "7", `"Alice" <sip:alice@127.0.0.1>;tag=a1`, "", true, ""},
		{"NUL in the caller's display name", "7", "\"Al\x00ice\" <sip:alice@127.0.0.1>;tag=a1", "", false, ""},
		{"oversized caller URI", "7", "<sip:" + long + "@127.0.0.1>;tag=a1", "", false, "tcp"},
		{"oversized caller display name", "7", `"` + long + `" <sip:alice@127.0.0.1>;tag=a1`, "", false, "tcp"},
	}
	for _, c := range cases {
		network := c.network
		if network == "" {
			network = "udp"
		}
		code := rawInvite(t, network, srv.Addr(network), c.user, c.from, c.extra)
		var req *sip.Request
		select {
		case req = <-got:
		case <-time.After(300 * time.Millisecond):
		}
		switch {
		case c.reached && req == nil:
			t.Errorf("%s: the far end was not called (caller got %d)", c.name, code)
		case !c.reached && req != nil && req.Recipient.User == "pbx":
			t.Errorf("%s: the far end was called:\n%s", c.name, req)
		case code < 400 || code > 499 && !c.reached:
			t.Errorf("%s: caller got %d, want a 4xx", c.name, code)
		}
		if req == nil {
			continue
		}
		// A folded header is one header (RFC 3261 section 7.3.1): its
		// continuation may reach the far end as text in X-Account, never
		// as a header line of its own.
		raw := req.String()
		for _, l := range strings.Split(raw, "\r\n") {
			if strings.HasPrefix(strings.ToLower(l), "x-evil") || strings.Contains(l, "tag=evil") {
				t.Errorf("%s: injected on the wire: %q", c.name, l)
			}
		}
		if req.GetHeader("X-Evil") != nil || len(raw) > 4*endpoint.MaxValueLength {
			t.Errorf("%s: injected on the wire:\n%.2000s", c.name, raw)
		}
		if c.name == "legitimate impersonation" {
			if f := req.From(); f.DisplayName != "Alice" || f.Address.User != "alice" {
				t.Errorf("legitimate impersonation: From = %s", f.Value())
			}
		}
		if c.name == "legitimate" {
			if h := req.GetHeader("X-Account"); h == nil || h.Value() != "42" {
				t.Errorf("legitimate: X-Account did not pass:\n%s", raw)
			}
		}
	}
}
