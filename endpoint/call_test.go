package endpoint_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/apps/echo"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/media/dsp"
	"github.com/switchboard-sip/switchboard/media/sdp"
	"github.com/switchboard-sip/switchboard/platform"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

func TestEchoRoundTrip(t *testing.T) {
	sbt.CheckGoroutines(t)
	srv := sbt.NewServer(t)
	srv.Handle(t, "echo", echo.Handler())
	phone := sbt.NewPhone(t, "alice")
	call := phone.Dial(t, srv.URI("echo"))
	if call.State() != endpoint.StateEstablished {
		t.Fatalf("state = %v", call.State())
	}
	call.StartTone(440)
	time.Sleep(1500 * time.Millisecond)
	rec := call.Recording()
	call.Hangup(t)
	if f := dsp.ToneFraction(rec, 8000, 440); f < 0.5 {
		t.Fatalf("440 Hz in %.0f%% of the echo (%d samples), want >= 50%%", f*100, len(rec))
	}
	if dsp.ToneFraction(rec, 8000, 1000) > 0.05 {
		t.Fatal("echo contains a tone that was never sent")
	}
}

func TestUnknownTargetGets404(t *testing.T) {
	srv := sbt.NewServer(t)
	phone := sbt.NewPhone(t, "alice")
	_, err := phone.DialContext(context.Background(), srv.URI("nobody"), endpoint.EstablishOptions{})
	var re *endpoint.ResponseError
	if !errors.As(err, &re) || re.Code != 404 {
		t.Fatalf("err = %v, want 404", err)
	}
}

func TestDefaultRoutingEndpoint(t *testing.T) {
	srv := sbt.NewServer(t)
	ep, err := endpoint.NewApplication(srv.Platform, endpoint.Settings{OwnerURI: "sip:default@127.0.0.1", Default: true})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	ep.HandleCalls(endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		got <- c.Request().Recipient.User
		_ = c.Decline(ctx, 486)
	}))
	phone := sbt.NewPhone(t, "alice")
	_, err = phone.DialContext(context.Background(), srv.URI("anything"), endpoint.EstablishOptions{})
	var re *endpoint.ResponseError
	if !errors.As(err, &re) || re.Code != 486 {
		t.Fatalf("err = %v, want 486 from the default endpoint", err)
	}
	if u := <-got; u != "anything" {
		t.Fatalf("default endpoint saw %q", u)
	}
}

func TestDrainingRefusesNewCallsAndEndsOldOnes(t *testing.T) {
	srv := sbt.NewServer(t, platform.Config{RetryAfter: 7 * time.Second})
	srv.Handle(t, "echo", echo.Handler())
	phone := sbt.NewPhone(t, "alice")
	call := phone.Dial(t, srv.URI("echo"))

	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(ctx) }()
	for !srv.Draining() {
		time.Sleep(5 * time.Millisecond)
	}
	_, err := phone.DialContext(context.Background(), srv.URI("echo"), endpoint.EstablishOptions{})
	var re *endpoint.ResponseError
	if !errors.As(err, &re) || re.Code != 503 {
		t.Fatalf("err = %v, want 503 while draining", err)
	}
	if ra := re.Res.GetHeader("Retry-After"); ra == nil || ra.Value() != "7" {
		t.Fatalf("Retry-After = %v, want 7", ra)
	}
	// The established call survives the drain until the deadline...
	if call.State() != endpoint.StateEstablished {
		t.Fatalf("established call is %v during drain", call.State())
	}
	// ...and then gets a BYE.
	call.WaitTerminated(t, 5*time.Second)
	if call.Reason() != endpoint.ReasonRemoteHangUp {
		t.Fatalf("reason = %q, want remote hang-up", call.Reason())
	}
	if err := <-shut; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want deadline exceeded", err)
	}
}

func TestCancelBeforeAnswerEndsBothSides(t *testing.T) {
	sbt.CheckGoroutines(t)
	srv := sbt.NewServer(t)
	served := make(chan *endpoint.Call, 1)
	srv.Handle(t, "slow", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		_ = c.Ring(ctx)
		served <- c
		<-ctx.Done() // never answers
	}))
	phone := sbt.NewPhone(t, "alice")
	ctx, cancel := context.WithCancel(context.Background())
	rang := make(chan struct{}, 1)
	errc := make(chan error, 1)
	go func() {
		_, err := phone.DialContext(ctx, srv.URI("slow"), endpoint.EstablishOptions{
			OnProvisional: func(code int, _ string, _ bool) {
				if code == 180 {
					rang <- struct{}{}
				}
			},
		})
		errc <- err
	}()
	<-rang
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Establish = %v, want context.Canceled", err)
	}
	uas := <-served
	select {
	case <-uas.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("server side still alive after CANCEL")
	}
	if uas.Reason() != endpoint.ReasonRemoteCancelled {
		t.Fatalf("server reason = %q", uas.Reason())
	}
}

