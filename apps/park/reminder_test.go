package park_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/apps/park"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/peers"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// sippRecallUAS answers one INVITE that carries the park recall
// Alert-Info (RFC 7462) and names the orbit in X-Park-Orbit (else the
// scenario fails), echoes its RTP (-rtp_echo) and waits for the BYE.
const sippRecallUAS = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="recall UAS">
  <recv request="INVITE">
    <action>
      <ereg regexp="Alert-Info: *&lt;urn:alert:service:recall:hold&gt;" search_in="msg" check_it="true" assign_to="ai"/>
      <ereg regexp="X-Park-Orbit: *[0-9]+" search_in="msg" check_it="true" assign_to="ob"/>
    </action>
  </recv>
  <send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:parker@[local_ip]:[local_port]>
Content-Length: 0

]]></send>
  <send retrans="500"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:parker@[local_ip]:[local_port]>
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
  <recv request="ACK"/>
  <recv request="BYE"/>
` + peers.ReplyOK + `  <Reference variables="ai,ob"/>
</scenario>`

// TestReminderRingBackCarriesRecall: a transferee parked with a
// Referred-By naming the parker (a SIPp UAS) is, at the pickup timeout,
// rung back to that parker with the recall Alert-Info and the orbit; the
// parker answers and the parked party hears itself echoed by the parker
// (they are connected, the music is off).
func TestReminderRingBackCarriesRecall(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1e9, 0)}
	r := newRig(t, park.Config{PickupTimeout: 30 * time.Second, RingTime: 10 * time.Second}, park.WithClock(clock))
	var ev eventLog
	r.svc.OnEvent(ev.add)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	port := peers.FreeSIPPort(t)
	uas := peers.StartSIPp(t, ctx, "-sf", peers.WriteScenario(t, sippRecallUAS), "-m", "1", "-rtp_echo",
		"-mp", fmt.Sprint(peers.FreeUDPPort(t)), "-p", fmt.Sprint(port))
	if err := peers.WaitUDPListening(ctx, port); err != nil {
		t.Fatal(err)
	}
	parked, err := sbt.NewPhone(t, "transferee").DialContext(ctx, r.svc.URI(), endpoint.EstablishOptions{
		Headers: []endpoint.Header{{Name: "Referred-By", Value: fmt.Sprintf("<sip:parker@127.0.0.1:%d>", port)}}})
	if err != nil {
		t.Fatal(err)
	}
	ev.waitFor(t, park.Parked)
	hears(t, parked, musicHz, 0.8)
	parked.StartTone(880)
	clock.Advance(30 * time.Second)
	ev.waitFor(t, park.Retrieved)
	hears(t, parked, 880, 0.7) // its own tone, echoed by the parker
	parked.Hangup(t)
	if res := uas.Wait(); res.ExitCode != 0 {
		t.Fatalf("recall UAS: sipp exit %d\n%s\n%s", res.ExitCode, res.ErrorLog, peers.ReadMessages(t, res.Dir))
	}
}

// TestReminderReasonSeenByApplication: an application endpoint that
// parked a call (the parker) and is rung back at the pickup timeout sees
// the call's reason as a reminder about that orbit (park.ReminderOf), and
// a plain call to it is no reminder.
func TestReminderReasonSeenByApplication(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1e9, 0)}
	r := newRig(t, park.Config{PickupTimeout: 30 * time.Second, RingTime: 10 * time.Second}, park.WithClock(clock))
	type seen struct {
		rem  park.Reminder
		ok   bool
		call *endpoint.Call
	}
	calls := make(chan seen, 2)
	r.srv.Handle(t, "parkerapp", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		rem, ok := park.ReminderOf(c)
		if err := c.Accept(ctx); err != nil {
			return
		}
		c.HandOff()
		calls <- seen{rem, ok, c}
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	plain := sbt.NewPhone(t, "someone").Dial(t, r.srv.URI("parkerapp"))
	if s := <-calls; s.ok {
		t.Fatalf("a plain call is taken for a reminder: %+v", s.rem)
	}
	plain.Hangup(t)

	var ev eventLog
	r.svc.OnEvent(ev.add)
	parked, err := sbt.NewPhone(t, "transferee").DialContext(ctx, r.svc.URI(), endpoint.EstablishOptions{
		Headers: []endpoint.Header{{Name: "Referred-By", Value: "<" + r.srv.URI("parkerapp") + ">"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer parked.Hangup(t)
	ev.waitFor(t, park.Parked)
	l := r.svc.List()
	clock.Advance(30 * time.Second)
	var s seen
	select {
	case s = <-calls:
	case <-ctx.Done():
		t.Fatal("the parker application was not rung back")
	}
	if !s.ok || s.rem.Orbit != l[0].Orbit {
		t.Fatalf("ring-back seen as %+v (reminder %v), want a reminder about orbit %s", s.rem, s.ok, l[0].Orbit)
	}
	parked.StartTone(760)
	hears(t, sbt.WrapCall(s.call), 760, 0.7)
}

// sippTransferee is a SIPp UAC playing a transferee whose phone follows a
// blind transfer to the park address with a Referred-By naming the parker
// (PARKER, a SIPp UAS): it stays on the call for a few seconds, then
// hangs up.
const sippTransferee = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="transferee with Referred-By">
  <send retrans="500"><![CDATA[
INVITE sip:park@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/UDP [local_ip]:[local_port];branch=[branch]
From: <sip:transferee@[local_ip]:[local_port]>;tag=[pid]T[call_number]
To: <sip:park@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:transferee@[local_ip]:[local_port]>
Referred-By: <PARKER>
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
  <recv response="200" rtd="true"/>
  <send><![CDATA[
ACK sip:park@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/UDP [local_ip]:[local_port];branch=[branch]
From: <sip:transferee@[local_ip]:[local_port]>;tag=[pid]T[call_number]
To: <sip:park@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
  <pause milliseconds="6000"/>
  <send retrans="500"><![CDATA[
BYE sip:park@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/UDP [local_ip]:[local_port];branch=[branch]
From: <sip:transferee@[local_ip]:[local_port]>;tag=[pid]T[call_number]
To: <sip:park@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200"/>
</scenario>`

