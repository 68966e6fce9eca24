package platform

import (
	"testing"
	"time"
)

const sampleInvite = "INVITE sip:echo@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"

func TestMessageMethod(t *testing.T) {
	for _, c := range []struct {
		in       string
		method   string
		response bool
	}{
		{sampleInvite, "INVITE", false},
		{"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP x;branch=z9hG4bK-1\r\ncseq:  7   BYE\r\n\r\n", "BYE", true},
		{"SIP/2.0 200 OK\r\nVia: x\r\n\r\nCSeq: 1 INVITE\r\n", "", true}, // a CSeq in the body is no header
		{"garbage", "garbage", false},
	} {
		m, r := messageMethod([]byte(c.in))
		if m != c.method || r != c.response {
			t.Errorf("%q: %q %v, want %q %v", c.in, m, r, c.method, c.response)
		}
	}
}

// TestDupSetWindow: a datagram repeated within the window is a duplicate,
// after it (two generations later) it is new again, and a full generation
// rotates early so memory stays bounded.
func TestDupSetWindow(t *testing.T) {
	d := newDupSet(32*time.Second, 8)
	now := time.Unix(1000, 0)
	b := []byte(sampleInvite)
	if d.seen(b, now) {
		t.Fatal("first datagram reported as a duplicate")
	}
	if !d.seen(b, now.Add(20*time.Second)) {
		t.Fatal("repeat 20 s later not reported (window 32 s)")
	}
	if d.seen(b, now.Add(60*time.Second)) {
		t.Fatal("repeat 40 s after the last sighting reported")
	}
	for i := range 10 {
		d.seen([]byte{byte(i), 1, 2, 3, 4, 5, 6, 7}, now.Add(60*time.Second))
	}
	if len(d.cur)+len(d.prev) > 8 {
		t.Fatalf("%d hashes kept, bound 8", len(d.cur)+len(d.prev))
	}
}

func BenchmarkRetransmissionCheck(b *testing.B) {
	d := newDupSet(32*time.Second, 1<<17)
	msg := []byte(sampleInvite + string(make([]byte, 600)))
	now := time.Now()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		msg[0] = byte(i)
		msg[1] = byte(i >> 8)
		d.seen(msg, now)
		i++
	}
}
