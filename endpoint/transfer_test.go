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

// xferRig is a server with an app endpoint "desk" that answers calls and
// hands them to the test, and a target endpoint "target" whose calls are
// reported and answered (or declined with declineCode).
type xferRig struct {
	srv      *sbt.Server
	desk     chan *endpoint.Call
	target   chan *sbt.PhoneCall
	caller   *peers.Baresip
	deskCall *endpoint.Call
}

func newXferRig(t *testing.T, declineCode int) *xferRig {
	r := &xferRig{srv: sbt.NewServer(t), desk: make(chan *endpoint.Call, 1), target: make(chan *sbt.PhoneCall, 1)}
	r.srv.Handle(t, "desk", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		if c.Accept(ctx) == nil {
			c.HandOff()
			r.desk <- c
		}
	}))
	r.srv.Handle(t, "target", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		if declineCode != 0 {
			_ = c.DeclineWithReason(ctx, declineCode, "Busy Here")
			return
		}
		if c.Accept(ctx) == nil {
			c.HandOff()
			r.target <- sbt.WrapCall(c)
		}
	}))
	r.caller = peers.StartBaresip(t, peers.BaresipOptions{User: "caller", AudioFile: peers.WriteWAV(t, dsp.Sine(8000, 700, 30*time.Second, 0.3), 8000)})
	if err := r.caller.Dial(r.srv.URI("desk")); err != nil {
		t.Fatal(err)
	}
	select {
	case r.deskCall = <-r.desk:
	case <-time.After(10 * time.Second):
		t.Fatalf("baresip did not reach the desk\n%s", r.caller.Log())
	}
	return r
}

func TestUnattendedTransferWithBaresip(t *testing.T) {
	r := newXferRig(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := r.deskCall.Transfer(ctx, r.srv.URI("target"), endpoint.TransferOptions{}); err != nil {
		t.Fatalf("Transfer: %v\n%s", err, r.caller.Log())
	}
	if r.deskCall.State() != endpoint.StateTerminated || r.deskCall.Reason() != endpoint.ReasonTransferred {
		t.Fatalf("desk call %v/%q after unattended transfer", r.deskCall.State(), r.deskCall.Reason())
	}
	var tc *sbt.PhoneCall
	select {
	case tc = <-r.target:
	case <-time.After(10 * time.Second):
		t.Fatalf("baresip never called the transfer target\n%s", r.caller.Log())
	}
	if got := tc.RemoteURI(); got != r.caller.URI() && got != "sip:caller@127.0.0.1" {
		t.Logf("target call from %s", got)
	}
	// 1.5 s of received audio, counted rather than slept.
	if f := dsp.ToneFraction(tc.Listen(t, 1500*time.Millisecond), 8000, 700); f < 0.3 {
		t.Fatalf("target hears the transferred caller's tone in %.0f%% of the call", f*100)
	}
	tc.Hangup(t)
}

func TestAttendedTransferWaitsForOutcome(t *testing.T) {
	t.Run("success", func(t *testing.T) {
		r := newXferRig(t, 0)
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := r.deskCall.Transfer(ctx, r.srv.URI("target"), endpoint.TransferOptions{Type: endpoint.Attended}); err != nil {
			t.Fatalf("Transfer: %v\n%s", err, r.caller.Log())
		}
		tc := <-r.target
		if r.deskCall.Reason() != endpoint.ReasonTransferred {
			t.Fatalf("desk call reason %q", r.deskCall.Reason())
		}
		tc.Hangup(t)
	})
	t.Run("target busy keeps the call", func(t *testing.T) {
		r := newXferRig(t, 486)
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		err := r.deskCall.Transfer(ctx, r.srv.URI("target"), endpoint.TransferOptions{Type: endpoint.Attended})
		var te *endpoint.TransferError
		if !errors.As(err, &te) || te.Code != 486 {
			t.Fatalf("Transfer = %v, want TransferError 486\n%s", err, r.caller.Log())
		}
		if s := r.deskCall.State(); s != endpoint.StateEstablished {
			t.Fatalf("desk call is %v after a failed attended transfer, want established", s)
		}
		_ = r.deskCall.Terminate(ctx)
	})
}

// TestSupervisedTransferWithReplaces: baresip calls the desk; the desk
// calls a test phone; the desk then asks baresip (REFER with Replaces) to
// call the phone, whose new call replaces the desk's call to it (RFC 3891).
func TestSupervisedTransferWithReplaces(t *testing.T) {
	r := newXferRig(t, 0)
	phone := sbt.NewPhone(t, "carol", sbt.PhoneOptions{Answer: func(ctx context.Context, c *endpoint.Call) error {
		return c.Accept(ctx)
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	consult := r.srv.Handle(t, "consult", nil).NewConversation().NewCall()
	if err := consult.Establish(ctx, phone.URI(), endpoint.EstablishOptions{}); err != nil {
		t.Fatal(err)
	}
	carolOld := phone.NextCall(t)
	if err := r.deskCall.TransferReplacing(ctx, consult, endpoint.TransferOptions{}); err != nil {
		t.Fatalf("TransferReplacing: %v\n%s", err, r.caller.Log())
	}
	carolNew := phone.NextCall(t)
	if carolNew.Replaces() == nil {
		t.Fatalf("carol's new call does not say it replaces a call; INVITE:\n%s", carolNew.Request().String())
	}
	carolOld.WaitTerminated(t, 5*time.Second)
	select {
	case <-consult.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the replaced consultation call is still up")
	}
	if r.deskCall.Reason() != endpoint.ReasonTransferred {
		t.Fatalf("desk call reason %q", r.deskCall.Reason())
	}
	carolNew.StartTone(1200)
	if f := dsp.ToneFraction(carolNew.Listen(t, 1500*time.Millisecond), 8000, 700); f < 0.3 {
		t.Fatalf("carol hears baresip in %.0f%% of the call", f*100)
	}
	carolNew.Hangup(t)
	_ = fmt.Sprint()
}
