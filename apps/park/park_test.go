package park_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/apps/park"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/media/dsp"
	"github.com/switchboard-sip/switchboard/platform"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

const musicHz = 523.25

// toneMusic is a music source: one shared looping 523 Hz player.
type toneMusic struct{ p *audio.Player }

func (m toneMusic) Player(string) (*audio.Player, bool) { return m.p, true }

func newMusic(t *testing.T) toneMusic { return newMusicAt(t, musicHz) }

func newMusicAt(t *testing.T, hz float64) toneMusic {
	src, err := audio.NewToneSource(hz, 0, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	p, err := audio.NewPlayer(src, audio.PlayerConfig{Mode: audio.PlayerAutomatic, Loop: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return toneMusic{p}
}

type rig struct {
	srv  *sbt.Server
	svc  *park.Service
	desk chan park.Entry
	errs chan error
}

// newRig starts a server with the park service and a "desk" app that
// parks every call it answers through the API.
// trustLoopback makes the test phones (on 127.0.0.1) trusted peers, as a
// proxy or PBX in front of the server is in a deployment: park believes
// their From and Referred-By only then.
var trustLoopback = platform.Config{TrustedPeers: []string{"127.0.0.1/32"}}

func newRig(t *testing.T, cfg park.Config, opts ...park.Option) *rig {
	r := &rig{srv: sbt.NewServer(t, trustLoopback), desk: make(chan park.Entry, 64), errs: make(chan error, 64)}
	svc, err := park.New(r.srv.Platform, cfg, append([]park.Option{park.WithMusic(newMusic(t), "")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	r.svc = svc
	r.srv.Handle(t, "desk", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		if err := c.Accept(ctx); err != nil {
			r.errs <- err
			return
		}
		e, err := svc.Park(ctx, c, park.ParkOptions{Parker: "sip:parker@127.0.0.1"})
		if err != nil {
			r.errs <- err
			return
		}
		r.desk <- e
	}))
	return r
}

func (r *rig) parkPhone(t *testing.T, ph *sbt.Phone) (*sbt.PhoneCall, park.Entry) {
	t.Helper()
	pc := ph.Dial(t, r.srv.URI("desk"))
	select {
	case e := <-r.desk:
		return pc, e
	case err := <-r.errs:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("not parked")
	}
	return nil, park.Entry{}
}

func hears(t *testing.T, pc *sbt.PhoneCall, hz float64, min float64) {
	t.Helper()
	pc.WaitTone(t, hz, 5*time.Second)
	if f := dsp.ToneFraction(pc.Listen(t, time.Second), 8000, hz); f < min {
		t.Fatalf("%s hears %v Hz in %.0f%%, want >= %.0f%%", pc.LocalURI(), hz, f*100, min*100)
	}
}

func TestSafeFriendlyAndFederatedRetrieve(t *testing.T) {
	r := newRig(t, park.Config{})
	mary := sbt.NewPhone(t, "mary")
	mc, e1 := r.parkPhone(t, mary)
	if e1.Orbit != "7000" {
		t.Fatalf("first park on %s, want 7000", e1.Orbit)
	}
	hears(t, mc, musicHz, 0.8) // music while parked
	safe := r.svc.SafeRetrieveURI(e1)
	mc.Hangup(t) // Mary gives up: orbit 7000 is free again
	for deadline := time.Now().Add(5 * time.Second); len(r.svc.List()) != 0; {
		if time.Now().After(deadline) {
			t.Fatal("orbit not freed when the parked party hung up")
		}
		time.Sleep(20 * time.Millisecond)
	}
	steven := sbt.NewPhone(t, "steven")
	sc, e2 := r.parkPhone(t, steven) // Michael parks Steven on the same orbit
	if e2.Orbit != e1.Orbit || e2.Token == e1.Token {
		t.Fatalf("second park %+v, want orbit %s with a new token", e2, e1.Orbit)
	}
	bob := sbt.NewPhone(t, "bob")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var re *endpoint.ResponseError
	if _, err := bob.DialContext(ctx, safe, endpoint.EstablishOptions{}); !errors.As(err, &re) || re.Code != 404 {
		t.Fatalf("safe retrieve of a reused orbit: %v, want 404", err)
	}
	// A federated user may not retrieve.
	fed, err := endpoint.NewApplication(bob.Server.Platform, endpoint.Settings{OwnerURI: "sip:eve@partner.example"})
	if err != nil {
		t.Fatal(err)
	}
	err = fed.NewConversation().NewCall().Establish(ctx, r.svc.OrbitURI(e2.Orbit), endpoint.EstablishOptions{})
	if !errors.As(err, &re) || re.Code != 403 {
		t.Fatalf("federated retrieve: %v, want 403", err)
	}
	// The friendly orbit retrieves Steven.
	bc := bob.Dial(t, r.svc.OrbitURI(e2.Orbit))
	sc.StartTone(700)
	bc.StartTone(1100)
	hears(t, bc, 700, 0.7)
	hears(t, sc, 1100, 0.7)
	if n := len(r.svc.List()); n != 0 {
		t.Fatalf("%d parked after retrieval", n)
	}
	if _, err := bob.DialContext(ctx, r.svc.OrbitURI(e2.Orbit), endpoint.EstablishOptions{}); !errors.As(err, &re) || re.Code != 404 {
		t.Fatalf("empty orbit: %v, want 404", err)
	}
	bc.Hangup(t)
}

func TestConcurrentParksAndRetrievals(t *testing.T) {
	r := newRig(t, park.Config{})
	ph := sbt.NewPhone(t, "crowd")
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if _, err := ph.DialContext(ctx, r.srv.URI("desk"), endpoint.EstablishOptions{}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for i := 0; i < 50; i++ {
		select {
		case e := <-r.desk:
			if seen[e.Orbit] {
				t.Fatalf("orbit %s given twice", e.Orbit)
			}
			seen[e.Orbit] = true
		case err := <-r.errs:
			t.Fatal(err)
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d parks", i)
		}
	}
	// 50 concurrent retrievals of one orbit: exactly one wins.
	retr := sbt.NewPhone(t, "grabby")
	var mu sync.Mutex
	won, lost := 0, 0
	for i := 0; i < 50; i++ {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err := retr.DialContext(ctx, r.svc.OrbitURI("7007"), endpoint.EstablishOptions{})
			var re *endpoint.ResponseError
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.As(err, &re) && re.Code == 404:
				lost++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if won != 1 || lost != 49 {
		t.Fatalf("%d won, %d refused; want exactly one winner", won, lost)
	}
	if n := len(r.svc.List()); n != 49 {
		t.Fatalf("%d still parked, want 49", n)
	}
}

// TestFullPoolKeepsTheCall: with two orbits both taken, an attended
// transfer to park fails (486 in the NOTIFY) and the caller stays with the
// parker.
func TestFullPoolKeepsTheCall(t *testing.T) {
	r := newRig(t, park.Config{Orbits: []park.OrbitRange{{Start: "81", End: "82"}}})
	r.parkPhone(t, sbt.NewPhone(t, "one"))
	r.parkPhone(t, sbt.NewPhone(t, "two"))
	parker := sbt.NewPhone(t, "parker")
	caller := sbt.NewPhone(t, "caller")
	pc := caller.Dial(t, parker.URI())
	kc := parker.NextCall(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err := kc.Transfer(ctx, r.svc.URI(), endpoint.TransferOptions{Type: endpoint.Attended})
	var te *endpoint.TransferError
	if !errors.As(err, &te) || te.Code != 486 {
		t.Fatalf("park into a full pool: %v, want TransferError 486", err)
	}
	pc.StartTone(600)
	kc.StartTone(1200)
	hears(t, kc, 600, 0.7)
	hears(t, pc, 1200, 0.7)
	pc.Hangup(t)
}

// TestAttendedPark: the parker calls the park address (hears the orbit,
// gets it in X-Park-Orbit), then transfers the other party with Replaces;
// the other party takes the reserved orbit and hears the music.
func TestAttendedPark(t *testing.T) {
	r := newRig(t, park.Config{Orbits: []park.OrbitRange{{Start: "500", End: "509"}}})
	parker := sbt.NewPhone(t, "parker")
	other := sbt.NewPhone(t, "other")
	withOther := parker.Dial(t, other.URI())
	other.NextCall(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	consult, err := parker.DialContext(ctx, r.svc.URI(), endpoint.EstablishOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l := r.svc.List(); len(l) != 1 || l[0].Orbit != "500" {
		t.Fatalf("orbit not reserved for the attended park: %+v", l)
	}
	time.Sleep(300 * time.Millisecond) // the announcement starts
	if err := withOther.TransferReplacing(ctx, consult.Call, endpoint.TransferOptions{}); err != nil {
		t.Fatalf("REFER with Replaces: %v", err)
	}
	parked := other.NextCall(t) // the other party's new call, into the park
	consult.WaitTerminated(t, 5*time.Second)
	l := r.svc.List()
	if len(l) != 1 || l[0].Orbit != "500" || !strings.Contains(l[0].Parked, "other@") || !strings.Contains(l[0].Parker, "parker@") {
		t.Fatalf("after the transfer: %+v", l)
	}
	hears(t, parked, musicHz, 0.8)
	parked.Hangup(t)
}