// TestReminderRingBackSIPpTransferee is TestReminderRingBackCarriesRecall
// with a SIPp transferee sending the Referred-By: at the pickup timeout
// the parker it names (a SIPp UAS) is rung back with the recall
// Alert-Info, answers, and stays connected until the transferee hangs up.
func TestReminderRingBackSIPpTransferee(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1e9, 0)}
	r := newRig(t, park.Config{PickupTimeout: 30 * time.Second, RingTime: 10 * time.Second}, park.WithClock(clock))
	var ev eventLog
	r.svc.OnEvent(ev.add)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	port := peers.FreeSIPPort(t)
	uas := peers.StartSIPp(t, ctx, "-sf", peers.WriteScenario(t, sippRecallUAS), "-m", "1", "-rtp_echo",
		"-mp", fmt.Sprint(peers.FreeUDPPort(t)), "-p", fmt.Sprint(port))
	if err := peers.WaitUDPListening(ctx, port); err != nil {
		t.Fatal(err)
	}
	parker := fmt.Sprintf("sip:parker@127.0.0.1:%d", port)
	uac := peers.StartSIPp(t, ctx, "-sf", peers.WriteScenario(t, strings.ReplaceAll(sippTransferee, "PARKER", parker)),
		"-m", "1", "-mp", fmt.Sprint(peers.FreeUDPPort(t)), "-p", fmt.Sprint(peers.FreeSIPPort(t)),
		fmt.Sprintf("127.0.0.1:%d", r.srv.Port()))
	ev.waitFor(t, park.Parked)
	if l := r.svc.List(); len(l) != 1 || l[0].Parker != parker {
		t.Fatalf("parked %+v, want the parker named by the transferee's Referred-By, %s", l, parker)
	}
	clock.Advance(30 * time.Second)
	ev.waitFor(t, park.Retrieved)
	for name, p := range map[string]*peers.SIPpProcess{"transferee": uac, "recall UAS": uas} {
		if res := p.Wait(); res.ExitCode != 0 {
			t.Errorf("%s: sipp exit %d\n%s\n%s", name, res.ExitCode, res.ErrorLog, peers.ReadMessages(t, res.Dir))
		}
	}
}
