package b2b

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/media"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestAppDTMFHandlerSurvivesTheB2BRelay: the application watches the key
// presses of leg 1 with two OnDTMF handlers of its own; the b2b call's
// DTMF relay (SIP INFO on leg 1 → RFC 4733 on leg 2, and RFC 4733 through
// the media relay) works next to them,
// removing an application handler leaves the relay working, and removing
// the b2b call's handlers leaves the application's remaining one working.
func TestAppDTMFHandlerSurvivesTheB2BRelay(t *testing.T) {
	far := make(chan rune, 8)
	callee := sbt.NewPhone(t, "callee", sbt.PhoneOptions{Answer: func(ctx context.Context, c *endpoint.Call) error {
		c.OnDTMF(func(ev media.DTMFEvent) { far <- ev.Digit })
		return c.Accept(ctx)
	}})
	appA, appB := make(chan rune, 8), make(chan rune, 8)
	var removeA func()
	calls := make(chan *Call, 1)
	srv := sbt.NewServer(t)
	ep := srv.Handle(t, "bridge", nil)
	ep.HandleCalls(endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		removeA = c.OnDTMF(func(ev media.DTMFEvent) { appA <- ev.Digit })
		c.OnDTMF(func(ev media.DTMFEvent) { appB <- ev.Digit })
		b, err := New(Leg{Call: c}, Leg{Call: ep.NewConversation().NewCall(), Destination: callee.URI()}, Options{})
		if err != nil {
			t.Errorf("New: %v", err)
			return
		}
		if err := b.Establish(ctx); err != nil {
			t.Errorf("Establish: %v", err)
			return
		}
		c.HandOff()
		calls <- b
	}))
	caller := sbt.NewPhone(t, "caller").Dial(t, srv.URI("bridge"))
	var b *Call
	select {
	case b = <-calls:
	case <-time.After(10 * time.Second):
		t.Fatal("no back-to-back call")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	expect := func(name string, ch chan rune, want rune) {
		t.Helper()
		select {
		case d := <-ch:
			if d != want {
				t.Fatalf("%s got %q, want %q", name, d, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s did not get %q", name, want)
		}
	}
	silent := func(name string, ch chan rune) {
		t.Helper()
		select {
		case d := <-ch:
			t.Fatalf("%s got %q after its handler was removed", name, d)
		default:
		}
	}
	send := func(d string) {
		t.Helper()
		if err := caller.SendDTMFInfo(ctx, d); err != nil {
			t.Fatalf("INFO %s: %v", d, err)
		}
	}

	// One key press: both application handlers and the relay see it.
	send("1")
	expect("callee (relay)", far, '1')
	expect("app handler A", appA, '1')
	expect("app handler B", appB, '1')

	// Removing A (twice) leaves B and the relay. The handlers of one key
	// press run in the order added, A and B before the b2b's relay, so once
	// the callee has the key A would have had it too.
	removeA()
	removeA()
	send("2")
	expect("callee (relay)", far, '2')
	expect("app handler B", appB, '2')
	silent("app handler A", appA)

	// An RFC 4733 key press is forwarded by the media relay (the relay is
	// the consumer of leg 1's packets) and still reported to the
	// application's handler.
	if err := caller.SendDTMF(ctx, "4"); err != nil {
		t.Fatalf("RFC 4733 4: %v", err)
	}
	expect("callee (media relay)", far, '4')
	expect("app handler B (RFC 4733)", appB, '4')
	silent("app handler A", appA)

	// The b2b call's own handlers go (as when it re-pairs or ends); the
	// application's stays.
	b.unwireLegs()
	send("3")
	expect("app handler B", appB, '3')
	time.Sleep(time.Second)
	silent("callee (relay)", far)

	caller.Hangup(t)
	select {
	case <-b.Done():
	case <-time.After(5 * time.Second):
		// Removing its handlers must not stop it from ending the legs.
		t.Fatal("the b2b call did not end")
	}
}
