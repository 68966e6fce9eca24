package main

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/apps/route"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/peers"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// sippRetransmit sends its INVITE twice, byte for byte (a fixed branch,
// no [branch] keyword, which changes with every message), the second time
// after the 200 OK (RFC 6026's Accepted state absorbs it), and then holds
// its ACK back for 1.2 s, so that the server retransmits the 200 OK
// (RFC 3261 section 13.3.1.4: at T1 = 500 ms, then 1 s later).
const sippRetransmitInvite = `INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=z9hG4bK-retx-[call_number]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: sip:sipp@[local_ip]:[local_port]
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
`

const sippRetransmit = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="retransmitted INVITE">
  <send><![CDATA[
` + sippRetransmitInvite + `  ]]></send>
  <recv response="100" optional="true"/>
  <recv response="200" rtd="true"/>
  <send><![CDATA[
` + sippRetransmitInvite + `  ]]></send>
  <pause milliseconds="1200"/>
  <send><![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=z9hG4bK-retx-ack-[call_number]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Length: 0

  ]]></send>
  <pause milliseconds="200"/>
  <send retrans="500"><![CDATA[
BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=z9hG4bK-retx-bye-[call_number]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 BYE
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Length: 0

  ]]></send>
  <recv response="200"/>
</scenario>`

// TestRetransmissionsCounted: SIPp retransmits its INVITE (the same
// datagram again) and delays its ACK; switchboard_sip_retransmissions_total
// counts the INVITE received again, and the 200 OK the server had to
// send again; nothing else of the call counts, and the
// exposition passes promtool.
func TestRetransmissionsCounted(t *testing.T) {
	e := startAdminServer(t, "", nil)
	before := scrape(t, e)
	if strings.Contains(before, `switchboard_sip_retransmissions_total{`) {
		t.Fatalf("retransmissions counted before any call:\n%s", grepLines(before, "retransmissions"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res := peers.RunSIPp(t, ctx, "-sf", peers.WriteScenario(t, sippRetransmit), "-s", "echo", "-m", "1",
		"-p", fmt.Sprint(peers.FreeSIPPort(t)), fmt.Sprintf("127.0.0.1:%d", e.port))
	if res.ExitCode != 0 || res.Successful != 1 {
		t.Fatalf("sipp: exit %d, %d successful\n%s", res.ExitCode, res.Successful, res.ErrorLog)
	}
	var metrics string
	waitFor(t, 5*time.Second, func() bool {
		metrics = scrape(t, e)
		return strings.Contains(metrics, `switchboard_calls_total{app="echo",outcome="answered"} 1`+"\n")
	})
	got := grepLines(metrics, `^switchboard_sip_retransmissions_total\{`)
	count := func(labels string) int {
		var n int
		line := grepLines(got, `^switchboard_sip_retransmissions_total\{`+regexp.QuoteMeta(labels)+`\} `)
		if _, err := fmt.Sscanf(line, `switchboard_sip_retransmissions_total{`+labels+`} %d`, &n); err != nil {
			return 0
		}
		return n
	}
	sent200 := count(`direction="sent",kind="response",method="INVITE"`)
	if sent200 < 1 {
		t.Errorf("the 200 OK retransmitted while the ACK was late is not counted:\n%s", got)
	}
	// SIPp answers each retransmitted 200 OK by sending its last message
	// (the INVITE) once more: those are retransmissions too.
	if n := count(`direction="received",kind="request",method="INVITE"`); n != 1+sent200 {
		t.Errorf("%d received INVITE retransmissions, want 1 + %d (one per 200 OK sent again):\n%s", n, sent200, got)
	}
	if n := len(strings.Split(got, "\n")); n != 2 {
		t.Errorf("%d retransmission series, want 2 (received INVITE, sent INVITE response):\n%s", n, got)
	}
	promtool(t, metrics)
}

// TestSentRequestRetransmissionsCounted: a route to a target that never
// answers (a UDP socket that reads and drops) makes the server's INVITE
// client transaction retransmit (RFC 3261 timer A: 0.5 s, 1.5 s, ...);
// the sent INVITE retransmissions are counted as they happen.
func TestSentRequestRetransmissionsCounted(t *testing.T) {
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
	e := startAdminServer(t, "", func(c *Config) {
		c.Routes = []route.Rule{{Prefix: "void", Target: "sip:${user}@" + hole.LocalAddr().String(), FailoverTimeout: 10 * time.Second}}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel()
	if _, err := sbt.NewPhone(t, "alice").DialContext(ctx, fmt.Sprintf("sip:void@127.0.0.1:%d", e.port), endpoint.EstablishOptions{}); err == nil {
		t.Fatal("the call to a silent target was answered")
	}
	metrics := scrape(t, e)
	line := grepLines(metrics, `^switchboard_sip_retransmissions_total\{direction="sent",kind="request",method="INVITE"\} `)
	var n int
	if _, err := fmt.Sscanf(line, `switchboard_sip_retransmissions_total{direction="sent",kind="request",method="INVITE"} %d`, &n); err != nil || n < 2 {
		t.Fatalf("sent INVITE retransmissions after 2.5 s of silence: %q, want at least 2 (at 0.5 s and 1.5 s)\n%s", line, grepLines(metrics, "retransmissions"))
	}
	promtool(t, metrics)
}
