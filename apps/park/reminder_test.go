package park_test

import (
	"context"
	"fmt"
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
