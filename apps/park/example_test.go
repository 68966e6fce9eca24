package park_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/admin"
	"github.com/switchboard-sip/switchboard/apps/park"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/platform"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// parkDesk starts a platform on loopback with a park service and a "desk"
// application that answers every call and parks it through the API; the
// entries of the parked calls arrive on the returned channel.
func parkDesk(t testing.TB) (*sbt.Server, *park.Service, <-chan park.Entry) {
	// Retrieval by orbit is for internal callers: the test phones run on
	// 127.0.0.1, which is trusted here.
	srv := sbt.NewServer(t, platform.Config{TrustedPeers: []string{"127.0.0.1/32"}})
	svc, err := park.New(srv.Platform, park.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	parked := make(chan park.Entry, 1)
	srv.Handle(t, "desk", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		if c.Accept(ctx) != nil {
			return
		}
		e, err := svc.Park(ctx, c, park.ParkOptions{})
		if err != nil {
			t.Errorf("park: %v", err)
			return
		}
		parked <- e
	}))
	return srv, svc, parked
}

// ExampleService_Park parks a call from the API and retrieves it by
// dialling its orbit: Alice calls the desk, which parks her on the first
// free orbit; Bob dials the orbit and they talk (Alice hears Bob's tone).
func ExampleService_Park() {
	t := &exampleTB{}
	defer t.cleanup()
	srv, svc, parked := parkDesk(t)

	alice := sbt.NewPhone(t, "alice").Dial(t, srv.URI("desk"))
	e := <-parked
	fmt.Println("parked on orbit", e.Orbit, "calls parked:", len(svc.List()))

	bob := sbt.NewPhone(t, "bob").Dial(t, svc.OrbitURI(e.Orbit))
	bob.StartTone(1000)
	alice.WaitTone(t, 1000, 5*time.Second)
	fmt.Println("alice hears bob; calls parked:", len(svc.List()))

	bob.Hangup(t)
	alice.WaitTerminated(t, 5*time.Second)
	fmt.Println("alice:", alice.Reason())
	// Output:
	// parked on orbit 7000 calls parked: 1
	// alice hears bob; calls parked: 0
	// alice: remote hang-up
}

// ExampleService_RetrieveTo is an operator's retrieve: the service calls
// Bob for the call parked on an orbit, presenting the orbit as the caller,
// and connects them when Bob answers.
func ExampleService_RetrieveTo() {
	t := &exampleTB{}
	defer t.cleanup()
	srv, svc, parked := parkDesk(t)

	alice := sbt.NewPhone(t, "alice").Dial(t, srv.URI("desk"))
	e := <-parked
	bobPhone := sbt.NewPhone(t, "bob")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := svc.RetrieveTo(ctx, e.Orbit, bobPhone.URI()); err != nil {
		log.Fatal(err)
	}
	bob := bobPhone.NextCall(t)
	fmt.Println("bob is called by", bob.RemoteDisplayName())
	alice.StartTone(700)
	bob.WaitTone(t, 700, 5*time.Second)
	fmt.Println("bob hears alice; calls parked:", len(svc.List()))

	err := svc.RetrieveTo(ctx, e.Orbit, bobPhone.URI())
	fmt.Println("again:", err)
	alice.Hangup(t)
	bob.WaitTerminated(t, 5*time.Second)
	// Output:
	// bob is called by Parked call 7000
	// bob hears alice; calls parked: 0
	// again: park: orbit empty: 7000
}

// Example_admin lists and retrieves parked calls through the operator's
// HTTP API (package admin): GET /api/v1/orbits shows Alice on her orbit,
// POST /api/v1/orbits/{orbit}/retrieve rings Bob and connects them.
func Example_admin() {
	t := &exampleTB{}
	defer t.cleanup()
	srv, svc, parked := parkDesk(t)
	api, err := admin.New(admin.Config{}, admin.Services{Platform: srv.Platform, Park: svc})
	if err != nil {
		log.Fatal(err)
	}
	defer api.Close()
	web := httptest.NewServer(api.Handler())
	defer web.Close()

	alice := sbt.NewPhone(t, "alice").Dial(t, srv.URI("desk"))
	<-parked
	resp, err := http.Get(web.URL + "/api/v1/orbits")
	if err != nil {
		log.Fatal(err)
	}
	var list struct {
		Orbits []struct {
			Orbit  string `json:"orbit"`
			Parked string `json:"parked"`
		} `json:"orbits"`
		Capacity int `json:"capacity"`
	}
	err = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if err != nil {
		log.Fatal(err)
	}
	for _, o := range list.Orbits {
		fmt.Printf("orbit %s holds %s (of %d orbits)\n", o.Orbit, strings.SplitN(o.Parked, ":", 3)[1], list.Capacity)
	}

	bobPhone := sbt.NewPhone(t, "bob")
	resp, err = http.Post(web.URL+"/api/v1/orbits/7000/retrieve", "application/json",
		strings.NewReader(`{"uri": "`+bobPhone.URI()+`"}`))
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println("retrieve:", resp.Status)
	bob := bobPhone.NextCall(t)
	alice.StartTone(700)
	bob.WaitTone(t, 700, 5*time.Second)
	fmt.Println("bob hears alice")
	alice.Hangup(t)
	bob.WaitTerminated(t, 5*time.Second)
	// Output:
	// orbit 7000 holds alice@127.0.0.1 (of 100 orbits)
	// retrieve: 204 No Content
	// bob hears alice
}

// exampleTB is the part of testing.TB the test kit uses, for running it in
// an Example; a test passes its *testing.T instead. Methods it does not
// define panic (the embedded TB is nil).
type exampleTB struct {
	testing.TB
	cleanups []func()
}

func (t *exampleTB) Helper()                           {}
func (t *exampleTB) Cleanup(f func())                  { t.cleanups = append(t.cleanups, f) }
func (t *exampleTB) Log(args ...any)                   {}
func (t *exampleTB) Logf(format string, args ...any)   {}
func (t *exampleTB) Errorf(format string, args ...any) { log.Printf(format, args...) }
func (t *exampleTB) Fatal(args ...any)                 { log.Fatal(args...) }
func (t *exampleTB) Fatalf(format string, args ...any) { log.Fatalf(format, args...) }

// cleanup runs the cleanups in reverse order, as the testing package does.
func (t *exampleTB) cleanup() {
	for _, f := range slices.Backward(t.cleanups) {
		f()
	}
}
