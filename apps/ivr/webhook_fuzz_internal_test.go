package ivr

import (
	"log/slog"
	"testing"
)

// FuzzWebhookReply decodes and validates arbitrary webhook replies as the
// IVR does with what a webhook answers: every input is verbs the IVR can
// run or an error (the call then takes the fallback node); nothing
// panics, and no accepted transfer target or room carries what could
// break a SIP header.
func FuzzWebhookReply(f *testing.F) {
	for _, s := range []string{
		`{"verbs":[{"verb":"set","variables":{"lang":"en"}},{"verb":"gather","prompt":["tone:500:3s"],"max_digits":3,"action":"http://127.0.0.1/digits"}]}`,
		`{"verbs":[{"verb":"play","prompt":["tone:800:500ms"]},{"verb":"hangup"}]}`,
		`{"verbs":[{"verb":"transfer","uri":"sip:bob@127.0.0.1"}]}`,
		`{"verbs":[{"verb":"transfer","uri":"sip:bob@127.0.0.1\r\nX: y"}]}`,
		`{"verbs":[{"verb":"conference","room":"a b"}]}`,
		`{"verbs":[{"verb":"goto","node":"nowhere"}]}`,
		`{"verbs":[{"verb":"play",`, `{"verbs":null}`, `[]`, `{"extra":1}`, ``,
	} {
		f.Add([]byte(s))
	}
	m, err := ParseMenu("demo.yaml", demoMenu)
	if err != nil {
		f.Fatal(err)
	}
	h := &webhook{cfg: defaultWebhook(WebhookConfig{URL: "http://127.0.0.1/"}), menu: m, log: slog.New(slog.DiscardHandler)}
	f.Fuzz(func(t *testing.T, b []byte) {
		verbs, err := h.parseReply(b)
		if err != nil {
			return
		}
		for _, v := range verbs {
			for _, s := range []string{v.URI, v.Room} {
				for _, c := range s {
					if c == '\r' || c == '\n' || c == 0 {
						t.Fatalf("accepted %q with a control character in %q", b, s)
					}
				}
			}
		}
	})
}
