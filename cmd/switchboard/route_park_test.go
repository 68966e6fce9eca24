package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/admin"
	"github.com/switchboard-sip/switchboard/apps/route"
	"github.com/switchboard-sip/switchboard/internal/peers"
)

// sippPBXParks is a PBX behind a route (SIPp UAS): it answers the routed
// call, then blind-transfers the caller to the park address PARK without
// Referred-By (as baresip does), reports nothing itself, and takes the
// NOTIFYs and the BYE that end its part.
const sippPBXParks = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="PBX parks its caller">
  <recv request="INVITE">
    <action>
      <ereg regexp="From: ([^\r\n]*)" search_in="msg" check_it="true" assign_to="all,from"/>
      <ereg regexp="Contact: *&lt;?([^&gt;\r\n]*)" search_in="msg" check_it="true" assign_to="all2,contact"/>
    </action>
  </recv>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]P[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:pbx@[local_ip]:[local_port]>
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
  <pause milliseconds="500"/>
  <send retrans="500"><![CDATA[
REFER [$contact] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:pbx@[local_ip]:[local_port]>;tag=[pid]P[call_number]
To: [$from]
Call-ID: [call_id]
CSeq: 1 REFER
Contact: <sip:pbx@[local_ip]:[local_port]>
Refer-To: <PARK>
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="202"/>
  <recv request="NOTIFY"/>
` + peers.ReplyOK + `  <recv request="NOTIFY">
    <action><ereg regexp="SIP/2.0 200" search_in="body" check_it="true" assign_to="n2"/></action>
  </recv>
` + peers.ReplyOK + `  <recv request="BYE"/>
` + peers.ReplyOK + `  <Reference variables="all,all2,n2"/>
</scenario>`

// TestRoutedCallParkedByItsPBX: a caller routed to a PBX (SIPp) is
// blind-transferred by the PBX to this server's park address: the route's
// back-to-back call parks the caller's own call in process (the orbit
// holds the call that arrived at the route, not a loopback call into the
// park app), the PBX hears the transfer succeed and is hung up, and the
// caller stays up, parked, until the orbit is hung up through the API.
func TestRoutedCallParkedByItsPBX(t *testing.T) {
	pbxPort := peers.FreeSIPPort(t)
	e := startAdminServer(t, "", func(c *Config) {
		c.Routes = []route.Rule{{Name: "pbx", Prefix: "9", Target: fmt.Sprintf("sip:${user}@127.0.0.1:%d", pbxPort)}}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	scenario := strings.ReplaceAll(sippPBXParks, "PARK", fmt.Sprintf("sip:park@127.0.0.1:%d", e.port))
	pbx := peers.StartSIPp(t, ctx, "-sf", peers.WriteScenario(t, scenario), "-m", "1",
		"-mp", fmt.Sprint(peers.FreeUDPPort(t)), "-p", fmt.Sprint(pbxPort))
	if err := peers.WaitUDPListening(ctx, pbxPort); err != nil {
		t.Fatal(err)
	}
	caller := peers.StartSIPp(t, ctx, "-sf", peers.WriteScenario(t, sippWaitBye), "-s", "9001", "-m", "1",
		"-mp", fmt.Sprint(peers.FreeUDPPort(t)), "-p", fmt.Sprint(peers.FreeSIPPort(t)), fmt.Sprintf("127.0.0.1:%d", e.port))
	var orbit admin.OrbitView
	waitFor(t, 10*time.Second, func() bool {
		_, b := e.do(t, "GET", "/api/v1/orbits", nil)
		l := decode[orbitList](t, b).Orbits
		if len(l) == 1 {
			orbit = l[0]
		}
		return len(l) == 1
	})
	if res := pbx.Wait(); res.ExitCode != 0 {
		t.Fatalf("PBX: sipp exit %d\n%s\n%s", res.ExitCode, res.ErrorLog, peers.ReadMessages(t, res.Dir))
	}
	_, b := e.do(t, "GET", "/api/v1/calls/"+orbit.CallID, nil)
	// In process, the orbit holds the caller's call to the route's
	// endpoint; a loopback transfer would have parked a new call into the
	// park app.
	if c := decode[admin.CallView](t, b); c.ID != orbit.CallID || c.App == "park" || c.Direction != "incoming" ||
		!strings.Contains(c.From, "sipp@") || !strings.Contains(orbit.Parked, "sipp@") {
		t.Fatalf("orbit %+v holds call %+v: want the caller's own call to the route, parked in process", orbit, c)
	}
	if code, _ := e.do(t, "DELETE", "/api/v1/orbits/"+orbit.Orbit, nil); code/100 != 2 {
		t.Fatalf("hang up orbit %s: %d", orbit.Orbit, code)
	}
	if res := caller.Wait(); res.ExitCode != 0 {
		t.Fatalf("caller: sipp exit %d\n%s", res.ExitCode, res.ErrorLog)
	}
}
