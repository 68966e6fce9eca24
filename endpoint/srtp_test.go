package endpoint_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-sip/switchboard/endpoint"
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
