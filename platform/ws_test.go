package platform_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/switchboard-sip/switchboard/platform"
)

// TestWebSocketTransport: OPTIONS over a SIP WebSocket (RFC 7118) is
// answered on the same connection.
func TestWebSocketTransport(t *testing.T) {
	p, err := platform.New(platform.Config{WS: []string{"127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d := ws.Dialer{Protocols: []string{"sip"}}
	conn, _, _, err := d.Dial(ctx, "ws://"+p.Addr("ws").String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	local := conn.LocalAddr().String()
	msg := strings.Join([]string{
		"OPTIONS sip:anyone@127.0.0.1 SIP/2.0",
		"Via: SIP/2.0/WS " + local + ";branch=z9hG4bKws1",
		"From: <sip:tester@127.0.0.1>;tag=ws",
		"To: <sip:anyone@127.0.0.1>",
		"Call-ID: ws-1",
		"CSeq: 1 OPTIONS",
		"Max-Forwards: 70",
		"Content-Length: 0",
	}, "\r\n") + "\r\n\r\n"
	if err := wsutil.WriteClientText(conn, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	res, err := wsutil.ReadServerText(conn)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(res), "SIP/2.0 200") {
		t.Fatalf("got %q", statusLine(string(res)))
	}
}
