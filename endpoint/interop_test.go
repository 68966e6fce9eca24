package endpoint_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/apps/echo"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/media/sdp"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// uasCheckIdentity is a SIPp UAS that fails (exit code 1) unless the
// INVITE carries the impersonated identity in From and P-Asserted-Identity.
const uasCheckIdentity = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="check impersonated identity">
  <recv request="INVITE">
    <action>
      <ereg regexp="Alice Impersonated.*sip:alice@example\.com.*;tag=" search_in="hdr" header="From:" check_it="true" assign_to="1"/>
      <ereg regexp="sip:alice@example\.com" search_in="hdr" header="P-Asserted-Identity:" check_it="true" assign_to="2"/>
      <ereg regexp="P-Asserted-Identity: *&lt;tel:\+15551234&gt;" search_in="msg" check_it="true" assign_to="3"/>
    </action>
  </recv>
  <send>
    <![CDATA[
SIP/2.0 486 Busy Here
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

    ]]>
  </send>
  <recv request="ACK"/>
  <Reference variables="1,2,3"/>
</scenario>`

func TestImpersonationOnTheWire(t *testing.T) {
	port := peers.FreeSIPPort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	uas := peers.StartSIPp(t, ctx, "-sf", peers.WriteScenario(t, uasCheckIdentity), "-p", fmt.Sprint(port), "-m", "1")
	if err := peers.WaitUDPListening(ctx, port); err != nil {
		t.Fatal(err)
	}
	srv := sbt.NewServer(t)
	ep := srv.Handle(t, "bot", nil)
	conv := ep.NewConversation()
	if err := conv.Impersonate(endpoint.Identity{URI: "sip:alice@example.com", PhoneURI: "tel:+15551234", DisplayName: "Alice Impersonated"}); err != nil {
		t.Fatal(err)
	}
	err := conv.NewCall().Establish(ctx, fmt.Sprintf("sip:service@127.0.0.1:%d", port), endpoint.EstablishOptions{})
	var re *endpoint.ResponseError
	if !errors.As(err, &re) || re.Code != 486 {
		t.Fatalf("Establish = %v, want the scenario's 486", err)
	}
	res := uas.Wait()
	if res.ExitCode != 0 || res.Successful != 1 {
		t.Fatalf("SIPp saw the wrong identity: exit %d, %d successful\n%s", res.ExitCode, res.Successful, res.ErrorLog)
	}
}

// uacSessionTimer offers a 3 s session interval with itself as refresher,
// never refreshes, and expects our BYE.
const uacSessionTimer = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="session timer expiry">
  <send retrans="500">
    <![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Supported: timer
Session-Expires: 3;refresher=uac
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="200">
    <action>
      <ereg regexp="Session-Expires: *3;refresher=uac" search_in="msg" check_it="true" assign_to="1"/>
    </action>
  </recv>
  <send>
    <![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Length: 0

    ]]>
  </send>
  <recv request="BYE" timeout="8000"/>
` + peers.ReplyOK + `  <Reference variables="1"/>
</scenario>`

// uacSilent calls, sends no RTP, and expects our BYE.
var uacSilent = strings.NewReplacer(
	"Session-Expires: 3;refresher=uac\n", "",
	`<ereg regexp="Session-Expires: *3;refresher=uac" search_in="msg" check_it="true" assign_to="1"/>`, "",
	`<Reference variables="1"/>`, "").Replace(uacSessionTimer)

