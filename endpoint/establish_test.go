package endpoint_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/media/dsp"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

func TestEarlyMediaBeforeAnswer(t *testing.T) {
	srv := sbt.NewServer(t)
	srv.Handle(t, "ivr", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		if err := c.EarlyMedia(ctx); err != nil {
			return
		}
		_ = c.Flow().Play(ctx, dsp.Sine(8000, 900, time.Second, 0.3)) // 1 s before answering
		if c.Accept(ctx) == nil {
			<-ctx.Done()
		}
	}))
	phone := sbt.NewPhone(t, "alice")
	c := phone.Endpoint.NewConversation().NewCall()
	rec := sbt.WrapCall(c)
	early := make(chan bool, 4)
	err := c.Establish(context.Background(), srv.URI("ivr"), endpoint.EstablishOptions{
		OnProvisional: func(code int, _ string, em bool) {
			if code == 183 {
				rec.Record()
				early <- em
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !<-early {
		t.Fatal("183 was not reported as early media")
	}
	if f := dsp.ToneFraction(rec.Recording(), 8000, 900); f < 0.5 {
		t.Fatalf("early media tone in %.0f%% of what was heard before the answer", f*100)
	}
	rec.Hangup(t)
}

const uasDigest = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="digest challenge">
  <recv request="INVITE"/>
  <send>
    <![CDATA[
SIP/2.0 401 Unauthorized
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
WWW-Authenticate: Digest realm="switchboard.test", nonce="4b1f0c0a9e", algorithm=MD5
Content-Length: 0

    ]]>
  </send>
  <recv request="ACK"/>
  <recv request="INVITE">
    <action>
      <verifyauth assign_to="authvalid" username="bot" password="s3cret"/>
    </action>
  </recv>
  <nop test="authvalid" next="good"/>
  <send next="done">
    <![CDATA[
SIP/2.0 403 Forbidden
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

    ]]>
  </send>
  <label id="good"/>
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
  <label id="done"/>
  <recv request="ACK"/>
</scenario>`

// TestDigestAuthentication: SIPp challenges with 401 and answers 486 only
// when the retried INVITE carries a valid digest for bot/s3cret (403
// otherwise).
func TestDigestAuthentication(t *testing.T) {
	for _, pw := range []string{"s3cret", "wrong"} {
		port := peers.FreeSIPPort(t)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		uas := peers.StartSIPp(t, ctx, "-sf", peers.WriteScenario(t, uasDigest), "-p", fmt.Sprint(port), "-m", "1")
		if err := peers.WaitUDPListening(ctx, port); err != nil {
			t.Fatal(err)
		}
		srv := sbt.NewServer(t)
		call := srv.Handle(t, "bot", nil).NewConversation().NewCall()
		err := call.Establish(ctx, fmt.Sprintf("sip:svc@127.0.0.1:%d", port), endpoint.EstablishOptions{
			Credentials: &endpoint.Credentials{Username: "bot", Password: pw},
		})
		want := 486
		if pw == "wrong" {
			want = 403
		}
		var re *endpoint.ResponseError
		if !errors.As(err, &re) || re.Code != want {
			t.Errorf("password %q: Establish = %v, want %d", pw, err, want)
		}
		uas.Wait()
		cancel()
	}
}

const uasRedirect = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="redirect">
  <recv request="INVITE"/>
  <send>
    <![CDATA[
SIP/2.0 302 Moved Temporarily
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:elsewhere@192.0.2.7:5060>
Content-Length: 0

    ]]>
  </send>
  <recv request="ACK"/>
</scenario>`

func TestRedirectIsReported(t *testing.T) {
	port := peers.FreeSIPPort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	uas := peers.StartSIPp(t, ctx, "-sf", peers.WriteScenario(t, uasRedirect), "-p", fmt.Sprint(port), "-m", "1")
	if err := peers.WaitUDPListening(ctx, port); err != nil {
		t.Fatal(err)
	}
	srv := sbt.NewServer(t)
	call := srv.Handle(t, "bot", nil).NewConversation().NewCall()
	err := call.Establish(ctx, fmt.Sprintf("sip:svc@127.0.0.1:%d", port), endpoint.EstablishOptions{})
	var rd *endpoint.RedirectError
	if !errors.As(err, &rd) || rd.Code != 302 || len(rd.Contacts) != 1 || rd.Contacts[0] != "sip:elsewhere@192.0.2.7:5060" {
		t.Fatalf("Establish = %#v", err)
	}
	if res := uas.Wait(); res.ExitCode != 0 {
		t.Fatalf("sipp exit %d", res.ExitCode)
	}
}
