package park

import (
	"strings"
	"testing"
)

// FuzzURIOf: uriOf (the URI of a Referred-By value, a parker to ring
// back) returns a part of its input without the name-addr's brackets,
// whatever the value.
func FuzzURIOf(f *testing.F) {
	f.Add(`"Alice" <sip:alice@127.0.0.1>;cid=1`)
	f.Add("sip:alice@127.0.0.1;tag=x")
	f.Add("<sip:a@b")
	f.Add("<>")
	f.Add(" < sip:x@y > ")
	f.Fuzz(func(t *testing.T, v string) {
		u := uriOf(v)
		if !strings.Contains(v, u) {
			t.Fatalf("uriOf(%q) = %q, not a part of the value", v, u)
		}
		if strings.Contains(v, "<") && strings.Contains(v[strings.Index(v, "<"):], ">") && strings.ContainsAny(u, "<>") {
			t.Fatalf("uriOf(%q) = %q keeps a bracket", v, u)
		}
	})
}
