package ivr_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	ivrapp "github.com/switchboard-sip/switchboard/apps/ivr"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestWebhookReplyInjection: webhook replies whose transfer URI,
// conference room or variables try to inject a header, a tag or an
// oversized value (issue 15 item 5) send the caller to the fallback node
// (its 1200 Hz tone) and nothing reaches bob, at whose address every bad
// URI points; the legitimate transfers in the same table ring bob with a
// clean INVITE.
func TestWebhookReplyInjection(t *testing.T) {
	got := make(chan *sip.Request, 16)
	bob := switchboardtest.NewPhone(t, "bob", switchboardtest.PhoneOptions{Answer: func(ctx context.Context, c *endpoint.Call) error {
		got <- c.Request()
		return c.Accept(ctx)
	}})
	host := strings.TrimPrefix(bob.URI(), "sip:bob@")
	long := strings.Repeat("a", 10<<10)
	transfer := func(uri string) []ivrapp.Verb { return []ivrapp.Verb{{Verb: "transfer", URI: uri}} }
	set := func(k, v string, then ...ivrapp.Verb) []ivrapp.Verb {
		return append([]ivrapp.Verb{{Verb: "set", Variables: map[string]string{k: v}}}, then...)
	}
	cases := []struct {
		name  string
		verbs []ivrapp.Verb
		ok    bool // the transfer goes through to bob
	}{
		{"legitimate transfer", transfer(bob.URI()), true},
		{"legitimate transfer to ${x}", set("x", "bob", ivrapp.Verb{Verb: "transfer", URI: "sip:${x}@" + host}), true},
		{"CRLF in uri", transfer(bob.URI() + ";x=1\r\nX-Evil: 1"), false},
		{"LF in uri", transfer(bob.URI() + "\nX-Evil: 1"), false},
		{"NUL in uri", transfer(bob.URI() + "\x00"), false},
		{"folding in uri", transfer(bob.URI() + "\r\n X-Evil: 1"), false},
		{"tag after the uri", transfer(bob.URI() + ">;tag=evil"), false},
		{"tag in a uri parameter", transfer(bob.URI() + ";x=>;tag=evil"), false},
		{"tag in a uri header", transfer(bob.URI() + "?X-Evil=>;tag=evil"), false},
		{"oversized uri", transfer("sip:" + long + "@" + host), false},
		{"tag through ${x}", set("x", "bob>;tag=evil", ivrapp.Verb{Verb: "transfer", URI: "sip:${x}@" + host}), false},
		{"oversized ${x}", set("x", "bob"+long, ivrapp.Verb{Verb: "transfer", URI: "sip:${x}@" + host}), false},
		{"CRLF in a variable", set("x", "1\r\nX-Evil: 1", transfer(bob.URI())...), false},
		{"NUL in a variable", set("x", "1\x00", transfer(bob.URI())...), false},
		{"oversized variable", set("x", long, transfer(bob.URI())...), false},
		{"bad variable name", set("x\r\nX-Evil", "1", transfer(bob.URI())...), false},
		{"CRLF in a room", []ivrapp.Verb{{Verb: "conference", Room: "r\r\nX-Evil: 1"}}, false},
		{"tag in a room", []ivrapp.Verb{{Verb: "conference", Room: "r>;tag=evil"}}, false},
		{"oversized room", []ivrapp.Verb{{Verb: "conference", Room: long}}, false},
		{"tag in a room through ${x}", set("x", "r>;tag=evil", ivrapp.Verb{Verb: "conference", Room: "${x}"}), false},
	}
	var mu sync.Mutex
	var reply []byte
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		_, _ = w.Write(reply)
	}))
	defer hook.Close()
	srv := startApp(t, menuTmpl, ivrapp.Config{Webhook: ivrapp.WebhookConfig{URL: hook.URL + "/call", Fallback: "bye"}})
	alice := switchboardtest.NewPhone(t, "alice")
	for _, c := range cases {
		b, err := json.Marshal(ivrapp.WebhookReply{Verbs: c.verbs})
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		reply = b
		mu.Unlock()
		call := alice.Dial(t, srv.URI("ivr"))
		if !c.ok {
			call.WaitTone(t, 1200, 3*time.Second)
			call.WaitTerminated(t, 3*time.Second)
			select {
			case r := <-got:
				t.Fatalf("%s: bob was called:\n%s", c.name, r)
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		select {
		case r := <-got:
			for _, l := range strings.Split(r.String(), "\r\n") {
				if strings.HasPrefix(strings.ToLower(l), "x-evil") || strings.Contains(l, "evil") {
					t.Errorf("%s: injected on the wire: %q", c.name, l)
				}
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: bob was not called", c.name)
		}
		bob.NextCall(t).Hangup(t)
		alice.NextCall(t).WaitTerminated(t, 5*time.Second)
		call.WaitTerminated(t, 5*time.Second)
	}
}