func runServerBye(t *testing.T, scenario string, st endpoint.Settings) (*endpoint.Call, peers.SIPpResult) {
	srv := sbt.NewServer(t)
	calls := make(chan *endpoint.Call, 1)
	st.OwnerURI = "sip:echo@127.0.0.1"
	srv.HandleWith(t, st, endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		calls <- c
		echo.Serve(ctx, c)
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res := peers.RunSIPp(t, ctx, "-sf", peers.WriteScenario(t, scenario), "-s", "echo", "-m", "1",
		"-p", fmt.Sprint(peers.FreeSIPPort(t)), fmt.Sprintf("127.0.0.1:%d", srv.Port()))
	select {
	case c := <-calls:
		<-c.Done()
		return c, res
	case <-time.After(5 * time.Second):
		t.Fatalf("no call reached the server; sipp exit %d\n%s", res.ExitCode, res.Stdout)
		return nil, res
	}
}

func TestSessionTimerExpiryEndsCallWithBye(t *testing.T) {
	c, res := runServerBye(t, uacSessionTimer, endpoint.Settings{MinSessionExpires: time.Second, RTPTimeout: -1})
	if res.ExitCode != 0 {
		t.Fatalf("SIPp exit %d (no BYE or wrong Session-Expires)\n%s", res.ExitCode, res.ErrorLog)
	}
	if c.Reason() != endpoint.ReasonSessionExpired {
		t.Fatalf("reason = %q, want session expired", c.Reason())
	}
}

func TestRTPTimeoutEndsCallWithBye(t *testing.T) {
	c, res := runServerBye(t, uacSilent, endpoint.Settings{RTPTimeout: time.Second, SessionExpires: -1})
	if res.ExitCode != 0 {
		t.Fatalf("SIPp exit %d (no BYE)\n%s", res.ExitCode, res.ErrorLog)
	}
	if c.Reason() != endpoint.ReasonRTPTimeout {
		t.Fatalf("reason = %q, want rtp timeout", c.Reason())
	}
}

func TestSessionIntervalTooSmallGets422(t *testing.T) {
	srv := sbt.NewServer(t)
	srv.Handle(t, "echo", echo.Handler())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sc := strings.Replace(uacSessionTimer, `<recv response="200">`, `<recv response="422"><action><ereg regexp="Min-SE: *90" search_in="msg" check_it="true" assign_to="1"/></action></recv><recv response="200" optional="true">`, 1)
	// Cut the scenario after the 422: ACK it and stop.
	i := strings.Index(sc, `<recv response="200" optional="true">`)
	sc = sc[:i] + `<send><![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch-1]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

]]></send><Reference variables="1"/></scenario>`
	res := peers.RunSIPp(t, ctx, "-sf", peers.WriteScenario(t, sc), "-s", "echo", "-m", "1",
		"-p", fmt.Sprint(peers.FreeSIPPort(t)), fmt.Sprintf("127.0.0.1:%d", srv.Port()))
	if res.ExitCode != 0 {
		t.Fatalf("SIPp exit %d, want a 422 with Min-SE: 90\n%s", res.ExitCode, res.ErrorLog)
	}
}

// uasGlare answers the call, then answers our first re-INVITE with 491
// and the retry with 200, then waits for BYE.
const uasGlare = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="491 then 200">
  <recv request="INVITE"/>
  <send>
    <![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000

    ]]>
  </send>
  <recv request="ACK"/>
  <recv request="INVITE"/>
  <send>
    <![CDATA[
SIP/2.0 491 Request Pending
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

    ]]>
  </send>
  <recv request="ACK"/>
  <recv request="INVITE">
    <action>
      <ereg regexp="a=sendonly" search_in="body" check_it="true" assign_to="1"/>
    </action>
  </recv>
  <send>
    <![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687638 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
a=recvonly

    ]]>
  </send>
  <recv request="ACK"/>
  <recv request="BYE"/>
