package platform

import (
	"bytes"
	"net"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// recordConn is a PacketConn that keeps what is written to it.
type recordConn struct {
	net.PacketConn
	out [][]byte
}

func (c *recordConn) WriteTo(b []byte, _ net.Addr) (int, error) {
	c.out = append(c.out, bytes.Clone(b))
	return len(b), nil
}

const screenInvite = "INVITE sip:x@127.0.0.1 SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKscreen\r\n" +
	"From: <sip:f@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: screen\r\nCSeq: 1 INVITE\r\n" +
	"Contact: <sip:f@127.0.0.1:5999>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"

// FuzzScreen feeds raw datagrams to the stateless path every UDP request
// crosses before sipgo sees it (malformed requests answered 400/505,
// OPTIONS answered without a transaction). Nothing may panic; a datagram
// gets at most one response, and a response is a SIP/2.0 status line
// whatever version the request claimed. The seeds are the malformed cases
// of issue 14 item 8.
func FuzzScreen(f *testing.F) {
	seeds := []string{
		screenInvite,
		strings.Replace(screenInvite, "INVITE sip:x", "OPTIONS sip:x", 1),
		strings.Replace(screenInvite, " SIP/2.0\r\n", " SIP/3.0\r\n", 1),
		strings.Replace(screenInvite, "Max-Forwards: 70", "Max-Forwards: 70\r\nContent-Length: 0", 1),
		strings.Replace(screenInvite, "Contact: <sip:f@127.0.0.1:5999>", "Contact: *", 1),
		strings.Replace(screenInvite, "CSeq: 1 INVITE", "CSeq: one INVITE", 1),
		strings.Replace(screenInvite, "Max-Forwards: 70", "Max-Forwards: many", 1),
		strings.Replace(screenInvite, "Content-Length: 0", "Content-Length: -5", 1),
		strings.Replace(screenInvite, "Content-Length: 0", "Content-Length: 50", 1),
		strings.Replace(screenInvite, "INVITE sip:x@", "INVITE sip:x\r@", 1),
		strings.Replace(strings.Replace(screenInvite, "INVITE", "REFER", -1), "Max-Forwards: 70", "Max-Forwards: 70\r\nRefer-To: <>", 1),
		strings.Replace(screenInvite, "Max-Forwards: 70", "Max-Forwards: 0", 1),
		"\r\n\r\n",
		"SIP/2.0 200 OK\r\n\r\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	p, err := New(Config{UDP: []string{"127.0.0.1:0"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = p.Close() })
	parser := sip.NewParser()
	from := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5999}
	f.Fuzz(func(t *testing.T, b []byte) {
		conn := &recordConn{}
		p.screen(conn, parser, b, from)
		if len(conn.out) > 1 {
			t.Fatalf("%d responses to one datagram", len(conn.out))
		}
		for _, r := range conn.out {
			if !bytes.HasPrefix(r, []byte("SIP/2.0 ")) {
				t.Fatalf("response %q does not start with SIP/2.0", r[:min(len(r), 40)])
			}
		}
	})
}
