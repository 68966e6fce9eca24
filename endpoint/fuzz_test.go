package endpoint_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-sip/switchboard/endpoint"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// fakeTx is a server transaction that records responses instead of
// sending them.
type fakeTx struct {
	mu   sync.Mutex
	res  []*sip.Response
	done chan struct{}
}

func (f *fakeTx) Respond(r *sip.Response) error {
	f.mu.Lock()
	f.res = append(f.res, r)
	f.mu.Unlock()
	return nil
}
func (f *fakeTx) Acks() <-chan *sip.Request          { return nil }
func (f *fakeTx) OnCancel(sip.FnTxCancel) bool       { return true }
func (f *fakeTx) Terminate()                         {}
func (f *fakeTx) OnTerminate(sip.FnTxTerminate) bool { return true }
func (f *fakeTx) Done() <-chan struct{}              { return f.done }
func (f *fakeTx) Err() error                         { return nil }

const fuzzInvite = "INVITE sip:busy@127.0.0.1 SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKfuzz\r\n" +
	"From: <sip:f@127.0.0.1>;tag=1\r\nTo: <sip:busy@127.0.0.1>\r\nCall-ID: fuzz\r\nCSeq: 1 INVITE\r\n" +
	"Contact: <sip:f@127.0.0.1:5999>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\n" +
	"Content-Length: 95\r\n\r\n" +
	"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8\r\n"

// FuzzRequestPath feeds arbitrary bytes through sipgo's parser and the
// platform's and endpoints' request handling. Nothing may panic, and every
// request that reaches a handler gets at most one final response.
func FuzzRequestPath(f *testing.F) {
	f.Add([]byte(fuzzInvite))
	f.Add([]byte(strings.Replace(fuzzInvite, "INVITE sip:busy", "OPTIONS sip:busy", 1)))
	f.Add([]byte(strings.Replace(fuzzInvite, "To: <sip:busy@127.0.0.1>", "To: <sip:busy@127.0.0.1>;tag=x", 1)))
	f.Add([]byte(strings.Replace(fuzzInvite, "m=audio", "m=video", 1)))
	f.Add([]byte("REFER sip:busy@127.0.0.1 SIP/2.0\r\nRefer-To: <sip:x?Replaces=a%3Bto-tag%3Db>\r\n\r\n"))
	// The hostile-input cases of issue 14, kept as seeds.
	f.Add([]byte(strings.Replace(fuzzInvite, " SIP/2.0\r\n", " SIP/3.0\r\n", 1)))
	f.Add([]byte(strings.Replace(fuzzInvite, "Max-Forwards: 70", "Max-Forwards: 70\r\nContent-Length: 0", 1)))
	f.Add([]byte(strings.Replace(fuzzInvite, "Contact: <sip:f@127.0.0.1:5999>", "Contact: *", 1)))
	f.Add([]byte(strings.Replace(fuzzInvite, "Max-Forwards: 70", "Max-Forwards: 70\r\np-asserted-identity: <sip:ceo@x>\r\nP-ASSERTED-IDENTITY: <tel:1>", 1)))
	f.Add([]byte(strings.Replace(fuzzInvite, "Max-Forwards: 70", "Max-Forwards: 70\r\nX-Switchboard-Join: untrusted", 1)))
	f.Add([]byte(strings.Replace(fuzzInvite, "c=IN IP4 127.0.0.1", "c=IN IP4 127.0.0.77", 1)))
	f.Add([]byte(strings.Replace(fuzzInvite, "Max-Forwards: 70", "Max-Forwards: 70\r\nReferred-By: <sip:victim@127.0.0.9:43110>", 1)))
	f.Add([]byte(strings.Replace(fuzzInvite, "CSeq: 1 INVITE", "CSeq: one INVITE", 1)))
	f.Add([]byte(strings.Replace(fuzzInvite, "Max-Forwards: 70", "Max-Forwards: many", 1)))
	f.Add([]byte(strings.Replace(fuzzInvite, "Content-Length: 95", "Content-Length: -5", 1)))
	f.Add([]byte(strings.Replace(fuzzInvite, "Content-Length: 95", "Content-Length: 500", 1)))
	f.Add([]byte(strings.Replace(fuzzInvite, "INVITE sip:busy@", "INVITE sip:busy\r@", 1)))
	f.Add([]byte("REFER sip:busy@127.0.0.1 SIP/2.0\r\nRefer-To: <>\r\n\r\n"))
	// The trusted-join hijack: a learned Call-ID and From tag replayed
	// from another socket with a trusted-join request.
	f.Add([]byte(strings.Replace(strings.Replace(fuzzInvite, "Max-Forwards: 70",
		"Max-Forwards: 70\r\nX-Switchboard-Join: trusted", 1), "From: <sip:f@127.0.0.1>;tag=1", "From: <sip:nobody@evil.example>;tag=learned", 1)))
	srv := sbt.NewServer(f)
	ep := srv.Handle(f, "busy", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		_ = c.Decline(ctx, 486)
	}))
	_ = ep
	parser := sip.NewParser()
	f.Fuzz(func(t *testing.T, b []byte) {
		msg, err := parser.ParseSIP(b)
		if err != nil {
			return
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			return
		}
		req.SetSource("127.0.0.1:5999")
		req.SetTransport("UDP")
		tx := &fakeTx{done: make(chan struct{})}
		srv.ServeRequest(req, tx)
		final := 0
		for _, r := range tx.res {
			if r.StatusCode >= 200 {
				final++
			}
		}
		if final > 1 {
			t.Fatalf("%d final responses to one request", final)
		}
	})
}

func TestUnacceptableOffersGet488(t *testing.T) {
	srv := sbt.NewServer(t)
	reached := false
	srv.Handle(t, "busy", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) { reached = true }))
	cases := map[string]struct {
		from, to string
		code     int
	}{
		"no audio":        {"m=audio 4000 RTP/AVP 0 8", "m=video 4000 RTP/AVP 96", 488},
		"no common codec": {"m=audio 4000 RTP/AVP 0 8", "m=audio 4000 RTP/AVP 18", 488},
		"SRTP only":       {"RTP/AVP 0 8", "RTP/SAVP 0 8", 488},
		"not SDP":         {"Content-Type: application/sdp", "Content-Type: text/plain", 415},
	}
	for name, c := range cases {
		msg := strings.Replace(fuzzInvite, c.from, c.to, 1)
		msg = strings.Replace(msg, "Content-Length: 95", "Content-Length: "+strconv.Itoa(len(msg[strings.Index(msg, "\r\n\r\n")+4:])), 1)
		req, err := sip.NewParser().ParseSIP([]byte(msg))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		r := req.(*sip.Request)
		r.SetSource("127.0.0.1:5999")
		r.SetTransport("UDP")
		tx := &fakeTx{done: make(chan struct{})}
		srv.ServeRequest(r, tx)
		last := tx.res[len(tx.res)-1]
		if last.StatusCode != c.code {
			t.Errorf("%s: got %d %s, want %d", name, last.StatusCode, last.Reason, c.code)
		}
	}
	if reached {
		t.Error("the handler saw a call that should have been refused")
	}
}
