package park_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/apps/park"
	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/platform"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// sippRetriever is a SIPp UAC dialling an orbit (-s) with From FROM and
// the extra headers HEADERS. With password (not ""), it expects a digest
// challenge (401) first, ACKs it and calls again as user alice with that
// password. want is the final answer it expects: 200 (it then echoes the
// parked party's audio with -rtp_echo for two seconds and hangs up) or a
// failure code, which it ACKs.
func sippRetriever(from, headers, password string, want int) string {
	invite := func(cseq int, auth string) string {
		return `  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/UDP [local_ip]:[local_port];branch=[branch]
From: <` + from + `>;tag=[pid]R[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: ` + fmt.Sprint(cseq) + ` INVITE
Contact: <sip:alice@[local_ip]:[local_port]>
Max-Forwards: 70
` + headers + auth + `Content-Type: application/sdp
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
`
	}
	ack := func(cseq int, via string) string {
		return `  <send><![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
` + via + `
From: <` + from + `>;tag=[pid]R[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: ` + fmt.Sprint(cseq) + ` ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
`
	}
	s := `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="retriever">
`
	cseq := 1
	if password != "" {
		s += invite(cseq, "") + `  <recv response="401" auth="true"/>
` + ack(cseq, "[last_Via:]")
		cseq++
		s += invite(cseq, "[authentication username=alice password="+password+"]\n")
	} else {
		s += invite(cseq, "")
	}
	if want != 200 {
		return s + fmt.Sprintf(`  <recv response="%d"/>
`, want) + ack(cseq, "[last_Via:]") + `</scenario>`
	}
	return s + `  <recv response="200" rtd="true"/>
` + ack(cseq, "Via: SIP/2.0/UDP [local_ip]:[local_port];branch=[branch]") + `  <pause milliseconds="2500"/>
  <send retrans="500"><![CDATA[
BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/UDP [local_ip]:[local_port];branch=[branch]
From: <` + from + `>;tag=[pid]R[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: ` + fmt.Sprint(cseq+1) + ` BYE
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200"/>
</scenario>`
}

// ha1 is MD5(user:realm:password) in hex, as a users: entry gives it.
func ha1(user, realm, password string) string {
	h := md5.Sum([]byte(user + ":" + realm + ":" + password))
	return hex.EncodeToString(h[:])
}

// retrieveWithSIPp parks a test phone at the desk of srv, plays a tone
// from it and runs the SIPp retriever scenario against its orbit. With
// connected, the parked phone must hear its tone echoed back by SIPp
// (-rtp_echo): the retriever was connected to it.
func retrieveWithSIPp(t *testing.T, srv *sbt.Server, svc *park.Service, scenario string, connected bool) peers.SIPpResult {
	t.Helper()
	caller, e := parkAtDesk(t, srv, svc)
	defer caller.Hangup(t)
	caller.StartTone(700)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := peers.StartSIPp(t, ctx, "-sf", peers.WriteScenario(t, scenario), "-s", e.Orbit, "-m", "1",
		"-rtp_echo", "-mp", fmt.Sprint(peers.FreeUDPPort(t)), "-p", fmt.Sprint(peers.FreeSIPPort(t)),
		fmt.Sprintf("127.0.0.1:%d", srv.Port()))
	if connected {
		caller.WaitTone(t, 700, 10*time.Second)
	}
	return p.Wait()
}

