package b2b_test

import (
	"context"
	"fmt"
	"log"
	"sync"
	"time"

	"github.com/switchboard-sip/switchboard/b2b"
	"github.com/switchboard-sip/switchboard/conference"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/media"
	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/media/dsp"
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

// A lobby bot puts every caller into a conference: it joins the
// conference itself, presenting the caller's identity, then pairs the
// caller with that joined call. The caller is in the roster under their
// own URI and hears the others; since the conference is on the bot's own
// platform, the media is joined in process (spliced) rather than relayed.
func ExampleCall_Establish_conference() {
	server := startPlatform()
	defer server.Close()
	svc, _ := conference.New(server, conference.Config{})
	defer svc.Close()
	conf, _ := svc.Create("support", conference.Options{})
	joined := make(chan struct{}, 16)
	conf.OnRosterChanged(func(conference.RosterChange) { joined <- struct{}{} })

	lobby, _ := endpoint.NewApplication(server, endpoint.Settings{OwnerURI: "sip:lobby@127.0.0.1"})
	defer lobby.Close()
	spliced := make(chan bool, 1)
	lobby.HandleCalls(endpoint.HandlerFunc(func(ctx context.Context, caller *endpoint.Call) {
		conv := lobby.NewConversation()
		_ = conv.Impersonate(endpoint.Identity{URI: caller.RemoteURI(), DisplayName: caller.RemoteDisplayName()})
		leg2, err := conf.Join(ctx, conv, conference.JoinOptions{})
		if err != nil {
			_ = caller.Decline(ctx, 480)
			return
		}
		b, err := b2b.New(b2b.Leg{Call: caller}, b2b.Leg{Call: leg2}, b2b.Options{})
		if err == nil {
			err = b.Establish(ctx) // answers the caller
		}
		if err != nil {
			return
		}
		spliced <- b.Spliced()
		<-b.Done() // either leg ending ends the other
	}))

	// Ben dials the conference directly and says "aaah" at 440 Hz.
	phones := startPlatform()
	defer phones.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ben, _ := endpoint.NewUser(phones, endpoint.Settings{OwnerURI: "sip:ben@127.0.0.1"})
	defer ben.Close()
	benCall := ben.NewConversation().NewCall()
	if err := benCall.Establish(ctx, conf.URI(), endpoint.EstablishOptions{}); err != nil {
		log.Fatal(err)
	}
	<-joined
	var talking sync.WaitGroup
	talking.Go(func() { _ = benCall.Flow().Play(ctx, dsp.Sine(8000, 440, time.Second, 0.3)) })

	// Ann calls the lobby and listens.
	ann, _ := endpoint.NewUser(phones, endpoint.Settings{OwnerURI: "sip:ann@127.0.0.1", DisplayName: "Ann"})
	defer ann.Close()
	annCall := ann.NewConversation().NewCall()
	if err := annCall.Establish(ctx, "sip:lobby@"+server.URIHost(), endpoint.EstablishOptions{}); err != nil {
		log.Fatal(err)
	}
	heard := make(chan []int16, 100)
	release, _ := annCall.Flow().Receive("ear", audio.SinkFunc(func(pcm []int16) {
		heard <- append([]int16(nil), pcm...)
	}), media.AudioOptions{})
	var pcm []int16
	for range 15 { // 300 ms
		pcm = append(pcm, <-heard...)
	}
	release()

	for _, p := range conf.Roster() {
		fmt.Printf("in the roster: %q <%s>\n", p.DisplayName, p.URI)
	}
	fmt.Println("spliced:", <-spliced)
	fmt.Println("ann hears ben's 440 Hz:", dsp.HasTone(pcm, 8000, 440))

	_ = annCall.Terminate(ctx) // the lobby's b2b call ends its conference leg too
	conf.End(ctx)
	talking.Wait()
	// Output:
	// in the roster: "" <sip:ben@127.0.0.1>
	// in the roster: "Ann" <sip:ann@127.0.0.1>
	// spliced: true
	// ann hears ben's 440 Hz: true
}

// A trusted bot sits between a caller and the person they asked for:
// the callee sees the original caller (ImpersonateCaller) and the headers
// the bot passes on, hears the caller's audio, and the bot relays packets
// as they are, undecoded, since both legs speak PCMU.
func ExampleNew() {
	server := startPlatform()
	defer server.Close()
	bot, _ := endpoint.NewApplication(server, endpoint.Settings{OwnerURI: "sip:bot@127.0.0.1"})
	defer bot.Close()

	phones := startPlatform()
	defer phones.Close()
	bob, _ := endpoint.NewUser(phones, endpoint.Settings{OwnerURI: "sip:bob@127.0.0.1"})
	defer bob.Close()
	bobHeard := make(chan string, 1)
	bob.HandleCalls(endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		fmt.Printf("bob's phone rings: %q <%s>, account %s\n", c.RemoteDisplayName(), c.RemoteURI(), c.Header("X-Account"))
		heard := make(chan []int16, 100)
		release, _ := c.Flow().Receive("ear", audio.SinkFunc(func(pcm []int16) {
			heard <- append([]int16(nil), pcm...)
		}), media.AudioOptions{})
		defer release()
		if err := c.Accept(ctx); err != nil {
			return
		}
		var pcm []int16
		for range 10 {
			pcm = append(pcm, <-heard...)
		}
		bobHeard <- fmt.Sprint("bob hears 1 kHz: ", dsp.HasTone(pcm, 8000, 1000))
		<-ctx.Done()
	}))

	relayed := make(chan media.RelayStats, 1)
	bot.HandleCalls(endpoint.HandlerFunc(func(ctx context.Context, caller *endpoint.Call) {
		b, err := b2b.New(b2b.Leg{Call: caller},
			b2b.Leg{Call: bot.NewConversation().NewCall(), Destination: "sip:bob@" + phones.URIHost()},
			b2b.Options{ImpersonateCaller: true, PassHeaders: []string{"X-Account"}})
		if err == nil {
			err = b.Establish(ctx)
		}
		if err != nil {
			return
		}
		<-b.Done()
		relayed <- *b.LastRelayStats()
	}))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	alice, _ := endpoint.NewUser(phones, endpoint.Settings{OwnerURI: "sip:alice@127.0.0.1", DisplayName: "Alice"})
	defer alice.Close()
	call := alice.NewConversation().NewCall()
	err := call.Establish(ctx, "sip:bot@"+server.URIHost(), endpoint.EstablishOptions{
		Headers: []endpoint.Header{{Name: "X-Account", Value: "42"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	_ = call.Flow().Play(ctx, dsp.Sine(8000, 1000, 300*time.Millisecond, 0.3))
	fmt.Println(<-bobHeard)
	_ = call.Terminate(ctx)

	st := <-relayed
	fmt.Println("forwarded as is:", st.AtoB.Forwarded > 0, "transcoded:", st.AtoB.Transcoded)
	// Output:
	// bob's phone rings: "Alice" <sip:alice@127.0.0.1>, account 42
	// bob hears 1 kHz: true
	// forwarded as is: true transcoded: 0
}
