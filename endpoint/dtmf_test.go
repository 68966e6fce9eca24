package endpoint_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/media"
	"github.com/switchboard-sip/switchboard/platform"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// digitServer answers calls to "keys" and collects the digits they send.
type digitServer struct {
	srv    *sbt.Server
	mu     sync.Mutex
	digits []rune
	call   chan *endpoint.Call
}

func newDigitServer(t *testing.T) *digitServer {
	d := &digitServer{srv: sbt.NewServer(t), call: make(chan *endpoint.Call, 1)}
	d.srv.Handle(t, "keys", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		c.OnDTMF(func(ev media.DTMFEvent) {
			d.mu.Lock()
			d.digits = append(d.digits, ev.Digit)
			d.mu.Unlock()
		})
		if c.Accept(ctx) == nil {
			d.call <- c
			<-ctx.Done()
		}
	}))
	return d
}

func (d *digitServer) waitDigits(t *testing.T, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		d.mu.Lock()
		got := string(d.digits)
		d.mu.Unlock()
		if got == want {
			// Hold on a little: a duplicate would show up now.
			time.Sleep(300 * time.Millisecond)
			d.mu.Lock()
			got = string(d.digits)
			d.mu.Unlock()
			if got != want {
				t.Fatalf("digits %q, want exactly %q", got, want)
			}
			return
		}
		if time.Now().After(deadline) || len(got) > len(want) || !strings.HasPrefix(want, got) {
			t.Fatalf("digits %q, want %q", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestDTMFFromBaresip(t *testing.T) {
	d := newDigitServer(t)
	b := peers.StartBaresip(t, peers.BaresipOptions{User: "keypad"})
	if err := b.Dial(d.srv.URI("keys")); err != nil {
		t.Fatal(err)
	}
	<-d.call
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := b.WaitEvent(ctx, "CALL_ESTABLISHED"); err != nil {
		t.Fatal(err)
	}
	if err := b.SendDTMF("123#*9"); err != nil {
		t.Fatal(err)
	}
	d.waitDigits(t, "123#*9", 8*time.Second)
}

func TestDTMFToBaresip(t *testing.T) {
	b := peers.StartBaresip(t, peers.BaresipOptions{User: "listener", AutoAnswer: true})
	srv := sbt.NewServer(t)
	c := srv.Handle(t, "bot", nil).NewConversation().NewCall()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Establish(ctx, b.URI(), endpoint.EstablishOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WaitEvent(ctx, "CALL_ESTABLISHED"); err != nil {
		t.Fatal(err)
	}
	if err := c.SendDTMF(ctx, "4072#"); err != nil {
		t.Fatal(err)
	}
	var got string
	for range 5 {
		ev, err := b.WaitEvent(ctx, "CALL_DTMF_START")
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		got += ev.Param
	}
	if got != "4072#" {
		t.Fatalf("baresip reported %q, want 4072#", got)
	}
	_ = c.Terminate(ctx)
}

// uacDTMF calls "keys" offering telephone-event on payload type 96 (what
// SIPp's play_dtmf uses) and plays digits.
const uacDTMF = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="dtmf">
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
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 PTDTMF
a=rtpmap:0 PCMU/8000
a=rtpmap:PTDTMF telephone-event/8000
a=fmtp:PTDTMF 0-15

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="200"/>
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
  ACTIONS
  <send retrans="500">
    <![CDATA[
BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 BYE
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
</scenario>`

func runSIPpDTMF(t *testing.T, pt, actions, want string) {
	d := newDigitServer(t)
	// The BYE's CSeq comes after any in-dialog request the actions send.
	sc := strings.NewReplacer("PTDTMF", pt, "ACTIONS", actions, "CSeq: 2 BYE", "CSeq: 20 BYE").Replace(uacDTMF)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res := peers.RunSIPp(t, ctx, "-sf", peers.WriteScenario(t, sc), "-s", "keys", "-m", "1",
		"-p", fmt.Sprint(peers.FreeSIPPort(t)), "-mp", fmt.Sprint(peers.FreeUDPPort(t)&^1), fmt.Sprintf("127.0.0.1:%d", d.srv.Port()))
	if res.ExitCode != 0 {
		t.Fatalf("sipp exit %d\n%s\n%s", res.ExitCode, res.ErrorLog, res.Stderr)
	}
	d.waitDigits(t, want, 3*time.Second)
}

func TestDTMFFromSIPpPlayDTMF(t *testing.T) {
	runSIPpDTMF(t, "96", `<nop><action><exec play_dtmf="1234#"/></action></nop><pause milliseconds="3000"/>`, "1234#")
}

func TestDTMFFromSIPpPcap(t *testing.T) {
	actions := ""
	for _, f := range []string{"9", "pound", "0", "star"} {
		actions += `<nop><action><exec play_pcap_audio="/usr/share/sip-tester/dtmf_2833_` + f + `.pcap"/></action></nop><pause milliseconds="700"/>`
	}
	runSIPpDTMF(t, "101", actions, "9#0*")
}

const uacInfo = `<send retrans="500">
    <![CDATA[
INFO sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: CSEQ INFO
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Type: application/dtmf-relay
Content-Length: [len]

Signal=KEY
Duration=160

    ]]>
  </send>
  <recv response="200"/>`

func TestDTMFOverSIPInfo(t *testing.T) {
	actions := ""
	for i, k := range []string{"7", "*", "3"} {
		actions += strings.NewReplacer("CSEQ", fmt.Sprint(10+i), "KEY", k).Replace(uacInfo)
	}
	runSIPpDTMF(t, "101", actions, "7*3")
}

// TestInBandDTMFWithoutTelephoneEvent: when the caller offers no
// telephone-event, DTMF goes in-band both ways and is detected.
func TestInBandDTMFWithoutTelephoneEvent(t *testing.T) {
	d := newDigitServer(t)
	phone := sbt.NewPhone(t, "oldphone", sbt.PhoneOptions{Settings: endpoint.Settings{Codecs: []string{"PCMU"}}})
	call := phone.Dial(t, d.srv.URI("keys"))
	if call.Negotiated().HasDTMF {
		t.Fatal("telephone-event negotiated although not offered")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := call.SendDTMF(ctx, "159#0"); err != nil {
		t.Fatal(err)
	}
	d.waitDigits(t, "159#0", 3*time.Second)
	call.Hangup(t)
}

// TestInBandDetectorOnlyForListeners: a call without telephone-event that
// nobody listens to for keys decodes nothing it hears (the in-band
// detector is an observer that would decode every packet); the first
// OnDTMF handler, added after the answer, starts the detector and hears
// the keys. The server reads RTP on its poller loops.
func TestInBandDetectorOnlyForListeners(t *testing.T) {
	srv := sbt.NewServer(t, platform.Config{RTPReaders: -1})
	calls := make(chan *endpoint.Call, 1)
	srv.Handle(t, "quiet", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		if c.Accept(ctx) == nil {
			calls <- c
			<-ctx.Done()
		}
	}))
	phone := sbt.NewPhone(t, "oldphone", sbt.PhoneOptions{Settings: endpoint.Settings{Codecs: []string{"PCMU"}}})
	call := phone.Dial(t, srv.URI("quiet"))
	defer call.Hangup(t)
	c := <-calls
	call.StartTone(440)
	for deadline := time.Now().Add(3 * time.Second); c.Flow().Stats().PacketsReceived < 50; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the server heard %d packets", c.Flow().Stats().PacketsReceived)
		}
	}
	if n := c.Flow().Stats().Decoded; n != 0 {
		t.Fatalf("a call nobody listens to decoded %d payloads", n)
	}
	call.StopTone()
	var mu sync.Mutex
	var digits []rune
	c.OnDTMF(func(ev media.DTMFEvent) {
		mu.Lock()
		digits = append(digits, ev.Digit)
		mu.Unlock()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := call.SendDTMF(ctx, "42"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		got := string(digits)
		mu.Unlock()
		if got == "42" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("digits %q after OnDTMF, want \"42\"", got)
		}
	}
	if c.Flow().Stats().Decoded == 0 {
		t.Fatal("the detector runs but nothing was decoded")
	}
}
