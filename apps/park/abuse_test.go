package park_test

import (
	"context"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/apps/park"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/platform"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// directedParkSIPp runs the SIPp scenario (sippRetriever's, which dials
// [service]) against sip:<service>@ of srv once and returns its result.
func directedParkSIPp(t *testing.T, srv *sbt.Server, service, scenario string) peers.SIPpResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return peers.RunSIPp(t, ctx, "-sf", peers.WriteScenario(t, scenario), "-s", service, "-m", "1", "-trace_msg",
		"-rtp_echo", "-mp", fmt.Sprint(peers.FreeUDPPort(t)), "-p", fmt.Sprint(peers.FreeSIPPort(t)),
		fmt.Sprintf("127.0.0.1:%d", srv.Port()))
}

// finalAnswer matches the status line of a final response in a SIPp
// message log: what a refused sender learns (the code and the reason).
var finalAnswer = regexp.MustCompile(`(?m)^SIP/2\.0 [2-6]\d\d [^\r\n]*`)

func answerOf(t *testing.T, r peers.SIPpResult) string {
	t.Helper()
	all := finalAnswer.FindAllString(peers.ReadMessages(t, r.Dir), -1)
	if len(all) == 0 {
		t.Fatalf("no final response in SIPp's log")
	}
	return all[len(all)-1]
}

// TestUnknownSenderCannotDirectPark: on a server that trusts no peer,
// with uniform refusals, a SIPp caller that is nobody (From claims an
// internal host) dials the directed-park addresses of an occupied orbit
// and of a free one: both get the same answer, the uniform 404 (with
// users, the same 401 challenge), and neither parks the caller; the
// parked call stays where it was.
func TestUnknownSenderCannotDirectPark(t *testing.T) {
	for _, users := range []bool{false, true} {
		name, want := "no users", 404
		cfg := platform.Config{UniformRefusals: true}
		if users {
			name, want = "users", 401
			cfg.Users = []platform.User{{Name: "alice", HA1: ha1("alice", "127.0.0.1", "s3cret")}}
		}
		t.Run(name, func(t *testing.T) {
			srv := sbt.NewServer(t, cfg)
			svc, err := park.New(srv.Platform, park.Config{}, park.WithMusic(newMusic(t), ""))
			if err != nil {
				t.Fatal(err)
			}
			caller, e := parkAtDesk(t, srv, svc)
			defer caller.Hangup(t)
			free := "7001"
			if e.Orbit == free {
				t.Fatalf("parked on %s, the orbit the test takes for free", free)
			}
			answers := map[string]string{}
			for _, orbit := range []string{e.Orbit, free} {
				r := directedParkSIPp(t, srv, "park-"+orbit, sippRetriever("sip:mallory@127.0.0.1", "", "", want))
				if r.ExitCode != 0 {
					t.Fatalf("directed park to %s: sipp exit %d, want %d\n%s\n%s", orbit, r.ExitCode, want, r.ErrorLog, peers.ReadMessages(t, r.Dir))
				}
				answers[orbit] = answerOf(t, r)
			}
			if answers[e.Orbit] != answers[free] {
				t.Errorf("occupied orbit answered %q, free orbit %q: the answer tells them apart", answers[e.Orbit], answers[free])
			}
			if l := svc.List(); len(l) != 1 || l[0].Orbit != e.Orbit {
				t.Errorf("orbits after the attempts: %+v, want only %s", l, e.Orbit)
			}
		})
	}
}

// TestKnownSenderDirectParks: a trusted peer's SIPp caller, and one that
// authenticates by digest as alice on a server that trusts nobody, park
// on the orbit they chose (200, and the orbit holds their call).
func TestKnownSenderDirectParks(t *testing.T) {
	cases := []struct {
		name     string
		cfg      platform.Config
		password string
	}{
		{"trusted peer", trustLoopback, ""},
		{"digest user", platform.Config{UniformRefusals: true,
			Users: []platform.User{{Name: "alice", HA1: ha1("alice", "127.0.0.1", "s3cret")}}}, "s3cret"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := sbt.NewServer(t, tc.cfg)
			svc, err := park.New(srv.Platform, park.Config{}, park.WithMusic(newMusic(t), ""))
			if err != nil {
				t.Fatal(err)
			}
			parked := parkedEvents(t, svc)
			r := directedParkSIPp(t, srv, "park-7003", sippRetriever("sip:alice@127.0.0.1", "", tc.password, 200))
			if r.ExitCode != 0 {
				t.Fatalf("sipp exit %d\n%s\n%s", r.ExitCode, r.ErrorLog, peers.ReadMessages(t, r.Dir))
			}
			select {
			case e := <-parked:
				if e.Orbit != "7003" {
					t.Errorf("parked on %s, want 7003", e.Orbit)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the call was not parked")
			}
		})
	}
}

// TestParksPerSourceCapped: with max_per_source 2, two phones on
// 127.0.0.1 (untrusted) park themselves; a third call from that address,
// SIPp's, gets 486 and parks nothing; once one parked phone hangs up, the
// source may park again. A trusted source is not capped.
func TestParksPerSourceCapped(t *testing.T) {
	srv := sbt.NewServer(t, platform.Config{})
	svc, err := park.New(srv.Platform, park.Config{MaxPerSource: 2}, park.WithMusic(newMusic(t), ""))
	if err != nil {
		t.Fatal(err)
	}
	var ev eventLog
	svc.OnEvent(ev.add)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var calls []*sbt.PhoneCall
	for i := range 2 {
		pc, err := sbt.NewPhone(t, fmt.Sprintf("p%d", i)).DialContext(ctx, svc.URI(), endpoint.EstablishOptions{})
		if err != nil {
			t.Fatalf("park %d: %v", i, err)
		}
		calls = append(calls, pc)
	}
	if l := svc.List(); len(l) != 2 {
		t.Fatalf("parked %+v, want 2", l)
	}
	r := directedParkSIPp(t, srv, "park", sippRetriever("sip:p3@127.0.0.1", "", "", 486))
	if r.ExitCode != 0 {
		t.Fatalf("third park: sipp exit %d, want 486\n%s\n%s", r.ExitCode, r.ErrorLog, peers.ReadMessages(t, r.Dir))
	}
	if l := svc.List(); len(l) != 2 {
		t.Fatalf("parked after the refusal %+v, want 2", l)
	}
	calls[0].Hangup(t)
	ev.waitFor(t, park.Abandoned)
	pc, err := sbt.NewPhone(t, "again").DialContext(ctx, svc.URI(), endpoint.EstablishOptions{})
	if err != nil {
		t.Fatalf("park after a hang-up: %v", err)
	}
	pc.Hangup(t)
	calls[1].Hangup(t)

	// From a trusted peer, no cap.
	tsrv := sbt.NewServer(t, trustLoopback)
	tsvc, err := park.New(tsrv.Platform, park.Config{MaxPerSource: 1}, park.WithMusic(newMusic(t), ""))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		pc, err := sbt.NewPhone(t, fmt.Sprintf("t%d", i)).DialContext(ctx, tsvc.URI(), endpoint.EstablishOptions{})
		if err != nil {
			t.Fatalf("trusted park %d: %v", i, err)
		}
		defer pc.Hangup(t)
	}
}
