package park_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/apps/park"
	"github.com/switchboard-sip/switchboard/endpoint"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestParkedCallReportsParkingThenParked: a call parked through the API
// goes Established → Parking (parking) → Established (call parked), and a
// park that finds no free orbit comes back with "park failed".
func TestParkedCallReportsParkingThenParked(t *testing.T) {
	r := newRig(t, park.Config{Orbits: []park.OrbitRange{{Start: "7000", End: "7000"}}})
	type result struct {
		changes []endpoint.StateChange
		err     error
	}
	results := make(chan result, 2)
	r.srv.Handle(t, "parkme", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		if err := c.Accept(ctx); err != nil {
			results <- result{err: err}
			return
		}
		changes := make(chan endpoint.StateChange, 8)
		c.OnStateChanged(func(sc endpoint.StateChange) { changes <- sc })
		_, err := r.svc.Park(ctx, c, park.ParkOptions{Parker: "sip:parker@127.0.0.1"})
		// Two changes follow either way: into Parking and out of it.
		var got []endpoint.StateChange
		for len(got) < 2 {
			select {
			case sc := <-changes:
				got = append(got, sc)
			case <-time.After(5 * time.Second):
				results <- result{got, err}
				return
			}
		}
		results <- result{got, err}
		if err != nil {
			_ = c.Terminate(ctx)
		}
	}))
	check := func(wantReason endpoint.Reason, wantErr bool) {
		t.Helper()
		res := <-results
		if (res.err != nil) != wantErr {
			t.Fatalf("Park: %v", res.err)
		}
		want := []endpoint.StateChange{
			{Previous: endpoint.StateEstablished, State: endpoint.StateParking, Reason: endpoint.ReasonParking},
			{Previous: endpoint.StateParking, State: endpoint.StateEstablished, Reason: wantReason},
		}
		if len(res.changes) != 2 || res.changes[0] != want[0] || res.changes[1] != want[1] {
			t.Fatalf("state changes %+v, want %+v", res.changes, want)
		}
	}
	phone := sbt.NewPhone(t, "caller")
	first := phone.Dial(t, r.srv.URI("parkme"))
	check(endpoint.ReasonParked, false)
	if first.State() != endpoint.StateEstablished {
		t.Fatalf("parked caller's call is %v", first.State())
	}
	phone.Dial(t, r.srv.URI("parkme")) // the only orbit is taken
	check(endpoint.ReasonParkFailed, true)
}