` + peers.ReplyOK + `  <Reference variables="1"/>
</scenario>`

// TestGlareRetry: a re-INVITE answered 491 is retried after a random
// 2–4 s (RFC 3261 section 14.1) and then succeeds.
func TestGlareRetry(t *testing.T) {
	port := peers.FreeSIPPort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	uas := peers.StartSIPp(t, ctx, "-sf", peers.WriteScenario(t, uasGlare), "-p", fmt.Sprint(port), "-m", "1")
	if err := peers.WaitUDPListening(ctx, port); err != nil {
		t.Fatal(err)
	}
	srv := sbt.NewServer(t)
	call := srv.Handle(t, "bot", nil).NewConversation().NewCall()
	if err := call.Establish(ctx, fmt.Sprintf("sip:svc@127.0.0.1:%d", port), endpoint.EstablishOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := call.Hold(ctx, endpoint.HoldRemote); err != nil {
		t.Fatalf("Hold after 491: %v", err)
	}
	if d := time.Since(start); d < 2*time.Second || d > 4500*time.Millisecond {
		t.Fatalf("retry after %v, want 2–4 s", d)
	}
	if call.Negotiated().RemoteDirection != sdp.RecvOnly {
		t.Fatalf("remote direction %v", call.Negotiated().RemoteDirection)
	}
	if err := call.Terminate(ctx); err != nil {
		t.Fatal(err)
	}
	if res := uas.Wait(); res.ExitCode != 0 {
		t.Fatalf("sipp exit %d\n%s", res.ExitCode, res.ErrorLog)
	}
}

// TestSessionRefreshKeepsCallUp: with a 2 s session interval the phone
// (UAC, refresher) refreshes every second; the server, which would end the
// call after 2 - 2/3 s without a refresh, keeps it up.
func TestSessionRefreshKeepsCallUp(t *testing.T) {
	srv := sbt.NewServer(t)
	served := make(chan *endpoint.Call, 1)
	srv.HandleWith(t, endpoint.Settings{OwnerURI: "sip:echo@127.0.0.1", SessionExpires: 2 * time.Second, MinSessionExpires: time.Second, RTPTimeout: -1},
		endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
			served <- c
			echo.Serve(ctx, c)
		}))
	phone := sbt.NewPhone(t, "alice", sbt.PhoneOptions{Settings: endpoint.Settings{SessionExpires: 2 * time.Second, RTPTimeout: -1}})
	call := phone.Dial(t, srv.URI("echo"))
	uas := <-served
	if d, refresher := call.SessionInterval(); d != 2*time.Second || !refresher {
		t.Fatalf("phone: interval %v refresher %v, want 2s and true", d, refresher)
	}
	if d, refresher := uas.SessionInterval(); d != 2*time.Second || refresher {
		t.Fatalf("server: interval %v refresher %v, want 2s and false", d, refresher)
	}
	time.Sleep(4 * time.Second)
	if call.State() != endpoint.StateEstablished || uas.State() != endpoint.StateEstablished {
		t.Fatalf("after 4 s: phone %v (%q), server %v (%q)", call.State(), call.Reason(), uas.State(), uas.Reason())
	}
	call.Hangup(t)
}

// TestReinviteWithUnacceptableOfferGets488: a re-INVITE offering no
// common codec is refused with 488 and the call goes on (RFC 3261 section
// 14.2): the BYE afterwards is answered 200.
func TestReinviteWithUnacceptableOfferGets488(t *testing.T) {
	reinvite := `  <pause milliseconds="200"/>
  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 INVITE
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687638 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 18
a=rtpmap:18 G729/8000

]]></send>
  <recv response="488"/>
  <send><![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
  <send retrans="500"><![CDATA[
BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 3 BYE
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200"/>
</scenario>`
	// Start from the silent UAC: INVITE, 200, ACK — then the re-INVITE.
	base := uacSilent[:strings.Index(uacSilent, `  <recv request="BYE"`)]
	srv := sbt.NewServer(t)
	calls := make(chan *endpoint.Call, 1)
	srv.HandleWith(t, endpoint.Settings{OwnerURI: "sip:echo@127.0.0.1", RTPTimeout: -1}, endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		calls <- c
		echo.Serve(ctx, c)
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res := peers.RunSIPp(t, ctx, "-sf", peers.WriteScenario(t, base+reinvite), "-s", "echo", "-m", "1",
		"-p", fmt.Sprint(peers.FreeSIPPort(t)), fmt.Sprintf("127.0.0.1:%d", srv.Port()))
	if res.ExitCode != 0 {
		t.Fatalf("sipp exit %d (no 488, or the call died)\n%s", res.ExitCode, res.ErrorLog)
	}
	c := <-calls
	<-c.Done()
	if c.Reason() != endpoint.ReasonRemoteHangUp {
		t.Fatalf("call ended with %q, want remote hang-up after the refused re-INVITE", c.Reason())
	}
}
