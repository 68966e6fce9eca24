package platform_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/platform"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// rawUDP is a socket on 127.0.0.1 that is nobody: untrusted, no
// credentials.
func rawUDP(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// exchangeAll sends req to srv from c and returns every datagram that comes
// back within wait.
func exchangeAll(t *testing.T, c *net.UDPConn, srv *sbt.Server, req string, wait time.Duration) []string {
	t.Helper()
	if _, err := c.WriteTo([]byte(req), srv.Addr("udp")); err != nil {
		t.Fatal(err)
	}
	var out []string
	buf := make([]byte, 65535)
	_ = c.SetReadDeadline(time.Now().Add(wait))
	for {
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			return out
		}
		out = append(out, string(buf[:n]))
	}
}

func rawRequest(c *net.UDPConn, method, user, id, extra, body string) string {
	return method + " sip:" + user + "@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP " + c.LocalAddr().String() + ";branch=z9hG4bK" + id +
		"\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:" + user + "@127.0.0.1>\r\nCall-ID: " + id + "\r\nCSeq: 1 " + method +
		"\r\nContact: <sip:a@" + c.LocalAddr().String() + ">\r\n" + extra + fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body)) + body
}

// TestNoAmplificationToUnverifiedUDP: from a raw UDP socket that is
// nobody, small requests (an OPTIONS, INVITEs to a user that challenges,
// to a missing one, a REGISTER, a SUBSCRIBE) get no datagram larger than
// the request: the OPTIONS 200 loses Allow, Accept, Supported and Server,
// the 401 keeps only its MD5 challenge, and what still would not fit is
// not sent (Config.NoAmplification). A trusted source still gets the
// full OPTIONS answer, and without NoAmplification nothing is trimmed.
func TestNoAmplificationToUnverifiedUDP(t *testing.T) {
	h := md5.Sum([]byte("alice:127.0.0.1:pw"))
	srv := sbt.NewServer(t, platform.Config{NoAmplification: true, UniformRefusals: true, Users: []platform.User{{Name: "alice", HA1: hex.EncodeToString(h[:]),
		HA1SHA256: strings.Repeat("ab", 32)}}})
	srv.Handle(t, "desk", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) { _ = c.Challenge(ctx) }))
	c := rawUDP(t)
	cases := []struct {
		name, req string
		answered  bool
	}{
		{"OPTIONS", rawRequest(c, "OPTIONS", "ping", "o1", "", ""), true},
		{"INVITE challenged", rawRequest(c, "INVITE", "desk", "i1", "", ""), false},
		{"INVITE missing user", rawRequest(c, "INVITE", "nobody", "i2", "", ""), false},
		{"REGISTER", rawRequest(c, "REGISTER", "alice", "r1", "", ""), false},
		{"SUBSCRIBE", rawRequest(c, "SUBSCRIBE", "desk", "s1", "Event: dialog\r\n", ""), false},
	}
	for _, tc := range cases {
		got := exchangeAll(t, c, srv, tc.req, 700*time.Millisecond)
		for _, res := range got {
			if len(res) > len(tc.req) {
				t.Errorf("%s: %d-byte request got a %d-byte answer:\n%s", tc.name, len(tc.req), len(res), res)
			}
		}
		if tc.answered && len(got) == 0 {
			t.Errorf("%s: no answer at all, want a trimmed one", tc.name)
		}
		t.Logf("%s: request %d bytes, answers %v", tc.name, len(tc.req), sizes(got))
	}
	// An ordinary phone INVITE (with SDP) is big enough for the challenge.
	sdpBody := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n"
	phone := rawRequest(c, "INVITE", "desk", "i3", "Max-Forwards: 70\r\nUser-Agent: Linphone/5.2\r\nAllow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE\r\nContent-Type: application/sdp\r\n", sdpBody)
	got := exchangeAll(t, c, srv, phone, 700*time.Millisecond)
	challenged := false
	for _, res := range got {
		challenged = challenged || strings.HasPrefix(res, "SIP/2.0 401")
		if len(res) > len(phone) {
			t.Errorf("phone INVITE: %d-byte request got a %d-byte answer", len(phone), len(res))
		}
	}
	if !challenged {
		t.Errorf("a phone-sized INVITE was not challenged: %v", got)
	}
	// Trusted: nothing trimmed.
	tsrv := sbt.NewServer(t, platform.Config{NoAmplification: true, TrustedPeers: []string{"127.0.0.1"}})
	c1 := rawUDP(t)
	got = exchangeAll(t, c1, tsrv, rawRequest(c1, "OPTIONS", "ping", "o2", "", ""), 500*time.Millisecond)
	if len(got) != 1 || !strings.Contains(got[0], "Allow: ") {
		t.Errorf("trusted OPTIONS answer %q, want the full 200", got)
	}
	osrv := sbt.NewServer(t)
	c2 := rawUDP(t) // c still hears the first server's retransmitted 401
	got = exchangeAll(t, c2, osrv, rawRequest(c2, "OPTIONS", "ping", "o3", "", ""), 500*time.Millisecond)
	if len(got) != 1 || !strings.Contains(got[0], "Allow: ") {
		t.Errorf("OPTIONS answer without no_amplification %q, want the full 200", got)
	}
}

func sizes(msgs []string) []int {
	out := make([]int, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, len(m))
	}
	return out
}

