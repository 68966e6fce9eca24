package endpoint

import "testing"

func TestParseReplaces(t *testing.T) {
	for _, v := range []string{
		"abc;to-tag=T1;from-tag=F1",
		"abc; from-tag=F1 ;to-tag=T1",
		"abc?to-tag?T1?from-tag?F1", // baresip 1.0
	} {
		id, to, from := parseReplaces(v)
		if id != "abc" || to != "T1" || from != "F1" {
			t.Errorf("parseReplaces(%q) = %q %q %q", v, id, to, from)
		}
	}
}

func FuzzParseReplaces(f *testing.F) {
	f.Add("abc;to-tag=T1;from-tag=F1")
	f.Add("abc?to-tag?T1?from-tag")
	f.Fuzz(func(t *testing.T, v string) { parseReplaces(v) })
}
