package park_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/apps/park"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/platform"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// syncBuffer is a log sink safe for the service's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRetrievalNeedsAVouchedSource: on a server that trusts nothing, a
// phone whose From claims an internal host (127.0.0.1) cannot retrieve by
// orbit (403), and the log names its source and identity. Before the fix
// the From host alone let it take the call.
func TestRetrievalNeedsAVouchedSource(t *testing.T) {
	var logs syncBuffer
	srv := sbt.NewServer(t) // trusted_peers: none
	svc, err := park.New(srv.Platform, park.Config{}, park.WithMusic(newMusic(t), ""),
		park.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	caller, e := parkAtDesk(t, srv, svc)
	defer caller.Hangup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	thief := sbt.NewPhone(t, "thief")
	_, err = thief.DialContext(ctx, svc.OrbitURI(e.Orbit), endpoint.EstablishOptions{})
	var re *endpoint.ResponseError
	if !errors.As(err, &re) || re.Code != 403 {
		t.Fatalf("retrieval from an untrusted source claiming From 127.0.0.1: %v, want 403", err)
	}
	if len(svc.List()) != 1 {
		t.Fatalf("the parked call is gone: %+v", svc.List())
	}
	line := ""
	for l := range strings.SplitSeq(logs.String(), "\n") {
		if strings.Contains(l, "retrieval refused") {
			line = l
		}
	}
	if !strings.Contains(line, "source=127.0.0.1:") || !strings.Contains(line, "thief@") {
		t.Fatalf("the refusal's log line does not name source and identity: %q", line)
	}
}

// TestRetrievalFromATrustedSourceIsLogged: the same retrieval from a
// source the platform trusts (loopback, as in the embedded default) is
// served, and the log line says who took the call and from where.
func TestRetrievalFromATrustedSourceIsLogged(t *testing.T) {
	var logs syncBuffer
	srv := sbt.NewServer(t, trustLoopback)
	svc, err := park.New(srv.Platform, park.Config{}, park.WithMusic(newMusic(t), ""),
		park.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	caller, e := parkAtDesk(t, srv, svc)
	defer caller.Hangup(t)
	taker := sbt.NewPhone(t, "attendant").Dial(t, svc.OrbitURI(e.Orbit))
	defer taker.Hangup(t)
	caller.StartTone(700)
	taker.WaitTone(t, 700, 5*time.Second)
	line := ""
	for l := range strings.SplitSeq(logs.String(), "\n") {
		if strings.Contains(l, "park: retrieved") {
			line = l
		}
	}
	if !strings.Contains(line, "source=127.0.0.1:") || !strings.Contains(line, "attendant@") || !strings.Contains(line, "trusted_source=true") {
		t.Fatalf("the retrieval's log line does not name source, identity and trust: %q", line)
	}
}

// TestReferredByCannotAimRingBack: a call parked with a Referred-By that
// the server must not believe — from an untrusted source, or naming a host
// outside the internal domains even from a trusted one — is never rung
// back, and nothing is sent to the URI it names (no INVITE, no MESSAGE),
// when the pickup timeout expires.
func TestReferredByCannotAimRingBack(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cfg      platform.Config
		victimIP string
	}{
		{"untrusted source, internal host", platform.Config{}, "127.0.0.1"},
		{"trusted source, outside host", trustLoopback, "127.0.0.9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			victim, err := net.ListenPacket("udp", tc.victimIP+":0")
			if err != nil {
				t.Fatal(err)
			}
			defer victim.Close()
			srv := sbt.NewServer(t, tc.cfg)
			clock := &fakeClock{now: time.Unix(1e9, 0)}
			var log eventLog
			svc, err := park.New(srv.Platform, park.Config{PickupTimeout: 30 * time.Second}, park.WithMusic(newMusic(t), ""), park.WithClock(clock))
			if err != nil {
				t.Fatal(err)
			}
			svc.OnEvent(log.add)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			pc, err := sbt.NewPhone(t, "parkee").DialContext(ctx, svc.URI(), endpoint.EstablishOptions{
				Headers: []endpoint.Header{{Name: "Referred-By", Value: "<sip:victim@" + victim.LocalAddr().String() + ">"}}})
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Hangup(t)
			l := svc.List()
			if len(l) != 1 || l[0].Parker != "" {
				t.Fatalf("parked %+v, want one call with no believed parker", l)
			}
			log.waitFor(t, park.Parked) // the pickup timer runs
			clock.Advance(30 * time.Second)
			log.waitFor(t, park.Disconnected)
			log.mu.Lock()
			defer log.mu.Unlock()
			for _, ev := range log.ev {
				if ev == park.RingBack {
					t.Fatal("rang back a parker named by an unbelievable Referred-By")
				}
			}
			_ = victim.SetReadDeadline(time.Now().Add(time.Second))
			buf := make([]byte, 4096)
			if n, _, err := victim.ReadFrom(buf); err == nil {
				t.Fatalf("the URI named in Referred-By received %q", strings.SplitN(string(buf[:n]), "\r\n", 2)[0])
			}
		})
	}
}

// parkAtDesk has a phone call sip:desk@, an app that parks it with svc
// (parker sip:parker@127.0.0.1), and returns the call and its orbit.
func parkAtDesk(t *testing.T, srv *sbt.Server, svc *park.Service) (*sbt.PhoneCall, park.Entry) {
	t.Helper()
	parked := make(chan park.Entry, 1)
	srv.Handle(t, "desk", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		if c.Accept(ctx) != nil {
			return
		}
		if e, err := svc.Park(ctx, c, park.ParkOptions{Parker: "sip:parker@127.0.0.1"}); err == nil {
			parked <- e
		}
	}))
	caller := sbt.NewPhone(t, "caller").Dial(t, srv.URI("desk"))
	return caller, <-parked
}
