package endpoint_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/endpoint"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// referRig: alice calls the app endpoint "desk", whose call gets the
// OnTransferRequested handlers handlers() returns; alice then transfers
// (REFER) the desk to "target".
type referRig struct {
	srv    *sbt.Server
	alice  *sbt.PhoneCall
	desk   *endpoint.Call
	target chan *endpoint.Call
}

func newReferRig(t *testing.T, handlers ...func(*endpoint.TransferRequest)) *referRig {
	r := &referRig{srv: sbt.NewServer(t), target: make(chan *endpoint.Call, 1)}
	desk := make(chan *endpoint.Call, 1)
	r.srv.Handle(t, "desk", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		for _, h := range handlers {
			c.OnTransferRequested(h)
		}
		if c.Accept(ctx) == nil {
			c.HandOff()
			desk <- c
		}
	}))
	r.srv.Handle(t, "target", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		if c.Accept(ctx) == nil {
			c.HandOff()
			r.target <- c
		}
	}))
	r.alice = sbt.NewPhone(t, "alice").Dial(t, r.srv.URI("desk"))
	select {
	case r.desk = <-desk:
	case <-time.After(10 * time.Second):
		t.Fatal("alice did not reach the desk")
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.desk.Terminate(ctx)
	})
	return r
}

func (r *referRig) transfer(t *testing.T) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return r.alice.Transfer(ctx, r.srv.URI("target"), endpoint.TransferOptions{Type: endpoint.Attended})
}

func TestTransferHandlersCompose(t *testing.T) {
	t.Run("first declines", func(t *testing.T) {
		second := make(chan struct{}, 1)
		r := newReferRig(t,
			func(tr *endpoint.TransferRequest) { tr.Decline(486) },
			func(tr *endpoint.TransferRequest) { second <- struct{}{}; tr.Take() },
		)
		var te *endpoint.TransferError
		if err := r.transfer(t); !errors.As(err, &te) || te.Code != 486 {
			t.Fatalf("Transfer = %v, want the first handler's 486", err)
		}
		select {
		case <-second:
			t.Fatal("the second handler was asked after the first declined")
		default:
		}
		if s := r.desk.State(); s != endpoint.StateEstablished {
			t.Fatalf("desk call is %v after a declined REFER", s)
		}
	})
	t.Run("first ignores, second accepts", func(t *testing.T) {
		var order []string
		accepted := make(chan *endpoint.Call, 1)
		r := newReferRig(t,
			func(tr *endpoint.TransferRequest) { order = append(order, "ignore") },
			func(tr *endpoint.TransferRequest) {
				order = append(order, "accept")
				if !tr.Take() {
					t.Error("Take failed")
					return
				}
				go func() {
					nc, err := tr.Accept(context.Background(), endpoint.EstablishOptions{})
					if err != nil {
						t.Errorf("Accept: %v", err)
					}
					accepted <- nc
				}()
			},
			func(tr *endpoint.TransferRequest) { order = append(order, "third") },
		)
		if err := r.transfer(t); err != nil {
			t.Fatalf("Transfer: %v", err)
		}
		nc := <-accepted
		if nc == nil {
			t.Fatal("no new call")
		}
		tc := sbt.WrapCall(<-r.target)
		if len(order) != 2 || order[0] != "ignore" || order[1] != "accept" {
			t.Fatalf("handlers ran %v, want [ignore accept]", order)
		}
		if r.desk.Reason() != endpoint.ReasonTransferred {
			t.Fatalf("desk call reason %q", r.desk.Reason())
		}
		tc.Hangup(t)
		_ = nc.Terminate(context.Background())
	})
	t.Run("none decides", func(t *testing.T) {
		removed := make(chan struct{})
		remove := make(chan func(), 1)
		r := newReferRig(t, func(tr *endpoint.TransferRequest) {})
		remove <- r.desk.OnTransferRequested(func(tr *endpoint.TransferRequest) {
			f := <-remove
			f() // safe inside the handler
			f()
			close(removed)
		})
		start := time.Now()
		var te *endpoint.TransferError
		if err := r.transfer(t); !errors.As(err, &te) || te.Code != 603 {
			t.Fatalf("Transfer = %v, want 603", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("an undecided REFER took %v to decline, want at once", d)
		}
		<-removed
		// The second REFER finds only the handler that ignores it (the
		// removed one would block on its empty channel).
		start = time.Now()
		if err := r.transfer(t); !errors.As(err, &te) || te.Code != 603 {
			t.Fatalf("second Transfer = %v, want 603", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("the second REFER took %v to decline: the removed handler ran", d)
		}
	})
}