// TestBodyAndSDPBounds: from a raw UDP socket, an INVITE whose body is
// over max_body_size gets 413; one whose SDP has more m= lines, or more
// attributes in one media, than allowed gets 488; one within the bounds
// is answered by the handler (200).
func TestBodyAndSDPBounds(t *testing.T) {
	srv := sbt.NewServer(t, platform.Config{TrustedPeers: []string{"127.0.0.1"}, MaxBodySize: 4000, SDPMaxMedia: 2, SDPMaxAttributes: 5})
	srv.Handle(t, "desk", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		_ = c.DeclineWithReason(ctx, 480, "Reached")
	}))
	c := rawUDP(t)
	media := func(attrs int) string {
		return "m=audio 40000 RTP/AVP 0\r\n" + strings.Repeat("a=rtpmap:0 PCMU/8000\r\n", attrs)
	}
	head := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
	sdpCT := "Content-Type: application/sdp\r\n"
	cases := []struct {
		name, extra, body, want string
	}{
		{"big body", "Content-Type: text/plain\r\n", strings.Repeat("x", 5000), "SIP/2.0 413"},
		{"three m= lines", sdpCT, head + media(1) + media(1) + media(1), "SIP/2.0 488"},
		{"six attributes", sdpCT, head + media(6), "SIP/2.0 488"},
		{"within bounds", sdpCT, head + media(1) + media(5), "SIP/2.0 480"},
	}
	for i, tc := range cases {
		got := exchangeAll(t, c, srv, rawRequest(c, "INVITE", "desk", fmt.Sprint("b", i), tc.extra, tc.body), 700*time.Millisecond)
		final := ""
		for _, res := range got {
			if !strings.HasPrefix(res, "SIP/2.0 100") {
				final = res
			}
		}
		if !strings.HasPrefix(final, tc.want) {
			t.Errorf("%s: answered %.40q, want %s", tc.name, final, tc.want)
		}
	}
}

// TestMaxCallsPerSource: with max_calls_per_source 2, two calls from
// phones on 127.0.0.1 (untrusted) are connected; a third from that
// address gets 503 with Retry-After; when one hangs up, a new call gets
// through. From a trusted peer the cap does not apply.
func TestMaxCallsPerSource(t *testing.T) {
	for _, trusted := range []bool{false, true} {
		t.Run(fmt.Sprint("trusted=", trusted), func(t *testing.T) {
			cfg := platform.Config{MaxCallsPerSource: 2}
			if trusted {
				cfg.TrustedPeers = []string{"127.0.0.1"}
			}
			srv := sbt.NewServer(t, cfg)
			srv.Handle(t, "hold", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
				if c.Accept(ctx) == nil {
					<-c.Done()
				}
			}))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var calls []*sbt.PhoneCall
			for i := range 2 {
				pc, err := sbt.NewPhone(t, fmt.Sprint("p", i)).DialContext(ctx, srv.URI("hold"), endpoint.EstablishOptions{})
				if err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
				calls = append(calls, pc)
			}
			third, err := sbt.NewPhone(t, "p2").DialContext(ctx, srv.URI("hold"), endpoint.EstablishOptions{})
			var re *endpoint.ResponseError
			if trusted {
				if err != nil {
					t.Fatalf("trusted third call: %v", err)
				}
				third.Hangup(t)
			} else if !errors.As(err, &re) || re.Code != 503 {
				t.Fatalf("third call: %v, want 503", err)
			}
			calls[0].Hangup(t)
			deadline := time.Now().Add(5 * time.Second)
			for srv.ActiveDialogs() > 1 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			pc, err := sbt.NewPhone(t, "p3").DialContext(ctx, srv.URI("hold"), endpoint.EstablishOptions{})
			if err != nil {
				t.Fatalf("call after a hang-up: %v", err)
			}
			pc.Hangup(t)
			calls[1].Hangup(t)
		})
	}
}

// rejections counts the platform's refusals by method and reason.
type rejections struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *rejections) ObserveRequest(string)       {}
func (r *rejections) ObserveResponse(string, int) {}
func (r *rejections) ObserveRejected(method, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n[method+" "+reason]++
}

func (r *rejections) get(k string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[k]
}

// TestLimitRefusalsCounted: the body, SDP and amplification refusals
// reach a RejectObserver (admin's switchboard_sip_rejected_total) with
// their reasons.
func TestLimitRefusalsCounted(t *testing.T) {
	obs := &rejections{n: map[string]int{}}
	uc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := md5.Sum([]byte("alice:127.0.0.1:pw"))
	p, err := platform.New(platform.Config{Host: "127.0.0.1", MaxBodySize: 1000, SDPMaxMedia: 1, NoAmplification: true,
		Users: []platform.User{{Name: "alice", HA1: hex.EncodeToString(h[:])}}},
		platform.WithUDPConn(uc), platform.WithObserver(obs))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	p.SetDefault(platform.HandlerFunc(func(r *platform.Request) { _ = r.Challenge() }))
	srv := &sbt.Server{Platform: p}
	c := rawUDP(t)
	sdpCT := "Content-Type: application/sdp\r\n"
	exchangeAll(t, c, srv, rawRequest(c, "MESSAGE", "x", "m1", "Content-Type: text/plain\r\n", strings.Repeat("x", 1001)), 300*time.Millisecond)
	exchangeAll(t, c, srv, rawRequest(c, "INVITE", "x", "m2", sdpCT, "v=0\r\nm=audio 1 RTP/AVP 0\r\nm=audio 2 RTP/AVP 0\r\n"), 300*time.Millisecond)
	exchangeAll(t, c, srv, rawRequest(c, "MESSAGE", "x", "m3", "", ""), 300*time.Millisecond) // its 401 is larger
	for _, k := range []string{"MESSAGE " + platform.RejectBodySize, "INVITE " + platform.RejectSDP, "MESSAGE " + platform.RejectAmplification} {
		if obs.get(k) != 1 {
			t.Errorf("%s counted %d times, want 1 (all: %v)", k, obs.get(k), obs.n)
		}
	}
}
