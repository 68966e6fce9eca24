package main

import (
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/admin"
	"github.com/switchboard-sip/switchboard/apps/holdmusic"
	"github.com/switchboard-sip/switchboard/media/dsp"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestAdminOriginateHoldParkRetrieve is the attendant's day through the
// API: originate connects alice and bob (bob sees alice calling); hold
// gives alice music and takes her audio from bob; retrieve brings it back;
// park puts alice in orbit 7010 (listed, music), and retrieving the orbit
// to carol connects alice and carol. Every response is checked against
// the OpenAPI document.
func TestAdminOriginateHoldParkRetrieve(t *testing.T) {
	e := startAdminServer(t, "", nil)
	alice, bob, carol := sbt.NewPhone(t, "alice"), sbt.NewPhone(t, "bob"), sbt.NewPhone(t, "carol")

	code, b := e.do(t, "POST", "/api/v1/calls", map[string]any{"a": alice.URI(), "b": bob.URI(), "timeout_seconds": 10})
	if code != 201 {
		t.Fatalf("originate: %d %s", code, b)
	}
	legs := decode[admin.OriginateResponse](t, b)
	ca, cb := alice.NextCall(t), bob.NextCall(t)
	if !strings.Contains(cb.RemoteURI(), "alice") {
		t.Errorf("bob sees %s calling, want alice", cb.RemoteURI())
	}
	ca.StartTone(700)
	cb.StartTone(1100)
	cb.WaitTone(t, 700, 3*time.Second)
	ca.WaitTone(t, 1100, 3*time.Second)

	if code, b := e.do(t, "POST", "/api/v1/calls/"+legs.A.ID+"/hold", map[string]any{}); code != 200 {
		t.Fatalf("hold: %d %s", code, b)
	}
	ca.ResetRecording()
	ca.WaitTone(t, holdmusic.DefaultMarkerHz, 3*time.Second) // alice hears the music
	// and bob no longer hears alice (who, held sendonly, may go on
	// sending: Switchboard drops it rather than pass it on).
	cb.ResetRecording()
	time.Sleep(time.Second)
	if rec := cb.Recording(); dsp.HasTone(rec, 8000, 700) {
		t.Errorf("bob still hears alice while she is held (%d samples)", len(rec))
	}
	if code, b := e.do(t, "POST", "/api/v1/calls/"+legs.A.ID+"/retrieve", nil); code != 200 {
		t.Fatalf("retrieve: %d %s", code, b)
	}
	cb.ResetRecording()
	cb.WaitTone(t, 700, 3*time.Second)

	if code, b := e.do(t, "POST", "/api/v1/calls/"+legs.A.ID+"/park", map[string]any{"orbit": "7010"}); code != 201 || decode[admin.OrbitView](t, b).Orbit != "7010" {
		t.Fatalf("park: %d %s", code, b)
	}
	_, b = e.do(t, "GET", "/api/v1/orbits", nil)
	if o := decode[orbitList](t, b).Orbits; len(o) != 1 || o[0].Orbit != "7010" || o[0].CallID != legs.A.ID {
		t.Fatalf("orbits after the park: %s", b)
	}
	ca.ResetRecording()
	ca.WaitTone(t, holdmusic.DefaultMarkerHz, 3*time.Second)
	cb.WaitTerminated(t, 5*time.Second) // bob's leg ends: alice left the pair for the orbit
	if code, b := e.do(t, "POST", "/api/v1/orbits/7010/retrieve", map[string]string{"uri": carol.URI()}); code != 204 {
		t.Fatalf("retrieve the orbit: %d %s", code, b)
	}
	cc := carol.NextCall(t)
	cc.StartTone(1300)
	cc.WaitTone(t, 700, 3*time.Second)
	ca.WaitTone(t, 1300, 3*time.Second)
	ca.Hangup(t)
}

// TestAdminTransferAndBadRequests: a blind transfer through the API sends
// bob (the remote party of his leg) to carol, phone to phone; bad bodies
// and unknown calls get problem details.
func TestAdminTransferAndBadRequests(t *testing.T) {
	e := startAdminServer(t, "", nil)
	alice, bob, carol := sbt.NewPhone(t, "alice"), sbt.NewPhone(t, "bob"), sbt.NewPhone(t, "carol")
	code, b := e.do(t, "POST", "/api/v1/calls", map[string]any{"a": alice.URI(), "b": bob.URI()})
	if code != 201 {
		t.Fatalf("originate: %d %s", code, b)
	}
	legs := decode[admin.OriginateResponse](t, b)
	alice.NextCall(t)
	cb := bob.NextCall(t)
	if code, b := e.do(t, "POST", "/api/v1/calls/"+legs.B.ID+"/transfer", map[string]string{"to": carol.URI()}); code != 204 {
		t.Fatalf("transfer: %d %s", code, b)
	}
	if cc := carol.NextCall(t); !strings.Contains(cc.RemoteURI(), "bob") {
		t.Errorf("carol sees %s, want bob", cc.RemoteURI())
	}
	cb.WaitTerminated(t, 5*time.Second) // bob's leg to us ended with the transfer

	for _, c := range []struct {
		path string
		body any
		want int
	}{
		{"/api/v1/calls", map[string]any{"a": "not a uri", "b": bob.URI()}, 400},
		{"/api/v1/calls", "garbage", 400},
		{"/api/v1/calls/nope/hold", nil, 404},
		{"/api/v1/calls/nope/transfer", map[string]string{"to": carol.URI()}, 404},
		{"/api/v1/calls/nope/park", nil, 404},
	} {
		if code, b := e.do(t, "POST", c.path, c.body); code != c.want {
			t.Errorf("POST %s: %d %s, want %d", c.path, code, b, c.want)
		}
	}
}
