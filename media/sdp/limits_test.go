package sdp

import (
	"bytes"
	"testing"
)

func TestCheck(t *testing.T) {
	l := Limits{Size: 200, Media: 2, Attributes: 2}
	for _, tc := range []struct {
		body string
		ok   bool
	}{
		{"v=0\r\nm=audio 1 RTP/AVP 0\r\na=x\r\na=y\r\nm=video 2 RTP/AVP 96\r\na=z\r\n", true},
		{"v=0\r\nm=audio 1 RTP/AVP 0\r\nm=audio 2 RTP/AVP 0\r\nm=audio 3 RTP/AVP 0\r\n", false},
		{"v=0\r\na=s\r\na=s\r\na=s\r\n", false}, // session-level attributes count too
		{"v=0\r\nm=audio 1 RTP/AVP 0\r\na=x\r\na=y\r\na=z\r\n", false},
		{string(bytes.Repeat([]byte("x"), 201)), false},
	} {
		if err := Check([]byte(tc.body), l); (err == nil) != tc.ok {
			t.Errorf("Check(%q) = %v, want ok %v", tc.body, err, tc.ok)
		}
	}
}

// FuzzCheck: a body Check accepts has no more m= lines, nor a= lines in
// one section, than its limits, counted here the slow way.
func FuzzCheck(f *testing.F) {
	f.Add([]byte("v=0\r\nm=audio 1 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"), 2, 2)
	f.Add([]byte("a=\na=\nm=\nm=\r\n"), 1, 1)
	f.Add([]byte("m"), 0, 0)
	f.Fuzz(func(t *testing.T, body []byte, media, attrs int) {
		l := Limits{Size: 4096, Media: media % 16, Attributes: attrs % 16}
		if Check(body, l) != nil {
			return
		}
		m, a := 0, 0
		for _, line := range bytes.Split(body, []byte("\n")) {
			switch {
			case bytes.HasPrefix(line, []byte("m=")):
				m, a = m+1, 0
			case bytes.HasPrefix(line, []byte("a=")):
				a++
			}
			if (l.Media > 0 && m > l.Media) || (l.Attributes > 0 && a > l.Attributes) {
				t.Fatalf("Check accepted %q over %+v", body, l)
			}
		}
	})
}
