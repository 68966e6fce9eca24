package conference_test

import (
	"context"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/switchboard-sip/switchboard/conference"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/platform"
)

// startPlatform starts a platform on a free loopback UDP port.
func startPlatform() *platform.Platform {
	p, err := platform.New(platform.Config{UDP: []string{"127.0.0.1:0"}})
	if err != nil {
		log.Fatal(err)
	}
	if err := p.Start(); err != nil {
		log.Fatal(err)
	}
	return p
}

// printRoster prints a roster, with generated identities (random URIs)
// shortened to sip:gen-….
func printRoster(roster []conference.ParticipantInfo) {
	for _, p := range roster {
		uri := p.URI
		if i := strings.Index(uri, endpoint.GeneratedUserPrefix); i >= 0 {
			uri = uri[:i] + endpoint.GeneratedUserPrefix + "…"
		}
		fmt.Printf("  %-20s %-11v trusted=%-5v hidden=%v\n", uri, p.Role, p.Trusted, p.Hidden)
	}
}

// A stand-up with two phones dialling in, and one application in it twice:
// with a generated identity each of its calls gets a fresh hidden URI, so
// the URI-once rule of the roster does not refuse the second join.
// Subscribers (RFC 4575) see only the phones.
func ExampleConference_Join() {
	server := startPlatform()
	defer server.Close()
	svc, err := conference.New(server, conference.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close()
	conf, _ := svc.Create("standup", conference.Options{})
	joined := make(chan conference.RosterChange, 8)
	conf.OnRosterChanged(func(ch conference.RosterChange) { joined <- ch })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	// Two phones on another platform dial the conference's URI.
	phones := startPlatform()
	defer phones.Close()
	for _, name := range []string{"ann", "ben"} {
		phone, _ := endpoint.NewUser(phones, endpoint.Settings{OwnerURI: "sip:" + name + "@127.0.0.1"})
		defer phone.Close()
		if err := phone.NewConversation().NewCall().Establish(ctx, conf.URI(), endpoint.EstablishOptions{}); err != nil {
			log.Fatal(err)
		}
		<-joined // the roster changes just after the conference answers
	}

	// A bot on the conference's own platform joins twice, as a trusted
	// participant: say, one call to play music and one to record.
	bot, _ := endpoint.NewApplication(server, endpoint.Settings{OwnerURI: "sip:bot@127.0.0.1"})
	defer bot.Close()
	for range 2 {
		if _, err := conf.Join(ctx, bot.NewConversation(), conference.JoinOptions{Trusted: true, GeneratedIdentity: true}); err != nil {
			log.Fatal(err)
		}
	}

	fmt.Println("roster:")
	printRoster(conf.Roster())
	fmt.Println("what subscribers see:")
	printRoster(conf.PublicRoster())

	conf.End(ctx) // hangs up every participant
	// Output:
	// roster:
	//   sip:ann@127.0.0.1    participant trusted=false hidden=false
	//   sip:ben@127.0.0.1    participant trusted=false hidden=false
	//   sip:gen-…            leader      trusted=true  hidden=true
	//   sip:gen-…            leader      trusted=true  hidden=true
	// what subscribers see:
	//   sip:ann@127.0.0.1    participant trusted=false hidden=false
	//   sip:ben@127.0.0.1    participant trusted=false hidden=false
}

// An application answers a call and puts it into a conference itself
// (UCMA's "join a call to a conference"): no second SIP leg, the call's
// own audio goes to the mixer. A persistent conference (a standing meeting
// room) outlives its last participant.
func ExampleConference_Add() {
	server := startPlatform()
	defer server.Close()
	svc, _ := conference.New(server, conference.Config{})
	defer svc.Close()
	room, _ := svc.Create("room-7", conference.Options{Persistent: true})
	changes := make(chan conference.RosterChange, 4)
	room.OnRosterChanged(func(ch conference.RosterChange) { changes <- ch })

	lobby, _ := endpoint.NewApplication(server, endpoint.Settings{OwnerURI: "sip:lobby@127.0.0.1"})
	defer lobby.Close()
	lobby.HandleCalls(endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		if _, err := room.Add(ctx, c, conference.AddOptions{}); err != nil { // answers c
			_ = c.Decline(ctx, 480)
			return
		}
		<-ctx.Done() // the participant leaves when the call ends
	}))

	phones := startPlatform()
	defer phones.Close()
	carol, _ := endpoint.NewUser(phones, endpoint.Settings{OwnerURI: "sip:carol@127.0.0.1", DisplayName: "Carol"})
	defer carol.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	call := carol.NewConversation().NewCall()
	if err := call.Establish(ctx, "sip:lobby@"+server.URIHost(), endpoint.EstablishOptions{}); err != nil {
		log.Fatal(err)
	}
	for _, p := range (<-changes).Joined {
		fmt.Printf("joined: %s <%s>\n", p.DisplayName, p.URI)
	}
	_ = call.Terminate(ctx)
	for _, p := range (<-changes).Left {
		fmt.Printf("left: %s\n", p.DisplayName)
	}
	_, open := svc.Conference("room-7")
	fmt.Println("participants:", len(room.Roster()), "room open:", open)
	// Output:
	// joined: Carol <sip:carol@127.0.0.1>
	// left: Carol
	// participants: 0 room open: true
}
