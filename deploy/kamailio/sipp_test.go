package kamailio_test

import (
	"fmt"
	"strings"
)

// sippSDP is a G.711 offer at SIPp's media port.
const sippSDP = `v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
`

// sippRequest is a request of the dialog: in-dialog ones (extra set) go to
// the remote target along the route set the 200 recorded (rrs="true").
func sippRequest(method, cseq, extra, body string) string {
	ct := ""
	if body != "" {
		ct = "Content-Type: application/sdp\n"
	}
	ruri := "sip:[service]@[remote_ip]:[remote_port]"
	if extra != "" {
		ruri = "[next_url]"
		extra += "\n[routes]"
	}
	return fmt.Sprintf(`<![CDATA[
%[1]s `+ruri+` SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>%[3]s
Call-ID: [call_id]
CSeq: %[2]s %[1]s
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
%[4]sContent-Length: [len]

%[5]s]]>`, method, cseq, extra, ct, body)
}

// invite sends the INVITE and takes the provisional answers.
var inviteSteps = `  <send retrans="500">` + sippRequest("INVITE", "1", "", sippSDP) + `</send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
`

var ackStep = `  <send>` + sippRequest("ACK", "1", "[peer_tag_param]", "") + `</send>
`

var byeSteps = `  <send retrans="500">` + sippRequest("BYE", "2", "[peer_tag_param]", "") + `</send>
  <recv response="200"/>
`

// parkScenario parks a call at sip:[service]@ (park), logs the orbit the
// 200 names in X-Park-Orbit, stays parked for holdMS and hangs up.
func parkScenario(holdMS int) string {
	return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="park">
` + inviteSteps + `  <recv response="200" rtd="true" rrs="true">
    <action><ereg regexp="X-Park-Orbit: *([0-9]+)" search_in="msg" check_it="true" assign_to="all,orbit"/></action>
  </recv>
` + ackStep + `  <nop><action><log message="orbit [$orbit] [call_id]"/></action></nop>
  <pause milliseconds="` + fmt.Sprint(holdMS) + `"/>
` + byeSteps + `  <Reference variables="all"/>
</scenario>`
}

// refusedScenario expects the INVITE to be refused with code.
func refusedScenario(code int) string {
	return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="refused">
` + inviteSteps + `  <recv response="` + fmt.Sprint(code) + `">
    <action><ereg regexp="SIP/2.0 [0-9]+ [^\r\n]*" search_in="msg" check_it="true" assign_to="status"/></action>
  </recv>
  <send>` + sippRequest("ACK", "1", "", "") + `</send>
  <nop><action><log message="refused [$status]"/></action></nop>
</scenario>`
}

// callScenario answers the INVITE with ACK, holds the call for holdMS and
// hangs up; any refusal fails the call.
func callScenario(holdMS int) string {
	return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="call">
` + inviteSteps + `  <recv response="200" rtd="true" rrs="true"/>
` + ackStep + `  <pause milliseconds="` + fmt.Sprint(holdMS) + `"/>
` + byeSteps + `</scenario>`
}

// lampScenario subscribes to the dialog events of sip:[service]@ and
// expects NOTIFYs whose states are wants, in order (RFC 4235).
func lampScenario(wants ...string) string {
	var sb strings.Builder
	sb.WriteString(`<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="busy lamp">
  <send retrans="500"><![CDATA[
SUBSCRIBE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:lamp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 SUBSCRIBE
Contact: sip:lamp@[local_ip]:[local_port]
Max-Forwards: 70
Event: dialog
Accept: application/dialog-info+xml
Expires: 300
Content-Length: 0

]]></send>
  <recv response="200"/>
`)
	var refs []string
	for i, w := range wants {
		fmt.Fprintf(&sb, `  <recv request="NOTIFY">
    <action><ereg regexp="<state>%s</state>" search_in="body" check_it="true" assign_to="s%d"/></action>
  </recv>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
  <nop><action><log message="lamp %s"/></action></nop>
`, w, i, w)
		refs = append(refs, fmt.Sprintf("s%d", i))
	}
	sb.WriteString(`  <Reference variables="` + strings.Join(refs, ",") + `"/>
</scenario>`)
	return sb.String()
}
