package park_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/apps/park"
	"github.com/switchboard-sip/switchboard/internal/peers"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// sippRetrieveAndRepark retrieves orbit [service] and at once
// blind-transfers the call back to the park address, as linphone does: it
// requires the REFER's 202 before the first NOTIFY (a NOTIFY first fails
// the call: SIPp takes it for an unexpected message) and answers the
// NOTIFYs. Then it hangs up at once: after answering the final NOTIFY
// (200 sipfrag), its BYE 0 ms after that answer crosses ours (SIPp sends
// it unless our BYE has arrived within the millisecond it takes SIPp to
// get to it); or, with byeFirst, its BYE goes out before the answer to
// the final NOTIFY, while our side still waits for that answer.
func sippRetrieveAndRepark(byeFirst bool) string {
	notify2 := `  <recv request="NOTIFY">
    <action><ereg regexp="SIP/2.0 200" search_in="body" check_it="true" assign_to="n2"/></action>
  </recv>
`
	bye := `  <send retrans="500"><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:grabber@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 3 BYE
Max-Forwards: 70
Content-Length: 0

]]></send>
`
	// Our BYE and the answer to SIPp's may come in either order.
	crossing := `  <recv request="BYE" optional="true" next="theirs"/>
  <recv response="481" optional="true" next="done"/>
  <recv response="200" next="done"/>
  <label id="theirs"/>
` + peers.ReplyOK + `  <recv response="481" optional="true" next="done"/>
  <recv response="200" next="done"/>
  <label id="done"/>
`
	var tail string
	if byeFirst {
		// The answer to the final NOTIFY, sent after the BYE's: from the
		// NOTIFY's headers, saved.
		tail = `  <recv request="NOTIFY">
    <action>
      <ereg regexp="SIP/2.0 200" search_in="body" check_it="true" assign_to="n2"/>
      <ereg regexp="Via: [^\r\n]*" search_in="msg" check_it="true" assign_to="nvia"/>
      <ereg regexp="From: [^\r\n]*" search_in="msg" check_it="true" assign_to="nfrom"/>
      <ereg regexp="To: [^\r\n]*" search_in="msg" check_it="true" assign_to="nto"/>
      <ereg regexp="CSeq: [^\r\n]*" search_in="msg" check_it="true" assign_to="ncseq"/>
    </action>
  </recv>
` + bye + `  <recv response="481" optional="true" next="answer"/>
  <recv response="200"/>
  <label id="answer"/>
  <send><![CDATA[
SIP/2.0 200 OK
[$nvia]
[$nfrom]
[$nto]
Call-ID: [call_id]
[$ncseq]
Content-Length: 0

]]></send>
  <Reference variables="nvia,nfrom,nto,ncseq"/>
`
	} else {
		tail = notify2 + peers.ReplyOK + `  <recv request="BYE" timeout="1" ontimeout="mine"/>
` + peers.ReplyOK + `  <nop next="end"/>
  <label id="mine"/>
` + bye + crossing + `  <label id="end"/>
`
	}
	return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="retrieve and re-park">
  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:grabber@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:grabber@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=- 1 1 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rtd="true" rrs="true">
    <action><ereg regexp="Contact: *&lt;sip:([0-9]+)@" search_in="msg" check_it="true" assign_to="c,cuser"/></action>
  </recv>
  <send><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:grabber@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
  <send retrans="500"><![CDATA[
REFER [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:grabber@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 2 REFER
Contact: <sip:grabber@[local_ip]:[local_port]>
Max-Forwards: 70
Refer-To: <sip:park@[remote_ip]:[remote_port]>
Content-Length: 0

]]></send>
  <recv response="202"/>
  <recv request="NOTIFY">
    <action><ereg regexp="SIP/2.0 100" search_in="body" check_it="true" assign_to="n1"/></action>
  </recv>
` + peers.ReplyOK + `` + tail + `  <Reference variables="c,cuser,n1,n2"/>
</scenario>`
}

// TestTransferorByeRightAfterFinalNotify: a parked call is retrieved by a
// SIPp transferor that at once blind-transfers it back to park and sends
// BYE 0 ms after answering the final NOTIFY (or even before answering
// it), 20 times in a row. Every
// time, the 202 precedes the first NOTIFY, the answer's Contact names the
// orbit (not its prefix), the call is parked again under the parked
// party's own URI, and it is never abandoned; at the end it hears the
// music and a phone retrieves it and hears its tone.
func TestTransferorByeRightAfterFinalNotify(t *testing.T) {
	t.Run("BYE after the answer", func(t *testing.T) { testTransferorBye(t, false) })
	t.Run("BYE before the answer", func(t *testing.T) { testTransferorBye(t, true) })
}

func testTransferorBye(t *testing.T, byeFirst bool) {
	const rounds = 20
	r := newRig(t, park.Config{})
	var mu sync.Mutex
	var events []park.Event
	parked := make(chan park.Entry, rounds+1)
	r.svc.OnEvent(func(e park.Event) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
		if e.Type == park.Parked {
			parked <- e.Entry
		}
	})
	pc, e := r.parkPhone(t, sbt.NewPhone(t, "parkee"))
	<-parked
	pc.StartTone(800)
	sockets := sbt.OpenSockets(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	res := peers.RunSIPp(t, ctx, "-sf", peers.WriteScenario(t, sippRetrieveAndRepark(byeFirst)), "-s", e.Orbit,
		"-m", fmt.Sprint(rounds), "-l", "1", "-trace_msg", "-mp", fmt.Sprint(peers.FreeUDPPort(t)),
		"-p", fmt.Sprint(peers.FreeSIPPort(t)), fmt.Sprintf("127.0.0.1:%d", r.srv.Port()))
	if res.ExitCode != 0 {
		msgs := peers.ReadMessages(t, res.Dir)
		t.Fatalf("sipp exit %d\n%s\n%s", res.ExitCode, res.ErrorLog, msgs[:min(len(msgs), 6000)])
	}
	msgs := peers.ReadMessages(t, res.Dir)
	if n := strings.Count(msgs, "Contact: <sip:"+e.Orbit+"@"); n < rounds {
		t.Errorf("%d messages carry Contact <sip:%s@...>, want the orbit in all %d answers", n, e.Orbit, rounds)
	}
	for i := 0; i < rounds; i++ {
		select {
		case <-parked:
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of %d re-parks", i, rounds)
		}
	}
	l := r.svc.List()
	if len(l) != 1 || !strings.Contains(l[0].Parked, "parkee@") {
		t.Fatalf("after %d retrieve-and-re-park rounds: %+v, want the parkee parked under its own URI", rounds, l)
	}
	// Each re-park is carried out in process: the parkee's call is parked
	// itself, not chained to a loopback call to the park address (which
	// would keep a dialog and two RTP sessions per round).
	deadline := time.Now().Add(3 * time.Second)
	for sbt.OpenSockets(t) != sockets && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := sbt.OpenSockets(t); n != sockets {
		t.Errorf("%d sockets open after %d re-parks, %d before: the re-parks left calls behind", n, rounds, sockets)
	}
	mu.Lock()
	for _, ev := range events {
		if ev.Type == park.Abandoned || ev.Type == park.Disconnected {
			t.Errorf("event %s on orbit %s (parked %s)", ev.Type, ev.Entry.Orbit, ev.Entry.Parked)
		}
	}
	mu.Unlock()
	hears(t, pc, musicHz, 0.8)
	rc := sbt.NewPhone(t, "retriever").Dial(t, r.svc.OrbitURI(l[0].Orbit))
	hears(t, rc, 800, 0.7)
	rc.Hangup(t)
}
