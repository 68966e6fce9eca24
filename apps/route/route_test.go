package route

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/platform"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// uas503 answers one INVITE with 503, as a PBX that is down for
// maintenance does.
const uas503 = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="503">
  <recv request="INVITE"/>
  <send><![CDATA[
SIP/2.0 503 Service Unavailable
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
  <recv request="ACK"/>
</scenario>`

// uasChecking answers one INVITE after checking, with SIPp's own regular
// expressions (a failed check fails the call and SIPp's exit code): the
// Request-URI user is the digits the route captured, From is the
// impersonated caller, the allow-listed X-Account came through and
// X-Secret did not.
const uasChecking = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="checking uas">
  <recv request="INVITE">
    <action>
      <ereg regexp="^INVITE sip:1234@" search_in="msg" check_it="true" assign_to="ruri"/>
      <ereg regexp="sip:alice@" search_in="hdr" header="From:" check_it="true" assign_to="from"/>
      <ereg regexp="42" search_in="hdr" header="X-Account:" check_it="true" assign_to="acct"/>
      <ereg regexp="X-Secret" search_in="msg" check_it_inverse="true" assign_to="secret"/>
    </action>
  </recv>
  <Reference variables="ruri,from,acct,secret"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Record-Route:]
Contact: <sip:1234@[local_ip]:[local_port]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=- 1 1 IN IP4 [local_ip]
s=-
c=IN IP4 [local_ip]
t=0 0
m=audio [auto_media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
]]></send>
  <recv request="ACK"/>
  <recv request="BYE"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
</scenario>`

// uac dials 91234 with an allow-listed and a secret header, waits for the
// answer, holds the call a second and hangs up.
const uac = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="uac">
  <send retrans="500"><![CDATA[
INVITE sip:91234@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/UDP [local_ip]:[local_port];branch=[branch]
From: "Alice" <sip:alice@[local_ip]>;tag=[pid]SIPpTag00[call_number]
To: <sip:91234@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:alice@[local_ip]:[local_port]>
Max-Forwards: 70
X-Account: 42
X-Secret: do-not-pass
Content-Type: application/sdp
Content-Length: [len]

v=0
o=- 1 1 IN IP4 [local_ip]
s=-
c=IN IP4 [local_ip]
t=0 0
m=audio [auto_media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true" rrs="true"/>
  <send><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/UDP [local_ip]:[local_port];branch=[branch]
From: "Alice" <sip:alice@[local_ip]>;tag=[pid]SIPpTag00[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
  <pause milliseconds="1000"/>
  <send retrans="500"><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/UDP [local_ip]:[local_port];branch=[branch]
From: "Alice" <sip:alice@[local_ip]>;tag=[pid]SIPpTag00[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200"/>
</scenario>`

// TestSIPpThroughRouteWithFailover is the operator's set-up: a SIPp UAC
// dials 91234 at Switchboard, whose route strips the 9 and sends the call
// to a PBX (a SIPp UAS answering 503), then fails over to the second PBX
// (a SIPp UAS that checks the impersonated caller and the header
// allow-list), all SIPp processes, all real sockets.
func TestSIPpThroughRouteWithFailover(t *testing.T) {
	sbt.CheckGoroutines(t)
	srv := sbt.NewServer(t)
	down, up := peers.FreeSIPPort(t), peers.FreeSIPPort(t)
	_, err := New(srv.Platform, Config{Rules: []Rule{{
		Name:        "pbx",
		Match:       `^9(\d+)$`,
		Target:      fmt.Sprintf("sip:${1}@127.0.0.1:%d", down),
		Failover:    []string{fmt.Sprintf("sip:${1}@127.0.0.1:%d", up)},
		Impersonate: true,
		Headers:     []string{"X-Account"},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pbxDown := peers.StartSIPp(t, ctx, "-sf", peers.WriteScenario(t, uas503), "-p", fmt.Sprint(down), "-m", "1")
	pbxUp := peers.StartSIPp(t, ctx, "-sf", peers.WriteScenario(t, uasChecking), "-p", fmt.Sprint(up), "-m", "1",
		"-mp", fmt.Sprint(peers.FreeUDPPort(t)))
	if err := peers.WaitUDPListening(ctx, down); err != nil {
		t.Fatal(err)
	}
	if err := peers.WaitUDPListening(ctx, up); err != nil {
		t.Fatal(err)
	}
	caller := peers.RunSIPp(t, ctx, "-sf", peers.WriteScenario(t, uac), fmt.Sprintf("127.0.0.1:%d", srv.Port()), "-m", "1",
		"-mp", fmt.Sprint(peers.FreeUDPPort(t)))
	if caller.ExitCode != 0 {
		t.Fatalf("caller: exit %d\n%s", caller.ExitCode, caller.ErrorLog)
	}
	if r := pbxDown.Wait(); r.ExitCode != 0 {
		t.Errorf("first PBX (503): exit %d, %d calls\n%s", r.ExitCode, r.Successful, r.ErrorLog)
	}
	if r := pbxUp.Wait(); r.ExitCode != 0 || r.Successful != 1 {
		t.Errorf("second PBX: exit %d, %d successful: its checks of the Request-URI, From and headers failed\n%s\n%s", r.ExitCode, r.Successful, r.ErrorLog, r.Stdout)
	}
}

// TestTrustedOnlyRouteRefusesStrangers: a route for trusted peers only
// answers 403 to a caller outside trusted_peers, and unmatched users get
// 404; a header claiming trust changes nothing.
func TestTrustedOnlyRouteRefusesStrangers(t *testing.T) {
	srv := sbt.NewServer(t, platform.Config{TrustedPeers: []string{"127.0.0.2/32"}})
	if _, err := New(srv.Platform, Config{Rules: []Rule{{Prefix: "00", TrustedOnly: true, Target: "sip:${user}@127.0.0.1:9"}}}); err != nil {
		t.Fatal(err)
	}
	phone := sbt.NewPhone(t, "mallory")
	for user, want := range map[string]int{"0044123": 403, "555": 404} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := phone.DialContext(ctx, srv.URI(user), endpoint.EstablishOptions{Headers: []endpoint.Header{{Name: "P-Asserted-Identity", Value: "<sip:boss@127.0.0.1>"}}})
		cancel()
		var re *endpoint.ResponseError
		if !errors.As(err, &re) || re.Code != want {
			t.Errorf("dial %s: %v, want %d", user, err, want)
		}
	}
}

// TestSetRulesWhileACallIsUp: rules replaced under a live routed call
// leave it up (both directions still carry audio) and route the next call
// by the new rules; invalid rules are refused and change nothing.
func TestSetRulesWhileACallIsUp(t *testing.T) {
	srv := sbt.NewServer(t)
	bob := sbt.NewPhone(t, "bob")
	carol := sbt.NewPhone(t, "carol")
	app, err := New(srv.Platform, Config{Rules: []Rule{{Prefix: "bob", Target: strings.Replace(bob.URI(), "sip:bob@", "sip:${user}@", 1)}}})
	if err != nil {
		t.Fatal(err)
	}
	alice := sbt.NewPhone(t, "alice")
	call := alice.Dial(t, srv.URI("bob"))
	answered := bob.NextCall(t)
	call.StartTone(700)
	answered.StartTone(1100)
	answered.WaitTone(t, 700, 3*time.Second)
	call.WaitTone(t, 1100, 3*time.Second)

	if err := app.SetRules([]Rule{{Prefix: "x", Match: "y", Target: "sip:a@b"}}); err == nil {
		t.Fatal("SetRules accepted a rule with both prefix and match")
	}
	if err := app.SetRules([]Rule{
		{Prefix: "bob", Target: strings.Replace(bob.URI(), "sip:bob@", "sip:${user}@", 1)},
		{Prefix: "carol", Target: strings.Replace(carol.URI(), "sip:carol@", "sip:${user}@", 1)},
	}); err != nil {
		t.Fatal(err)
	}
	second := alice.Dial(t, srv.URI("carol"))
	carol.NextCall(t).StartTone(1300)
	second.WaitTone(t, 1300, 3*time.Second)
	second.Hangup(t)

	call.ResetRecording()
	answered.ResetRecording()
	answered.WaitTone(t, 700, 3*time.Second) // the first call is still up, both ways
	call.WaitTone(t, 1100, 3*time.Second)
	call.Hangup(t)
}

func TestCompileReportsEveryRule(t *testing.T) {
	_, err := Compile([]Rule{
		{Prefix: "1"},
		{Match: "(", Target: "sip:x@y"},
		{Prefix: "2", Target: "not a uri ${user}", RingTimeout: -time.Second},
	})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"routes[0] (route-1): target: a URI template",
		"routes[1] (route-2): match: error parsing regexp",
		"routes[2] (route-3): target \"not a uri ${user}\"",
		"routes[2] (route-3): ring_timeout and failover_timeout cannot be negative",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

// TestSilentTargetFailsOver: a target that swallows the INVITE (a host
// that is down behind a switch) is given up after failover_timeout, and
// the call reaches the next target with audio both ways.
func TestSilentTargetFailsOver(t *testing.T) {
	srv := sbt.NewServer(t)
	hole, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	go func() { // read and drop: never a response
		buf := make([]byte, 65535)
		for {
			if _, _, err := hole.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	bob := sbt.NewPhone(t, "bob")
	if _, err := New(srv.Platform, Config{Rules: []Rule{{
		Prefix:          "bob",
		Target:          "sip:${user}@" + hole.LocalAddr().String(),
		Failover:        []string{strings.Replace(bob.URI(), "sip:bob@", "sip:${user}@", 1)},
		FailoverTimeout: time.Second,
	}}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	call := sbt.NewPhone(t, "alice").Dial(t, srv.URI("bob"))
	took := time.Since(start)
	if took < time.Second || took > 4*time.Second {
		t.Errorf("answered after %v, want just over the 1 s failover timeout", took)
	}
	answered := bob.NextCall(t)
	call.StartTone(700)
	answered.StartTone(1100)
	answered.WaitTone(t, 700, 3*time.Second)
	call.WaitTone(t, 1100, 3*time.Second)
	call.Hangup(t)
}

// TestCallerGivesUpOnSilentTarget: a caller hanging up while the only
// target has not answered at all is let go at once (no 32 s wait for an
// INVITE that cannot be cancelled yet), and closing the app does not wait
// for that INVITE either.
func TestCallerGivesUpOnSilentTarget(t *testing.T) {
	srv := sbt.NewServer(t)
	hole, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	go func() {
		buf := make([]byte, 65535)
		for {
			if _, _, err := hole.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	app, err := New(srv.Platform, Config{Rules: []Rule{{Prefix: "x", Target: "sip:${user}@" + hole.LocalAddr().String()}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := sbt.NewPhone(t, "alice").DialContext(ctx, srv.URI("x1"), endpoint.EstablishOptions{}); err == nil {
		t.Fatal("the call to a silent target was answered")
	}
	start := time.Now()
	done := make(chan struct{})
	go func() { app.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close still waits for the unanswered INVITE after 5 s")
	}
	t.Logf("Close returned %v after the caller gave up", time.Since(start).Round(time.Millisecond))
}
