package endpoint_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/media/dsp"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestSRTPOffersGet488: offers that the SRTP policy refuses get 488 and
// never reach the handler: RTP/SAVP to an endpoint with SRTP off; an
// unknown suite, a malformed key, a short key and an MKI to one with SRTP
// optional; plain RTP/AVP to one that requires SRTP. A bad srtp setting
// is refused when the endpoint is made.
func TestSRTPOffersGet488(t *testing.T) {
	srv := sbt.NewServer(t)
	reached := false
	h := endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) { reached = true })
	for user, mode := range map[string]string{"off": "off", "opt": "optional", "req": "required"} {
		srv.HandleWith(t, endpoint.Settings{OwnerURI: "sip:" + user + "@127.0.0.1", SRTP: mode}, h)
	}
	if _, err := endpoint.NewApplication(srv.Platform, endpoint.Settings{OwnerURI: "sip:x@127.0.0.1", SRTP: "sometimes"}); err == nil {
		t.Error("srtp: sometimes accepted")
	}
	const key = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz"
	cases := map[string]struct {
		user, proto, crypto string
	}{
		"SAVP to off":      {"off", "RTP/SAVP", "1 AES_CM_128_HMAC_SHA1_80 inline:" + key},
		"unknown suite":    {"opt", "RTP/SAVP", "1 AES_192_CM_HMAC_SHA1_80 inline:" + key},
		"malformed key":    {"opt", "RTP/SAVP", "1 AES_CM_128_HMAC_SHA1_80 inline:%%%%"},
		"short key":        {"opt", "RTP/SAVP", "1 AES_CM_128_HMAC_SHA1_80 inline:QUJD"},
		"garbage line":     {"opt", "RTP/SAVP", "x"},
		"MKI":              {"opt", "RTP/SAVP", "1 AES_CM_128_HMAC_SHA1_80 inline:" + key + "|2^20|1:32"},
		"plain to require": {"req", "RTP/AVP", ""},
	}
	for name, c := range cases {
		body := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 " + c.proto + " 0\r\n"
		if c.crypto != "" {
			body += "a=crypto:" + c.crypto + "\r\n"
		}
		msg := strings.ReplaceAll(fuzzInvite[:strings.Index(fuzzInvite, "\r\n\r\n")+4], "busy", c.user)
		msg = strings.Replace(msg, "Content-Length: 95", "Content-Length: "+strconv.Itoa(len(body)), 1) + body
		req, err := sip.NewParser().ParseSIP([]byte(msg))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		r := req.(*sip.Request)
		r.SetSource("127.0.0.1:5999")
		r.SetTransport("UDP")
		tx := &fakeTx{done: make(chan struct{})}
		srv.ServeRequest(r, tx)
		if last := tx.res[len(tx.res)-1]; last.StatusCode != 488 {
			t.Errorf("%s: got %d %s, want 488", name, last.StatusCode, last.Reason)
		}
	}
	if reached {
		t.Error("the handler saw a call that should have been refused")
	}
}

// TestSRTPOutgoingToBaresip: an endpoint calls baresip (auto-answer, its
// srtp module) with SRTP required (RTP/SAVP offer, baresip srtp-mand)
// and with SRTP optional (RTP/AVP with a=crypto, baresip's best-effort
// srtp): the answer keys SRTP in both, the endpoint hears baresip's
// 700 Hz and baresip records the endpoint's 1100 Hz.
func TestSRTPOutgoingToBaresip(t *testing.T) {
	peers.RequireBaresip(t)
	for _, tc := range []struct{ mode, mediaenc string }{{"required", "srtp-mand"}, {"optional", "srtp"}} {
		t.Run(tc.mode, func(t *testing.T) {
			sbt.CheckGoroutines(t)
			b := peers.StartBaresip(t, peers.BaresipOptions{User: "srtp" + tc.mode, AutoAnswer: true, Codecs: []string{"PCMU"},
				AudioFile:   peers.WriteWAV(t, dsp.Sine(8000, 700, 60*time.Second, 0.3), 8000),
				ExtraConfig: "module\tsrtp.so", AccountParams: ";mediaenc=" + tc.mediaenc})
			srv := sbt.NewServer(t)
			c := srv.HandleWith(t, endpoint.Settings{OwnerURI: "sip:bot@127.0.0.1", SRTP: tc.mode}, nil).NewConversation().NewCall()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := c.Establish(ctx, b.URI(), endpoint.EstablishOptions{}); err != nil {
				t.Fatalf("%v\n%s", err, b.Log())
			}
			if c.Negotiated().Crypto == nil {
				t.Fatalf("baresip answered without SRTP\n%s", b.Log())
			}
			pc := sbt.WrapCall(c)
			pc.StartTone(1100)
			if f := dsp.ToneFraction(pc.Listen(t, time.Second), 8000, 700); f < 0.5 {
				t.Errorf("endpoint hears baresip's 700 Hz in %.0f%%", f*100)
			}
			pc.StopTone()
			pc.Hangup(t)
			if _, err := b.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
				t.Fatal(err)
			}
			rec, rate := b.RecordingSamples(t)
			if f := dsp.ToneFraction(rec, rate, 1100); f < 0.4 {
				t.Errorf("baresip hears the endpoint's 1100 Hz in %.0f%%", f*100)
			}
			if st := c.Flow().Stats(); st.SRTPAuthFailed > 2 {
				t.Errorf("%d SRTP packets failed authentication", st.SRTPAuthFailed)
			}
		})
	}
}
