package ivr_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/conference"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/ivr"
	"github.com/switchboard-sip/switchboard/switchboardtest"
)

// conferenceSubscriber is a SIPp scenario: SUBSCRIBE to the conference
// event package (RFC 4575), take the first NOTIFY (full state), and
// unsubscribe.
const conferenceSubscriber = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="conference subscriber">
  <send retrans="500">
    <![CDATA[
SUBSCRIBE sip:USER@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:watcher@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:USER@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 SUBSCRIBE
Contact: sip:watcher@[local_ip]:[local_port]
Max-Forwards: 70
Event: conference
Accept: application/conference-info+xml
Expires: 60
Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
  <recv request="NOTIFY"/>
` + peers.ReplyOK + `  <send retrans="500">
    <![CDATA[
SUBSCRIBE sip:USER@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:watcher@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:USER@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 SUBSCRIBE
Contact: sip:watcher@[local_ip]:[local_port]
Max-Forwards: 70
Event: conference
Expires: 0
Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
  <recv request="NOTIFY"/>
` + peers.ReplyOK + `</scenario>`

// TestAnnouncerHiddenFromSIPpSubscriber: with the announcer in the
// conference (it has played and announced bob's entry), the full-state
// NOTIFY a SIPp subscriber receives lists the two phones and nobody else.
func TestAnnouncerHiddenFromSIPpSubscriber(t *testing.T) {
	srv := switchboardtest.NewServer(t)
	confs, err := conference.New(srv.Platform, conference.Config{})
	if err != nil {
		t.Fatal(err)
	}
	room, err := confs.Create("room", conference.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ep, err := endpoint.NewApplication(srv.Platform, endpoint.Settings{OwnerURI: "sip:announcer@127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	a := ivr.NewAnnouncer(ep, room, ivr.AnnouncerOptions{EntryTone: ivr.Tone(1300, 500*time.Millisecond)})
	defer a.Close()
	ann := switchboardtest.NewPhone(t, "ann").Dial(t, room.URI())
	defer ann.Hangup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Play(ctx, ivr.Tone(900, 300*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	ann.WaitTone(t, 900, 3*time.Second) // the announcer is in
	bob := switchboardtest.NewPhone(t, "bob").Dial(t, room.URI())
	defer bob.Hangup(t)
	ann.WaitTone(t, 1300, 3*time.Second) // and announced bob

	user := strings.TrimPrefix(room.URI()[:strings.Index(room.URI(), "@")], "sip:")
	p := peers.StartSIPp(t, ctx, "-sf", peers.WriteScenario(t, strings.ReplaceAll(conferenceSubscriber, "USER", user)),
		"-m", "1", "-trace_msg", "-p", fmt.Sprint(peers.FreeSIPPort(t)), fmt.Sprintf("127.0.0.1:%d", srv.Port()))
	res := p.Wait()
	if res.ExitCode != 0 {
		t.Fatalf("subscriber: sipp exit %d\n%s", res.ExitCode, res.ErrorLog)
	}
	msgs := peers.ReadMessages(t, res.Dir)
	i := strings.Index(msgs, "<conference-info")
	j := strings.Index(msgs, "</conference-info>")
	if i < 0 || j < i {
		t.Fatalf("no conference-info in the NOTIFYs:\n%s", msgs)
	}
	body := msgs[i:j]
	var users []string
	for _, m := range regexp.MustCompile(`<user[^>]*entity="sip:([^@"]*)@`).FindAllStringSubmatch(body, -1) {
		users = append(users, m[1])
	}
	slices.Sort(users)
	if !slices.Equal(users, []string{"ann", "bob"}) {
		t.Fatalf("the roster lists users %v, want [ann bob] (the announcer hidden):\n%s", users, body)
	}
	if strings.Contains(body, "announcer") {
		t.Fatalf("the roster names the announcer:\n%s", body)
	}
	// The announcer is there all the same: hidden, not gone.
	if n := len(room.Roster()); n != 3 {
		t.Fatalf("the conference's own roster has %d participants, want 3 with the announcer", n)
	}
}
