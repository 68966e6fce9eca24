package park_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/apps/park"
	"github.com/switchboard-sip/switchboard/endpoint"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestReplacesAndSafeRetrieveBadInput: an INVITE with Replaces naming a
// dialog of the park address that is not an attended park in progress (a
// blind-parked call) gets 481, and the blind-parked call stays parked; a
// forged safe retrieve URI and a stale one (its park already retrieved)
// get 404 Safe Retrieve Failed. No orbit changes.
func TestReplacesAndSafeRetrieveBadInput(t *testing.T) {
	r := newRig(t, park.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// A blind park: the parked party's INVITE names its parker.
	bp, err := sbt.NewPhone(t, "blindparked").DialContext(ctx, r.svc.URI(), endpoint.EstablishOptions{
		Headers: []endpoint.Header{{Name: "Referred-By", Value: "<sip:parker@127.0.0.1>"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer bp.Hangup(t)
	// An API park, whose safe retrieve URI goes stale once it is retrieved.
	_, stale := r.parkPhone(t, sbt.NewPhone(t, "apiparked"))
	before := r.svc.List()

	// P asks O to call the park address with Replaces naming the
	// blind-parked call's dialog.
	p, o := sbt.NewPhone(t, "p"), sbt.NewPhone(t, "o")
	withO := p.Dial(t, o.URI())
	o.NextCall(t)
	var te *endpoint.TransferError
	if err := withO.TransferReplacing(ctx, bp.Call, endpoint.TransferOptions{}); !errors.As(err, &te) || te.Code != 481 {
		t.Fatalf("Replaces naming a blind park: %v, want 481", err)
	}
	if l := r.svc.List(); !slices.Equal(l, before) {
		t.Fatalf("orbits changed by a bad Replaces:\n%+v\nwant\n%+v", l, before)
	}
	bp.WaitTone(t, musicHz, 5*time.Second) // still parked, hearing the music

	// Retrieve the API park: its safe URI is stale from now on.
	rc := sbt.NewPhone(t, "retriever").Dial(t, r.svc.OrbitURI(stale.Orbit))
	defer rc.Hangup(t)
	before = r.svc.List()
	thief := sbt.NewPhone(t, "thief")
	for _, uri := range []string{r.svc.SafeRetrieveURI(park.Entry{Token: "FORGEDFORGEDFORGEDFORGEDFO"}), r.svc.SafeRetrieveURI(stale)} {
		_, err := thief.DialContext(ctx, uri, endpoint.EstablishOptions{})
		var re *endpoint.ResponseError
		if !errors.As(err, &re) || re.Code != 404 || re.Reason != "Safe Retrieve Failed" {
			t.Errorf("%s: %v, want 404 Safe Retrieve Failed", uri, err)
		}
	}
	if l := r.svc.List(); !slices.Equal(l, before) {
		t.Fatalf("orbits changed by bad safe retrieves:\n%+v\nwant\n%+v", l, before)
	}
}
