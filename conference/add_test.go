package conference_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/conference"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/media/dsp"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestAddCallDirectly: an application answers callers and adds their
// calls to a persistent conference with Conference.Add — no second SIP
// leg, no loopback RTP (one socket pair per caller on our side). The
// roster shows the caller's URI once (a second Add of the same URI is
// refused, a generated identity is accepted), the added caller and a
// dialled-in member hear each other, the caller leaves when it hangs up,
// and the persistent conference outlives its last participant.
func TestAddCallDirectly(t *testing.T) {
	srv := sbt.NewServer(t)
	svc, err := conference.New(srv.Platform, conference.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	conf, _ := svc.Create("room", conference.Options{Persistent: true})
	type added struct {
		info conference.ParticipantInfo
		err  error
	}
	results := make(chan added, 4)
	opts := make(chan conference.AddOptions, 4)
	ep := srv.Handle(t, "lobby", nil)
	ep.HandleCalls(endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		info, err := conf.Add(ctx, c, <-opts)
		if err != nil {
			_ = c.Decline(ctx, 486)
		} else {
			c.HandOff()
		}
		results <- added{info, err}
	}))
	member := sbt.NewPhone(t, "member").Dial(t, conf.URI())

	before := sbt.OpenSockets(t)
	opts <- conference.AddOptions{}
	caller := sbt.NewPhone(t, "guest").Dial(t, srv.URI("lobby"))
	r := <-results
	if r.err != nil {
		t.Fatal(r.err)
	}
	// The guest phone's platform (SIP over UDP and TCP) and RTP/RTCP
	// pair, and its call's RTP/RTCP pair on our side: nothing for the
	// conference (a SIP join would add two more RTP pairs).
	if n := sbt.OpenSockets(t) - before; n != 6 {
		t.Errorf("adding one caller opened %d sockets, want 6", n)
	}
	if !strings.Contains(r.info.URI, "guest@") || r.info.Trusted {
		t.Errorf("added %+v, want the caller's URI, not trusted", r.info)
	}
	if p, ok := conf.ParticipantByCallID(caller.CallID()); !ok || p.ID != r.info.ID {
		t.Errorf("the added call is not found by its Call-ID: %+v", p)
	}

	// The same URI again is refused; a generated identity is not.
	opts <- conference.AddOptions{}
	again := sbt.NewPhone(t, "guest")
	if err := again.Endpoint.NewConversation().NewCall().Establish(context.Background(), srv.URI("lobby"), endpoint.EstablishOptions{}); err == nil {
		t.Error("a second Add of the same URI was answered")
	}
	if r := <-results; r.err == nil || !strings.Contains(r.err.Error(), "Already In Conference") {
		t.Errorf("second Add of the same URI: %v", r.err)
	}
	opts <- conference.AddOptions{GeneratedIdentity: true}
	twin := again.Dial(t, srv.URI("lobby"))
	if r := <-results; r.err != nil || !strings.Contains(r.info.URI, endpoint.GeneratedUserPrefix) || !r.info.Hidden {
		t.Errorf("Add with a generated identity: %+v, %v", r.info, r.err)
	}
	twin.Hangup(t)

	caller.StartTone(700)
	member.StartTone(1300)
	time.Sleep(2 * time.Second)
	caller.StopTone()
	member.StopTone()
	if f := dsp.ToneFraction(member.Recording(), 8000, 700); f < 0.3 {
		t.Errorf("member hears the added caller in %.0f%% of windows", 100*f)
	}
	if f := dsp.ToneFraction(caller.Recording(), 8000, 1300); f < 0.3 {
		t.Errorf("added caller hears the member in %.0f%% of windows", 100*f)
	}

	caller.Hangup(t)
	member.Hangup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for len(conf.Roster()) != 0 {
		select {
		case <-ctx.Done():
			t.Fatalf("roster still %+v after everybody hung up", conf.Roster())
		case <-time.After(20 * time.Millisecond):
		}
	}
	select {
	case <-conf.Done():
		t.Fatal("a persistent conference ended with its last participant")
	case <-time.After(300 * time.Millisecond):
	}
	if _, ok := svc.Conference("room"); !ok {
		t.Fatal("persistent conference forgotten")
	}
}

// TestJoinOptionsOneGeneratedIdentitySwitch: GeneratedIdentity is set on
// JoinOptions, not inside its Establish options.
func TestJoinOptionsOneGeneratedIdentitySwitch(t *testing.T) {
	srv := sbt.NewServer(t)
	bot := srv.Handle(t, "bot", nil)
	_, err := conference.Join(context.Background(), bot.NewConversation(), srv.URI("conf-x"),
		conference.JoinOptions{Establish: endpoint.EstablishOptions{GeneratedIdentity: true}})
	if !errors.Is(err, conference.ErrJoinOptions) {
		t.Fatalf("Join with Establish.GeneratedIdentity: %v", err)
	}
}
