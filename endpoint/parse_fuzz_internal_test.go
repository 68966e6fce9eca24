package endpoint

import (
	"strings"
	"testing"
	"time"
)

// FuzzParseReferTo: any Refer-To value either fails or yields a target
// that ParseURI accepts and that carries no header part (?...) nor
// angle bracket: a Replaces smuggled past it would name another dialog.
func FuzzParseReferTo(f *testing.F) {
	f.Add("<sip:bob@example.com>")
	f.Add("<sip:park@127.0.0.1?Replaces=abc%3Bto-tag%3DT1%3Bfrom-tag%3DF1>")
	f.Add("sip:carol@example.com;transport=tcp")
	f.Add(`"Bob" <sip:bob@h?replaces=x&Replaces=y>;param`)
	f.Add("<sip:a@b?%zz>")
	f.Add("<sip:a@b")
	f.Add("<tel:+15551234>")
	f.Fuzz(func(t *testing.T, v string) {
		target, _, err := parseReferTo(v)
		if err != nil {
			return
		}
		if _, err := ParseURI(target); err != nil {
			t.Fatalf("parseReferTo(%q) = target %q that ParseURI refuses: %v", v, target, err)
		}
		if strings.ContainsAny(target, "?<>") {
			t.Fatalf("parseReferTo(%q) = target %q with a header part or bracket", v, target)
		}
	})
}

// FuzzParseDTMFInfo: any INFO body gives no key or one of the sixteen
// DTMF keys, and a duration within 1 ms–10 s.
func FuzzParseDTMFInfo(f *testing.F) {
	f.Add("application/dtmf-relay", []byte("Signal=5\r\nDuration=160\r\n"))
	f.Add("application/dtmf-relay; charset=x", []byte("signal = 11\nduration=99999"))
	f.Add("Application/DTMF", []byte(" # "))
	f.Add("application/dtmf-relay", []byte("Signal=\nDuration=-1\n=\n\x00"))
	f.Add("text/plain", []byte("Signal=1"))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		digit, dur := parseDTMFInfo(ct, body)
		if digit != 0 && !strings.ContainsRune("0123456789*#ABCD", digit) {
			t.Fatalf("parseDTMFInfo(%q, %q) = key %q", ct, body, digit)
		}
		if dur <= 0 || dur > 10*time.Second {
			t.Fatalf("parseDTMFInfo(%q, %q) = duration %v", ct, body, dur)
		}
	})
}
