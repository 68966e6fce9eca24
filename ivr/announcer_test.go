package ivr_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/conference"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/ivr"
	"github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestAnnouncer: a phone in a conference hears the entry tone when
// another joins and a prompt played through the API; the announcer is
// absent from the public (RFC 4575) roster.
func TestAnnouncer(t *testing.T) {
	srv := switchboardtest.NewServer(t)
	confs, err := conference.New(srv.Platform, conference.Config{})
	if err != nil {
		t.Fatal(err)
	}
	room, err := confs.Create("room", conference.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ep, err := endpoint.NewApplication(srv.Platform, endpoint.Settings{OwnerURI: "sip:announcer@127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	a := ivr.NewAnnouncer(ep, room, ivr.AnnouncerOptions{EntryTone: ivr.Tone(1300, 500*time.Millisecond)})
	defer a.Close()
	ann := switchboardtest.NewPhone(t, "ann").Dial(t, room.URI())
	defer ann.Hangup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Play(ctx, ivr.Tone(900, 500*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	ann.WaitTone(t, 900, 3*time.Second)
	bob := switchboardtest.NewPhone(t, "bob").Dial(t, room.URI())
	defer bob.Hangup(t)
	ann.WaitTone(t, 1300, 3*time.Second)
	for _, p := range room.PublicRoster() {
		if p.Trusted {
			t.Fatalf("announcer %s in the public roster", p.URI)
		}
	}
	if n := len(room.PublicRoster()); n != 2 {
		t.Fatalf("public roster has %d participants, want 2", n)
	}
}
