package endpoint_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/apps/echo"
	"github.com/switchboard-sip/switchboard/endpoint"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestParkStates: BeginPark and EndPark take an established call through
// Parking and back, with the park reasons; only an established call can
// begin parking.
func TestParkStates(t *testing.T) {
	srv := sbt.NewServer(t)
	srv.Handle(t, "echo", echo.Handler())
	phone := sbt.NewPhone(t, "alice")
	c := phone.Endpoint.NewConversation().NewCall()
	if err := c.BeginPark(); !errors.Is(err, endpoint.ErrState) {
		t.Fatalf("BeginPark on an idle call: %v, want ErrState", err)
	}
	changes := make(chan endpoint.StateChange, 16)
	c.OnStateChanged(func(sc endpoint.StateChange) { changes <- sc })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Establish(ctx, srv.URI("echo"), endpoint.EstablishOptions{}); err != nil {
		t.Fatal(err)
	}
	defer c.Terminate(context.Background())
	next := func(want endpoint.State, reason endpoint.Reason) {
		t.Helper()
		for {
			select {
			case sc := <-changes:
				if sc.State != want && sc.State != endpoint.StateParking && sc.Previous != endpoint.StateParking {
					continue // establishing, established
				}
				if sc.State != want || sc.Reason != reason {
					t.Fatalf("state change %v (%s), want %v (%s)", sc.State, sc.Reason, want, reason)
				}
				return
			case <-ctx.Done():
				t.Fatalf("no change to %v", want)
			}
		}
	}
	for _, fail := range []error{nil, errors.New("no free orbit")} {
		if err := c.BeginPark(); err != nil {
			t.Fatal(err)
		}
		next(endpoint.StateParking, endpoint.ReasonParking)
		if err := c.BeginPark(); !errors.Is(err, endpoint.ErrState) {
			t.Fatalf("BeginPark while parking: %v, want ErrState", err)
		}
		c.EndPark(fail)
		want := endpoint.ReasonParked
		if fail != nil {
			want = endpoint.ReasonParkFailed
		}
		next(endpoint.StateEstablished, want)
		if c.State() != endpoint.StateEstablished || c.Reason() != want {
			t.Fatalf("after EndPark(%v): %v (%s)", fail, c.State(), c.Reason())
		}
	}
}

// TestConversationDropsTerminatedCalls: a conversation's call list holds
// only calls that have not terminated.
func TestConversationDropsTerminatedCalls(t *testing.T) {
	srv := sbt.NewServer(t)
	srv.Handle(t, "echo", echo.Handler())
	phone := sbt.NewPhone(t, "alice")
	conv := phone.Endpoint.NewConversation()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var calls []*endpoint.Call
	for range 3 {
		c := conv.NewCall()
		if err := c.Establish(ctx, srv.URI("echo"), endpoint.EstablishOptions{}); err != nil {
			t.Fatal(err)
		}
		calls = append(calls, c)
	}
	for i, c := range []*endpoint.Call{calls[1], calls[0], calls[2]} {
		if err := c.Terminate(ctx); err != nil {
			t.Fatal(err)
		}
		want := [][]*endpoint.Call{{calls[0], calls[2]}, {calls[2]}, nil}[i]
		if got := conv.Calls(); !slices.Equal(got, want) {
			t.Fatalf("after %d hang-ups: %d calls, want %d", i+1, len(got), len(want))
		}
	}
}
