package conference_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/conference"
	"github.com/switchboard-sip/switchboard/endpoint"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestTrustedJoinHijackRefused replays the attack of issue 14 item 2: an
// application endpoint of the server calls an outside phone (as a park
// ring-back does), which learns the INVITE's Call-ID, From tag and Via
// branch. From another socket the outsider sends an INVITE to the
// conference reusing all three, with From: nobody@evil.example and
// X-Switchboard-Join: trusted. It must get 403 and join nothing: only an
// INVITE that travelled from our own socket to our own listener counts as
// a local application's.
func TestTrustedJoinHijackRefused(t *testing.T) {
	srv, svc := newService(t, conference.Config{})
	conf, _ := svc.Create("victim", conference.Options{})
	member := sbt.NewPhone(t, "member").Dial(t, conf.URI())
	defer member.Hangup(t)
	sbt.WaitRoster(t, conf, 1, 5*time.Second)

	// The server's app calls the outsider; the outsider reads the INVITE.
	outsider := sbt.NewPhone(t, "outsider")
	bot := srv.Handle(t, "ringback", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := bot.NewConversation().NewCall()
	if err := out.Establish(ctx, outsider.URI(), endpoint.EstablishOptions{}); err != nil {
		t.Fatal(err)
	}
	defer out.Terminate(ctx)
	seen := outsider.NextCall(t).Request()
	callID := seen.CallID().Value()
	fromTag, _ := seen.From().Params.Get("tag")
	branch, _ := seen.Via().Params.Get("branch")

	atk, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer atk.Close()
	body := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9000 RTP/AVP 0\r\n"
	inv := fmt.Sprintf("INVITE sip:conf-victim@127.0.0.1:%[1]d SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %[2]s;branch=%[3]s\r\n"+
		"From: <sip:nobody@evil.example>;tag=%[4]s\r\nTo: <sip:conf-victim@127.0.0.1>\r\nCall-ID: %[5]s\r\nCSeq: 1 INVITE\r\n"+
		"Contact: <sip:nobody@%[2]s>\r\nMax-Forwards: 70\r\n%[6]s: trusted\r\nContent-Type: application/sdp\r\n"+
		"Content-Length: %[7]d\r\n\r\n%[8]s",
		srv.Port(), atk.LocalAddr(), branch, fromTag, callID, conference.JoinHeader, len(body), body)
	if _, err := atk.WriteTo([]byte(inv), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: srv.Port()}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65535)
	final := ""
	for final == "" {
		_ = atk.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := atk.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no final response to the hijack INVITE: %v", err)
		}
		if line, _, _ := strings.Cut(string(buf[:n]), "\r\n"); strings.HasPrefix(line, "SIP/2.0 ") && !strings.HasPrefix(line, "SIP/2.0 1") {
			final = line
		}
	}
	if !strings.HasPrefix(final, "SIP/2.0 403") {
		t.Fatalf("hijack INVITE answered %q, want 403", final)
	}
	if r := conf.Roster(); len(r) != 1 {
		t.Fatalf("roster after the hijack: %+v, want only the member", r)
	}
}

// TestJoinHeaderIsATokenNotASubstring: "X-Switchboard-Join: untrusted"
// from an outside phone is an ordinary join (it used to be read as a
// request for a trusted join, because it contains "trusted", and refused).
func TestJoinHeaderIsATokenNotASubstring(t *testing.T) {
	_, svc := newService(t, conference.Config{})
	conf, _ := svc.Create("tokens", conference.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pc, err := sbt.NewPhone(t, "plain").DialContext(ctx, conf.URI(), endpoint.EstablishOptions{
		Headers: []endpoint.Header{{Name: conference.JoinHeader, Value: "untrusted"}}})
	if err != nil {
		t.Fatalf("join with %s: untrusted: %v", conference.JoinHeader, err)
	}
	defer pc.Hangup(t)
	r := sbt.WaitRoster(t, conf, 1, 5*time.Second)
	if r[0].Trusted {
		t.Fatalf("participant %+v is trusted", r[0])
	}
}
