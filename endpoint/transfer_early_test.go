package endpoint_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/peers"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// sippEarlyReporter answers a call, then takes the REFER it is sent and
// carries the transfer out before answering it: NOTIFY 100, its BYE, and
// the final NOTIFY 200 (terminated, CSeq below the BYE's) all go out
// before the 202 — the order a busy transferor can handle them in when
// its transferee is quick (sipgo serves each request on a goroutine of
// its own).
const sippEarlyReporter = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="transferee reporting before its 202">
  <recv request="INVITE"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]E[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:bob@[local_ip]:[local_port]>
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
  <recv request="ACK">
    <action><ereg regexp="^ACK ([^ ]+)" search_in="msg" check_it="true" assign_to="all,peer"/></action>
  </recv>
  <recv request="REFER">
    <action>
      <ereg regexp="Via: [^\r\n]*" search_in="msg" check_it="true" assign_to="rvia"/>
      <ereg regexp="From: [^\r\n]*" search_in="msg" check_it="true" assign_to="rfrom"/>
      <ereg regexp="From: ([^\r\n]*)" search_in="msg" check_it="true" assign_to="all2,peerid"/>
      <ereg regexp="To: [^\r\n]*" search_in="msg" check_it="true" assign_to="rto"/>
      <ereg regexp="CSeq: [^\r\n]*" search_in="msg" check_it="true" assign_to="rcseq"/>
    </action>
  </recv>
  <send retrans="500"><![CDATA[
NOTIFY [$peer] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:bob@[local_ip]:[local_port]>;tag=[pid]E[call_number]
To: [$peerid]
Call-ID: [call_id]
CSeq: 1 NOTIFY
Contact: <sip:bob@[local_ip]:[local_port]>
Event: refer
Subscription-State: active;expires=60
Content-Type: message/sipfrag;version=2.0
Max-Forwards: 70
Content-Length: [len]

SIP/2.0 100 Trying
]]></send>
  <recv response="200"/>
  <send retrans="500"><![CDATA[
BYE [$peer] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:bob@[local_ip]:[local_port]>;tag=[pid]E[call_number]
To: [$peerid]
Call-ID: [call_id]
CSeq: 3 BYE
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200"/>
  <send retrans="500"><![CDATA[
NOTIFY [$peer] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:bob@[local_ip]:[local_port]>;tag=[pid]E[call_number]
To: [$peerid]
Call-ID: [call_id]
CSeq: 2 NOTIFY
Contact: <sip:bob@[local_ip]:[local_port]>
Event: refer
Subscription-State: terminated;reason=noresource
Content-Type: message/sipfrag;version=2.0
Max-Forwards: 70
Content-Length: [len]

SIP/2.0 200 OK
]]></send>
  <recv response="200"/>
  <send><![CDATA[
SIP/2.0 202 Accepted
[$rvia]
[$rfrom]
[$rto]
Call-ID: [call_id]
[$rcseq]
Content-Length: 0

]]></send>
  <Reference variables="all,all2,rvia,rto,rcseq"/>
</scenario>`

// TestTransferReportedBeforeThe202: a transferee that carries the
// transfer out and sends its NOTIFYs and BYE before its 202 (as a quick
// transferee can appear to a busy transferor) still reports success to
// the transferor: the final NOTIFY is taken although it comes before the
// 202, after the BYE, with a CSeq below the BYE's. Before, it was answered
// 500 (seen in a loaded full run of TestPhoneTransfer), and Transfer
// returned "call terminated".
func TestTransferReportedBeforeThe202(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	port := peers.FreeSIPPort(t)
	uas := peers.StartSIPp(t, ctx, "-sf", peers.WriteScenario(t, sippEarlyReporter), "-m", "1",
		"-mp", fmt.Sprint(peers.FreeUDPPort(t)), "-p", fmt.Sprint(port))
	if err := peers.WaitUDPListening(ctx, port); err != nil {
		t.Fatal(err)
	}
	pc := sbt.NewPhone(t, "alice").Dial(t, fmt.Sprintf("sip:bob@127.0.0.1:%d", port))
	if err := pc.Call.Transfer(ctx, "sip:carol@127.0.0.1", endpoint.TransferOptions{Type: endpoint.Attended}); err != nil {
		t.Fatalf("transfer: %v, want success", err)
	}
	if res := uas.Wait(); res.ExitCode != 0 {
		t.Fatalf("sipp exit %d\n%s\n%s", res.ExitCode, res.ErrorLog, peers.ReadMessages(t, res.Dir))
	}
}