func TestHoldAndRetrieveDirections(t *testing.T) {
	srv := sbt.NewServer(t)
	var uas *endpoint.Call
	got := make(chan struct{})
	srv.Handle(t, "bob", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		uas = c
		if c.Accept(ctx) == nil {
			close(got)
		}
		<-ctx.Done()
	}))
	phone := sbt.NewPhone(t, "alice")
	call := phone.Dial(t, srv.URI("bob"))
	<-got
	ctx := context.Background()
	cases := []struct {
		hold              endpoint.HoldType
		remoteSent, local sdp.Direction // what bob received, what alice negotiated
	}{
		{endpoint.HoldRemote, sdp.SendOnly, sdp.SendOnly},
		{endpoint.HoldBoth, sdp.Inactive, sdp.Inactive},
		{endpoint.HoldNone, sdp.SendRecv, sdp.SendRecv},
	}
	for _, c := range cases {
		if err := call.Hold(ctx, c.hold); err != nil {
			t.Fatalf("hold %v: %v", c.hold, err)
		}
		if d := uas.Negotiated().RemoteDirection; d != c.remoteSent {
			t.Errorf("hold %v: bob saw %v, want %v", c.hold, d, c.remoteSent)
		}
		if d := call.Negotiated().Direction; d != c.local {
			t.Errorf("hold %v: alice negotiated %v, want %v", c.hold, d, c.local)
		}
	}
	call.Hangup(t)
}

func TestStateChangesAreReportedInOrder(t *testing.T) {
	srv := sbt.NewServer(t)
	srv.Handle(t, "echo", echo.Handler())
	phone := sbt.NewPhone(t, "alice")
	c := phone.Endpoint.NewConversation().NewCall()
	var got []endpoint.StateChange
	done := make(chan struct{})
	c.OnStateChanged(func(sc endpoint.StateChange) {
		got = append(got, sc)
		if sc.State == endpoint.StateTerminated {
			close(done)
		}
	})
	if err := c.Establish(context.Background(), srv.URI("echo"), endpoint.EstablishOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Terminate(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-done
	want := []endpoint.State{endpoint.StateEstablishing, endpoint.StateEstablished, endpoint.StateTerminating, endpoint.StateTerminated}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i, w := range want {
		if got[i].State != w {
			t.Fatalf("event %d = %v, want %v (all: %v)", i, got[i].State, w, got)
		}
	}
	if got[3].Reason != endpoint.ReasonLocalHangUp {
		t.Fatalf("terminated reason = %q", got[3].Reason)
	}
}

// TestStateHandlersCompose: two OnStateChanged handlers on one call both
// see every state in order; removing one mid-call leaves the other.
func TestStateHandlersCompose(t *testing.T) {
	srv := sbt.NewServer(t)
	srv.Handle(t, "echo", echo.Handler())
	phone := sbt.NewPhone(t, "alice")
	c := phone.Endpoint.NewConversation().NewCall()
	var first, second []endpoint.State
	done := make(chan struct{})
	secondEstablished := make(chan struct{})
	c.OnStateChanged(func(sc endpoint.StateChange) {
		first = append(first, sc.State)
		if sc.State == endpoint.StateTerminated {
			close(done)
		}
	})
	removeSecond := c.OnStateChanged(func(sc endpoint.StateChange) {
		second = append(second, sc.State)
		if sc.State == endpoint.StateEstablished {
			close(secondEstablished)
		}
	})
	if err := c.Establish(context.Background(), srv.URI("echo"), endpoint.EstablishOptions{}); err != nil {
		t.Fatal(err)
	}
	<-secondEstablished
	removeSecond()
	if err := c.Terminate(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-done
	removeSecond() // idempotent, also after the call ended
	want := []endpoint.State{endpoint.StateEstablishing, endpoint.StateEstablished, endpoint.StateTerminating, endpoint.StateTerminated}
	if !slices.Equal(first, want) {
		t.Fatalf("first handler saw %v, want %v", first, want)
	}
	if !slices.Equal(second, want[:2]) {
		t.Fatalf("removed handler saw %v, want %v", second, want[:2])
	}
}
