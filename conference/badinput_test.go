package conference_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/conference"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/peers"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

func TestJoinRefusals(t *testing.T) {
	srv, svc := newService(t, conference.Config{MaxParticipants: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var re *endpoint.ResponseError
	_, err := sbt.NewPhone(t, "lost").DialContext(ctx, fmt.Sprintf("sip:conf-nowhere@127.0.0.1:%d", srv.Port()), endpoint.EstablishOptions{})
	if !errors.As(err, &re) || re.Code != 404 {
		t.Errorf("unknown conference: %v, want 404", err)
	}
	conf, _ := svc.Create("small", conference.Options{})
	sbt.NewPhone(t, "a").Dial(t, conf.URI())
	sbt.NewPhone(t, "b").Dial(t, conf.URI())
	_, err = sbt.NewPhone(t, "c").DialContext(ctx, conf.URI(), endpoint.EstablishOptions{})
	if !errors.As(err, &re) || re.Code != 486 || re.Reason != "Conference Full" {
		t.Errorf("third of two: %v, want 486 Conference Full", err)
	}
	// Trusted participants are not counted against the limit.
	if _, err := conf.Join(ctx, srv.Handle(t, "bot", nil).NewConversation(), conference.JoinOptions{Trusted: true, GeneratedIdentity: true}); err != nil {
		t.Errorf("trusted join into a full conference: %v", err)
	}
	for name, f := range map[string]func() error{
		"mute":    func() error { return conf.Mute("p99", true) },
		"eject":   func() error { return conf.Eject(ctx, "p99") },
		"exclude": func() error { return conf.Exclude("p99", time.Second) },
		"whisper": func() error { return conf.Whisper("p99", "p1") },
		"role":    func() error { return conf.SetRole("p99", conference.Leader) },
		"muteall": func() error { return conf.MuteAll("p99") },
	} {
		if err := f(); !errors.Is(err, conference.ErrNoParticipant) {
			t.Errorf("%s on an absent participant: %v, want ErrNoParticipant", name, err)
		}
	}
	if err := conf.MuteAll(conf.PublicRoster()[0].ID); !errors.Is(err, conference.ErrNotLeader) {
		t.Errorf("mute-all by an attendee: %v, want ErrNotLeader", err)
	}
}

func TestSubscribeUnknownEventGets489(t *testing.T) {
	srv, svc := newService(t, conference.Config{})
	conf, _ := svc.Create("ev", conference.Options{})
	c, err := net.Dial("udp", srv.Addr("udp").String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	local := c.LocalAddr().String()
	msg := strings.Join([]string{
		"SUBSCRIBE " + conf.URI() + " SIP/2.0",
		"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bKev1",
		"From: <sip:w@127.0.0.1>;tag=1", "To: <" + conf.URI() + ">", "Call-ID: ev-1", "CSeq: 1 SUBSCRIBE",
		"Contact: <sip:w@" + local + ">", "Event: presence", "Max-Forwards: 70", "Content-Length: 0",
	}, "\r\n") + "\r\n\r\n"
	c.Write([]byte(msg))
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "SIP/2.0 489") {
		t.Fatalf("got %q, %v; want 489 Bad Event", string(buf[:min(n, 40)]), err)
	}
}

// TestVanishedParticipantIsRemoved: a participant whose phone disappears
// without BYE is removed when its RTP stops.
func TestVanishedParticipantIsRemoved(t *testing.T) {
	_, svc := newService(t, conference.Config{RTPTimeout: time.Second})
	conf, _ := svc.Create("ghost", conference.Options{})
	stay := sbt.NewPhone(t, "stay").Dial(t, conf.URI())
	stay.StartTone(500)
	gone := sbt.NewPhone(t, "gone")
	gc := gone.Dial(t, conf.URI())
	gc.StartTone(700)
	waitRoster(t, conf, 2)
	gone.Server.Close() // no BYE: the phone just vanishes
	waitRoster(t, conf, 1)
	if r := conf.Roster(); r[0].URI != "sip:stay@127.0.0.1" {
		t.Fatalf("roster %+v", r)
	}
	stay.Hangup(t)
}

// TestRosterNotifyFullThenPartial: a subscriber gets the full roster, then
// a partial NOTIFY when a phone joins; a trusted join sends nothing.
func TestRosterNotifyFullThenPartial(t *testing.T) {
	srv, svc := newService(t, conference.Config{})
	conf, _ := svc.Create("watch", conference.Options{})
	a := sbt.NewPhone(t, "alice").Dial(t, conf.URI())
	waitRoster(t, conf, 1)
	user := "conf-watch"
	sc := `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="full then partial">
  <send retrans="500"><![CDATA[
SUBSCRIBE sip:` + user + `@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:watcher@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:` + user + `@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 SUBSCRIBE
Contact: sip:watcher@[local_ip]:[local_port]
Max-Forwards: 70
Event: conference
Expires: 60
Content-Length: 0

]]></send>
  <recv response="200"/>
  <recv request="NOTIFY">
    <action>
      <ereg regexp="state=.full." search_in="body" check_it="true" assign_to="1"/>
      <ereg regexp="sip:alice@127.0.0.1" search_in="body" check_it="true" assign_to="2"/>
    </action>
  </recv>
` + peers.ReplyOK + `  <recv request="NOTIFY">
    <action>
      <ereg regexp="state=.partial.*version=.2." search_in="body" check_it="true" assign_to="3"/>
      <ereg regexp="sip:bob@127.0.0.1" search_in="body" check_it="true" assign_to="4"/>
      <ereg regexp="gen-|sip:alice" search_in="body" check_it_inverse="true" assign_to="5"/>
    </action>
  </recv>
` + peers.ReplyOK + `  <Reference variables="1,2,3,4,5"/>
</scenario>`
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p := peers.StartSIPp(t, ctx, "-sf", peers.WriteScenario(t, sc), "-m", "1",
		"-p", fmt.Sprint(peers.FreeSIPPort(t)), fmt.Sprintf("127.0.0.1:%d", srv.Port()))
	time.Sleep(500 * time.Millisecond)
	if _, err := conf.Join(ctx, srv.Handle(t, "bot", nil).NewConversation(), conference.JoinOptions{Trusted: true, GeneratedIdentity: true}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	b := sbt.NewPhone(t, "bob").Dial(t, conf.URI())
	if res := p.Wait(); res.ExitCode != 0 {
		t.Fatalf("subscriber: sipp exit %d\n%s", res.ExitCode, res.ErrorLog)
	}
	a.Hangup(t)
	b.Hangup(t)
}
