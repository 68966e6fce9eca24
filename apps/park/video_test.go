package park_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/apps/park"
	"github.com/switchboard-sip/switchboard/internal/peers"
)

// TestOnlyAudioIsParked: a call offering audio and video is parked with
// the video m-line answered on port 0, and the orbit comes back in
// X-Park-Orbit.
func TestOnlyAudioIsParked(t *testing.T) {
	r := newRig(t, park.Config{})
	sc := `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="park audio and video">
  <send retrans="500"><![CDATA[
INVITE sip:park@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:video@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:park@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: sip:video@[local_ip]:[local_port]
Referred-By: <sip:parker@127.0.0.1>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=video [media_port+2] RTP/AVP 96
a=rtpmap:96 H264/90000

]]></send>
  <recv response="100" optional="true"/>
  <recv response="200">
    <action>
      <ereg regexp="m=video 0 " search_in="body" check_it="true" assign_to="1"/>
      <ereg regexp="m=audio [1-9]" search_in="body" check_it="true" assign_to="2"/>
      <ereg regexp="700[0-9]" search_in="hdr" header="X-Park-Orbit:" check_it="true" assign_to="3"/>
    </action>
  </recv>
  <send><![CDATA[
ACK sip:park@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:video@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:park@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
  <pause milliseconds="500"/>
  <send retrans="500"><![CDATA[
BYE sip:park@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:video@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:park@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200"/>
  <Reference variables="1,2,3"/>
</scenario>`
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res := peers.RunSIPp(t, ctx, "-sf", peers.WriteScenario(t, sc), "-m", "1",
		"-p", fmt.Sprint(peers.FreeSIPPort(t)), "-mp", fmt.Sprint(peers.FreeUDPPort(t)&^1), fmt.Sprintf("127.0.0.1:%d", r.srv.Port()))
	if res.ExitCode != 0 {
		t.Fatalf("sipp exit %d (video not rejected, or no orbit header)\n%s", res.ExitCode, res.ErrorLog)
	}
	// The parked party hung up: the orbit is free again.
	for deadline := time.Now().Add(5 * time.Second); len(r.svc.List()) != 0; {
		if time.Now().After(deadline) {
			t.Fatalf("orbit still taken: %+v", r.svc.List())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