// TestDigestUserRetrieves: on a server that trusts no peer and lists
// user alice (HA1 only), a SIPp retriever dialling the orbit is
// challenged (401), answers with alice's credentials and is connected to
// the parked call (the parked phone hears its tone echoed by SIPp). Its
// From claims nothing internal: the identity comes from the digest.
func TestDigestUserRetrieves(t *testing.T) {
	var logs syncBuffer
	srv := sbt.NewServer(t, platform.Config{Users: []platform.User{{Name: "alice", HA1: ha1("alice", "127.0.0.1", "s3cret")}}})
	svc, err := park.New(srv.Platform, park.Config{}, park.WithMusic(newMusic(t), ""),
		park.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	res := retrieveWithSIPp(t, srv, svc, sippRetriever("sip:someone@outside.example", "", "s3cret", 200), true)
	if res.ExitCode != 0 {
		t.Fatalf("sipp exit %d\n%s\n%s", res.ExitCode, res.ErrorLog, peers.ReadMessages(t, res.Dir))
	}
	if !strings.Contains(logs.String(), "identity=sip:alice@127.0.0.1 identity_by=digest") {
		t.Errorf("the retrieval's log line does not name the digest identity:\n%s", logs.String())
	}
}

// TestDigestWrongPasswordAndLockout: wrong credentials get 403 after the
// challenge, and after five failures from one source its calls get 403
// without a challenge (a lockout: svcrack-style guessing cannot go on);
// the parked call stays parked throughout.
func TestDigestWrongPasswordAndLockout(t *testing.T) {
	srv := sbt.NewServer(t, platform.Config{Users: []platform.User{{Name: "alice", HA1: ha1("alice", "127.0.0.1", "s3cret")}}})
	svc, err := park.New(srv.Platform, park.Config{}, park.WithMusic(newMusic(t), ""))
	if err != nil {
		t.Fatal(err)
	}
	caller, e := parkAtDesk(t, srv, svc)
	defer caller.Hangup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	run := func(scenario string, calls int) peers.SIPpResult {
		return peers.RunSIPp(t, ctx, "-sf", peers.WriteScenario(t, scenario), "-s", e.Orbit, "-m", fmt.Sprint(calls), "-l", "1",
			"-mp", fmt.Sprint(peers.FreeUDPPort(t)), "-p", fmt.Sprint(peers.FreeSIPPort(t)), fmt.Sprintf("127.0.0.1:%d", srv.Port()))
	}
	if r := run(sippRetriever("sip:alice@127.0.0.1", "", "guess", 403), 5); r.ExitCode != 0 {
		t.Errorf("five wrong passwords: sipp exit %d\n%s\n%s", r.ExitCode, r.ErrorLog, peers.ReadMessages(t, r.Dir))
	}
	// Locked out: no challenge any more, so not even the right password
	// can be tried.
	if r := run(sippRetriever("sip:alice@127.0.0.1", "", "", 403), 1); r.ExitCode != 0 {
		t.Errorf("a call from the locked-out source: sipp exit %d, want 403 without a challenge\n%s\n%s", r.ExitCode, r.ErrorLog, peers.ReadMessages(t, r.Dir))
	}
	if l := svc.List(); len(l) != 1 || l[0].Orbit != e.Orbit {
		t.Fatalf("orbits after the attempts: %+v, want %s still parked", l, e.Orbit)
	}
}

// TestAssertedIdentityDecides: from a trusted peer (a proxy that
// authenticated its users), the P-Asserted-Identity decides, not From:
// an internal asserted identity retrieves whatever From says, and an
// external one is refused (403) though From claims an internal host.
func TestAssertedIdentityDecides(t *testing.T) {
	server := func() (*sbt.Server, *park.Service) {
		srv := sbt.NewServer(t, trustLoopback)
		svc, err := park.New(srv.Platform, park.Config{}, park.WithMusic(newMusic(t), ""))
		if err != nil {
			t.Fatal(err)
		}
		return srv, svc
	}
	srv, svc := server()
	res := retrieveWithSIPp(t, srv, svc, sippRetriever("sip:alice@outside.example",
		"P-Asserted-Identity: <sip:alice@127.0.0.1>\n", "", 200), true)
	if res.ExitCode != 0 {
		t.Errorf("internal asserted identity: sipp exit %d\n%s", res.ExitCode, peers.ReadMessages(t, res.Dir))
	}
	srv, svc = server()
	res = retrieveWithSIPp(t, srv, svc, sippRetriever("sip:alice@127.0.0.1",
		"P-Asserted-Identity: <sip:mallory@outside.example>\n", "", 403), false)
	if res.ExitCode != 0 {
		t.Errorf("external asserted identity: sipp exit %d, want a 403\n%s", res.ExitCode, peers.ReadMessages(t, res.Dir))
	}
}
