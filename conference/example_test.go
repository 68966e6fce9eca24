package conference_test

import (
	"context"
	"fmt"
	"sort"
	"testing"

	"github.com/switchboard-sip/switchboard/conference"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestExampleJoinLegs shows the few lines an integration test needs to put
// several legs into one conference: phones that dial it, and a trusted
// application call with a generated identity.
func TestExampleJoinLegs(t *testing.T) {
	srv := sbt.NewServer(t)
	svc, _ := conference.New(srv.Platform, conference.Config{})
	defer svc.Close()
	conf, _ := svc.Create("standup", conference.Options{})

	for _, name := range []string{"ann", "ben", "cat"} {
		sbt.NewPhone(t, name).Dial(t, conf.URI()) // a phone leg
	}
	bot := srv.Handle(t, "bot", nil)
	if _, err := conf.Join(context.Background(), bot.NewConversation(),
		conference.JoinOptions{Trusted: true, GeneratedIdentity: true}); err != nil { // a hidden app leg
		t.Fatal(err)
	}

	var visible []string
	for _, p := range conf.PublicRoster() {
		visible = append(visible, p.URI)
	}
	sort.Strings(visible)
	fmt.Println(len(conf.Roster()), visible)
	if len(conf.Roster()) != 4 || len(visible) != 3 {
		t.Fatalf("roster %v", conf.Roster())
	}
}
