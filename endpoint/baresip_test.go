package endpoint_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/media/dsp"
	"github.com/switchboard-sip/switchboard/media/sdp"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestHoldRetrieveWithBaresip holds a call to baresip: baresip must answer
// the sendonly offer with recvonly and stop sending; after retrieve its
// audio comes back.
func TestHoldRetrieveWithBaresip(t *testing.T) {
	b := peers.StartBaresip(t, peers.BaresipOptions{User: "bob", AutoAnswer: true,
		AudioFile: peers.WriteWAV(t, dsp.Sine(8000, 700, 60*time.Second, 0.3), 8000)})
	srv := sbt.NewServer(t)
	c := srv.Handle(t, "bot", nil).NewConversation().NewCall()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Establish(ctx, b.URI(), endpoint.EstablishOptions{}); err != nil {
		t.Fatal(err)
	}
	pc := sbt.WrapCall(c)
	// A second of received audio, counted rather than slept.
	if f := dsp.ToneFraction(pc.Listen(t, time.Second), 8000, 700); f < 0.5 {
		t.Fatalf("before hold: tone in %.0f%%", f*100)
	}

	if err := c.Hold(ctx, endpoint.HoldRemote); err != nil {
		t.Fatal(err)
	}
	if n := c.Negotiated(); n.RemoteDirection != sdp.RecvOnly || n.Direction != sdp.SendOnly {
		t.Fatalf("hold: baresip answered %v (we negotiated %v), want recvonly/sendonly", n.RemoteDirection, n.Direction)
	}
	time.Sleep(300 * time.Millisecond) // packets in flight
	pc.ResetRecording()
	time.Sleep(time.Second)
	if f := dsp.ToneFraction(pc.Recording(), 8000, 700); f > 0.05 {
		t.Fatalf("baresip kept sending while held: tone in %.0f%%", f*100)
	}

	if err := c.Retrieve(ctx); err != nil {
		t.Fatal(err)
	}
	if n := c.Negotiated(); n.RemoteDirection != sdp.SendRecv || n.Direction != sdp.SendRecv {
		t.Fatalf("retrieve: %v/%v, want sendrecv", n.RemoteDirection, n.Direction)
	}
	if f := dsp.ToneFraction(pc.Listen(t, time.Second), 8000, 700); f < 0.5 {
		t.Fatalf("after retrieve: tone in %.0f%%", f*100)
	}
	pc.Hangup(t)
}

// TestIncomingReferFromBaresip: baresip transfers its call to our desk
// onward; the app accepts the REFER, calls the target and reports success,
// and both the original call and baresip's side end.
func TestIncomingReferFromBaresip(t *testing.T) {
	srv := sbt.NewServer(t)
	desk := make(chan *endpoint.Call, 1)
	accepted := make(chan *endpoint.Call, 1)
	srv.Handle(t, "desk", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		c.OnTransferRequested(func(tr *endpoint.TransferRequest) {
			if !tr.Take() {
				return
			}
			go func() {
				nc, err := tr.Accept(context.Background(), endpoint.EstablishOptions{})
				if err != nil {
					t.Errorf("Accept: %v", err)
					return
				}
				accepted <- nc
			}()
		})
		if c.Accept(ctx) == nil {
			c.HandOff()
			desk <- c
		}
	}))
	target := make(chan *endpoint.Call, 1)
	srv.Handle(t, "target", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		if c.Accept(ctx) == nil {
			c.HandOff()
			target <- c
		}
	}))
	b := peers.StartBaresip(t, peers.BaresipOptions{User: "carl"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.Dial(srv.URI("desk")); err != nil {
		t.Fatal(err)
	}
	dc := <-desk
	if _, err := b.WaitEvent(ctx, "CALL_ESTABLISHED"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Command("transfer", srv.URI("target")); err != nil {
		t.Fatal(err)
	}
	var nc, tc *endpoint.Call
	select {
	case nc = <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatalf("transfer not carried out\n%s", b.Log())
	}
	tc = <-target
	if nc.State() != endpoint.StateEstablished || tc.State() != endpoint.StateEstablished {
		t.Fatalf("new call %v, target %v", nc.State(), tc.State())
	}
	select {
	case <-dc.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("original call still up after the transfer")
	}
	if dc.Reason() != endpoint.ReasonTransferred {
		t.Fatalf("original call reason %q", dc.Reason())
	}
	if _, err := b.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
		t.Fatalf("baresip kept its call: %v", err)
	}
	_ = nc.Terminate(ctx)
}
