package endpoint_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/platform"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// receiver is a user "inbox" on a second platform that answers every
// out-of-dialog request with code and hands the request to the test.
func receiver(t *testing.T, code int, cfg ...platform.Config) (uri string, got <-chan *sip.Request) {
	t.Helper()
	srv := sbt.NewServer(t, cfg...)
	ep := srv.Handle(t, "inbox", nil)
	ch := make(chan *sip.Request, 4)
	ep.HandleOther(platform.HandlerFunc(func(r *platform.Request) {
		ch <- r.Request.Clone()
		_ = r.Respond(code, fmt.Sprint("Status ", code), nil)
	}))
	return srv.URI("inbox"), ch
}

func next(t *testing.T, ch <-chan *sip.Request) *sip.Request {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no request arrived")
		return nil
	}
}

func TestSendMessageToAnotherPlatform(t *testing.T) {
	sbt.CheckGoroutines(t)
	to, got := receiver(t, 200)
	srv := sbt.NewServer(t)
	bot := srv.HandleWith(t, endpoint.Settings{OwnerURI: "sip:bot@127.0.0.1", DisplayName: "The Bot"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	if err := bot.SendMessage(ctx, to, "text/plain;charset=utf-8", []byte("hello, inbox")); err != nil {
		t.Fatal(err)
	}
	req := next(t, got)
	if req.Method != sip.MESSAGE || req.Recipient.User != "inbox" {
		t.Errorf("request line: %s %s", req.Method, req.Recipient.String())
	}
	if f := req.From(); f.DisplayName != "The Bot" || f.Address.User != "bot" || f.Address.Host != "127.0.0.1" {
		t.Errorf("From = %s", f.Value())
	}
	if tag, _ := req.From().Params.Get("tag"); tag == "" {
		t.Error("From has no tag")
	}
	if tt := req.To(); tt.Address.User != "inbox" {
		t.Errorf("To = %s", tt.Value())
	} else if _, ok := tt.Params.Get("tag"); ok {
		t.Errorf("out-of-dialog To has a tag: %s", tt.Value())
	}
	if ct := req.ContentType(); ct == nil || ct.Value() != "text/plain;charset=utf-8" {
		t.Errorf("Content-Type = %v", ct)
	}
	if string(req.Body()) != "hello, inbox" {
		t.Errorf("body = %q", req.Body())
	}
	// RFC 3428 section 4: no Contact in MESSAGE.
	if req.Contact() != nil {
		t.Errorf("MESSAGE carries Contact %s", req.Contact().Value())
	}

	// Request returns the 2xx itself.
	res, err := bot.Request(ctx, sip.MESSAGE, to, endpoint.RequestOptions{ContentType: "text/plain", Body: []byte("again")})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("Request = %v, %v; want 200", res, err)
	}
	next(t, got)
}

func TestRequestFailureIsResponseError(t *testing.T) {
	sbt.CheckGoroutines(t)
	to, got := receiver(t, 488)
	srv := sbt.NewServer(t)
	bot := srv.Handle(t, "bot", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	err := bot.SendMessage(ctx, to, "text/plain", []byte("x"))
	var re *endpoint.ResponseError
	if !errors.As(err, &re) || re.Code != 488 || re.Res == nil {
		t.Fatalf("err = %v, want a 488 ResponseError", err)
	}
	next(t, got)
	// Nobody is "nobody" on the receiver's platform: its 404.
	nobody := strings.Replace(to, "inbox", "nobody", 1)
	if _, err := bot.Request(ctx, sip.MESSAGE, nobody, endpoint.RequestOptions{}); !errors.As(err, &re) || re.Code != 404 {
		t.Fatalf("err = %v, want a 404 ResponseError", err)
	}
}

func TestOptionsPingReturnsTheResponse(t *testing.T) {
	sbt.CheckGoroutines(t)
	peer := sbt.NewServer(t, platform.Config{UserAgent: "peer-under-test"})
	srv := sbt.NewServer(t)
	bot := srv.Handle(t, "bot", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := bot.Request(ctx, sip.OPTIONS, peer.URI("anyone"), endpoint.RequestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		t.Fatalf("OPTIONS: %d %s", res.StatusCode, res.Reason)
	}
	if h := res.GetHeader("Server"); h == nil || h.Value() != "peer-under-test" {
		t.Errorf("Server = %v, want the peer's", h)
	}
	if h := res.GetHeader("Allow"); h == nil || !strings.Contains(h.Value(), "MESSAGE") {
		t.Errorf("Allow = %v", h)
	}
}

func TestUnsolicitedNotify(t *testing.T) {
	to, got := receiver(t, 200)
	srv := sbt.NewServer(t)
	vm := srv.Handle(t, "voicemail", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	body := []byte("Messages-Waiting: yes\r\nVoice-Message: 2/8 (0/2)\r\n")
	_, err := vm.Request(ctx, sip.NOTIFY, to, endpoint.RequestOptions{
		Event: "message-summary", ContentType: "application/simple-message-summary", Body: body,
		Headers: []endpoint.Header{{Name: "Subscription-State", Value: "active"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	req := next(t, got)
	if h := req.GetHeader("Event"); h == nil || h.Value() != "message-summary" {
		t.Errorf("Event = %v", h)
	}
	if h := req.GetHeader("Subscription-State"); h == nil || h.Value() != "active" {
		t.Errorf("Subscription-State = %v", h)
	}
	if req.Contact() == nil || req.Contact().Address.User != "voicemail" {
		t.Errorf("NOTIFY Contact = %v", req.Contact())
	}
	if string(req.Body()) != string(body) {
		t.Errorf("body = %q", req.Body())
	}
}

func TestConversationRequestUsesImpersonatedIdentity(t *testing.T) {
	// The receiver trusts us, or it would drop P-Asserted-Identity.
	to, got := receiver(t, 202, platform.Config{TrustedPeers: []string{"127.0.0.0/8"}})
	srv := sbt.NewServer(t)
	bot := srv.Handle(t, "bot", nil)
	conv := bot.NewConversation()
	if err := conv.Impersonate(endpoint.Identity{URI: "sip:alice@example.com", DisplayName: "Alice"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := conv.Request(ctx, sip.MESSAGE, to, endpoint.RequestOptions{ContentType: "text/plain", Body: []byte("hi")})
	if err != nil || res.StatusCode != 202 {
		t.Fatalf("Request = %v, %v; want 202", res, err)
	}
	req := next(t, got)
	if f := req.From(); f.DisplayName != "Alice" || f.Address.String() != "sip:alice@example.com" {
		t.Errorf("From = %s", f.Value())
	}
	if h := req.GetHeader("P-Asserted-Identity"); h == nil || !strings.Contains(h.Value(), "sip:alice@example.com") {
		t.Errorf("P-Asserted-Identity = %v", h)
	}
	if s := conv.State(); s != endpoint.ConversationIdle {
		t.Errorf("conversation state = %v, want idle", s)
	}
}

func TestRequestRefusesBadInput(t *testing.T) {
	srv := sbt.NewServer(t)
	bot := srv.Handle(t, "bot", nil)
	ctx := context.Background()
	to := srv.URI("someone")
	for _, m := range []sip.RequestMethod{sip.INVITE, sip.BYE, sip.ACK, sip.SUBSCRIBE, sip.REFER, "info"} {
		if _, err := bot.Request(ctx, m, to, endpoint.RequestOptions{}); !errors.Is(err, endpoint.ErrDialogMethod) {
			t.Errorf("%s: err = %v, want ErrDialogMethod", m, err)
		}
	}
	bad := []struct {
		method sip.RequestMethod
		to     string
		opts   endpoint.RequestOptions
	}{
		{sip.NOTIFY, to, endpoint.RequestOptions{}},                                   // no Event
		{sip.MESSAGE, to, endpoint.RequestOptions{Body: []byte("x")}},                 // no content type
		{sip.MESSAGE, to, endpoint.RequestOptions{ContentType: "text/plain\r\nX: 1"}}, // injection
		{sip.MESSAGE, to, endpoint.RequestOptions{Headers: []endpoint.Header{{Name: "Call-ID", Value: "x"}}}},
		{sip.MESSAGE, to, endpoint.RequestOptions{Headers: []endpoint.Header{{Name: "X-Evil", Value: "a\r\nVia: b"}}}},
		{sip.MESSAGE, to, endpoint.RequestOptions{Headers: []endpoint.Header{{Name: "X-Evil: a\r\nVia", Value: "b"}}}},
		{sip.MESSAGE, "tel:+15551234", endpoint.RequestOptions{}},
		{sip.MESSAGE, "mailto:x@example.com", endpoint.RequestOptions{}},
	}
	for _, b := range bad {
		if _, err := bot.Request(ctx, b.method, b.to, b.opts); err == nil {
			t.Errorf("Request(%s, %s, %+v) succeeded", b.method, b.to, b.opts)
		}
	}
}

// uasCheckMessage is a SIPp UAS that fails (exit code 1) unless the MESSAGE
// carries our From, To, Content-Type and body; it answers with the status
// code and reason formatted into it (%d %s).
const uasCheckMessage = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="check MESSAGE">
  <recv request="MESSAGE">
    <action>
      <ereg regexp="&quot;Bot&quot; *&lt;sip:bot@127\.0\.0\.1&gt;;tag=" search_in="hdr" header="From:" check_it="true" assign_to="1"/>
      <ereg regexp="sip:alice@127\.0\.0\.1" search_in="hdr" header="To:" check_it="true" assign_to="2"/>
      <ereg regexp="text/plain" search_in="hdr" header="Content-Type:" check_it="true" assign_to="3"/>
      <ereg regexp="parked call was disconnected" search_in="body" check_it="true" assign_to="4"/>
    </action>
  </recv>
  <send>
    <![CDATA[
SIP/2.0 %d %s
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

    ]]>
  </send>
  <Reference variables="1,2,3,4"/>
</scenario>`

// uasOptions answers one OPTIONS with 200 and a header of its own.
const uasOptions = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="answer OPTIONS">
  <recv request="OPTIONS"/>
  <send>
    <![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Accept: text/plain
X-Peer: sipp
Content-Length: 0

    ]]>
  </send>
</scenario>`

// startUAS runs a one-call SIPp UAS with scenario on a free port and
// returns its URI for user.
func startUAS(t *testing.T, ctx context.Context, scenario, user string) (*peers.SIPpProcess, string) {
	t.Helper()
	port := peers.FreeSIPPort(t)
	uas := peers.StartSIPp(t, ctx, "-sf", peers.WriteScenario(t, scenario), "-p", fmt.Sprint(port), "-m", "1")
	if err := peers.WaitUDPListening(ctx, port); err != nil {
		t.Fatal(err)
	}
	return uas, fmt.Sprintf("sip:%s@127.0.0.1:%d", user, port)
}

func TestMessageToSIPp(t *testing.T) {
	peers.RequireSIPp(t)
	for _, c := range []struct {
		code   int
		reason string
	}{{200, "OK"}, {404, "Not Found"}} {
		t.Run(fmt.Sprint(c.code), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			uas, to := startUAS(t, ctx, fmt.Sprintf(uasCheckMessage, c.code, c.reason), "alice")
			srv := sbt.NewServer(t)
			bot := srv.HandleWith(t, endpoint.Settings{OwnerURI: "sip:bot@127.0.0.1", DisplayName: "Bot"}, nil)
			err := bot.SendMessage(ctx, to, "text/plain", []byte("Your parked call was disconnected."))
			var re *endpoint.ResponseError
			switch {
			case c.code == 200 && err != nil:
				t.Fatalf("SendMessage: %v", err)
			case c.code != 200 && (!errors.As(err, &re) || re.Code != c.code):
				t.Fatalf("SendMessage = %v, want a %d ResponseError", err, c.code)
			}
			res := uas.Wait()
			if res.ExitCode != 0 || res.Successful != 1 {
				t.Fatalf("SIPp did not see the expected MESSAGE: exit %d, %d successful\n%s\n%s", res.ExitCode, res.Successful, res.ErrorLog, peers.ReadMessages(t, res.Dir))
			}
		})
	}
}

func TestOptionsToSIPp(t *testing.T) {
	peers.RequireSIPp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	uas, to := startUAS(t, ctx, uasOptions, "peer")
	srv := sbt.NewServer(t)
	bot := srv.Handle(t, "bot", nil)
	res, err := bot.Request(ctx, sip.OPTIONS, to, endpoint.RequestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if h := res.GetHeader("X-Peer"); res.StatusCode != 200 || h == nil || h.Value() != "sipp" {
		t.Fatalf("OPTIONS response = %d, X-Peer %v", res.StatusCode, h)
	}
	if r := uas.Wait(); r.ExitCode != 0 {
		t.Fatalf("SIPp: exit %d\n%s", r.ExitCode, r.ErrorLog)
	}
}
