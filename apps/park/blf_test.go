package park_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/apps/park"
	"github.com/switchboard-sip/switchboard/internal/peers"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

func blfNotify(n int, want string) string {
	return fmt.Sprintf(`  <recv request="NOTIFY">
    <action><ereg regexp="%s" search_in="body" check_it="true" assign_to="%d"/></action>
  </recv>
`, want, n) + peers.ReplyOK
}

// TestBusyLampShowsOccupiedAndFree: a phone subscribed to an orbit's
// dialog events (RFC 4235) sees it free, occupied when a call is parked,
// and free again when it is retrieved.
func TestBusyLampShowsOccupiedAndFree(t *testing.T) {
	r := newRig(t, park.Config{})
	sc := `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="busy lamp">
  <send retrans="500"><![CDATA[
SUBSCRIBE sip:7000@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:lamp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:7000@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 SUBSCRIBE
Contact: sip:lamp@[local_ip]:[local_port]
Max-Forwards: 70
Event: dialog
Accept: application/dialog-info+xml
Expires: 120
Content-Length: 0

]]></send>
  <recv response="200"/>
` + blfNotify(1, "<state>terminated</state>") + blfNotify(2, "<state>confirmed</state>") + blfNotify(3, "<state>terminated</state>") + `  <Reference variables="1,2,3"/>
</scenario>`
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := peers.StartSIPp(t, ctx, "-sf", peers.WriteScenario(t, sc), "-m", "1", "-trace_msg",
		"-p", fmt.Sprint(peers.FreeSIPPort(t)), fmt.Sprintf("127.0.0.1:%d", r.srv.Port()))
	time.Sleep(500 * time.Millisecond)
	parked, e := r.parkPhone(t, sbt.NewPhone(t, "caller"))
	if e.Orbit != "7000" {
		t.Fatalf("parked on %s", e.Orbit)
	}
	time.Sleep(500 * time.Millisecond)
	parked.Hangup(t)
	res := p.Wait()
	if res.ExitCode != 0 {
		msgs := peers.ReadMessages(t, res.Dir)
		t.Fatalf("lamp watcher: sipp exit %d\n%s\n%s", res.ExitCode, res.ErrorLog, msgs[max(0, len(msgs)-3000):])
	}
	if !strings.Contains(peers.ReadMessages(t, res.Dir), "application/dialog-info+xml") {
		t.Fatal("NOTIFY bodies are not dialog-info")
	}
}
