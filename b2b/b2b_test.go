package b2b_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/b2b"
	"github.com/switchboard-sip/switchboard/conference"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/media"
	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/media/dsp"
	"github.com/switchboard-sip/switchboard/media/sdp"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// bridge serves "bridge": every incoming call is connected back to back to
// the destination dest() returns.
type bridge struct {
	srv   *sbt.Server
	calls chan *b2b.Call
	errs  chan error
}

func newBridge(t *testing.T, dest func(*endpoint.Call) string, opts b2b.Options) *bridge {
	br := &bridge{srv: sbt.NewServer(t), calls: make(chan *b2b.Call, 4), errs: make(chan error, 4)}
	ep := br.srv.Handle(t, "bridge", nil)
	ep.HandleCalls(endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		b, err := b2b.New(b2b.Leg{Call: c}, b2b.Leg{Call: ep.NewConversation().NewCall(), Destination: dest(c)}, opts)
		if err != nil {
			br.errs <- err
			_ = c.Decline(ctx, 500)
			return
		}
		if err := b.Establish(ctx); err != nil {
			br.errs <- err
			return
		}
		c.HandOff()
		br.calls <- b
	}))
	return br
}

// waitRelayed waits until the relay of b has passed n audio packets
// (forwarded or transcoded) in each direction: n*20 ms of audio each way,
// counted rather than slept, so that a loaded machine cannot shorten it.
func waitRelayed(t *testing.T, b *b2b.Call, n uint64) {
	t.Helper()
	audio := func(d media.RelayDirectionStats) uint64 { return d.Forwarded + d.Transcoded }
	waitFor(t, fmt.Sprintf("%d relayed packets each way", n), func() bool {
		r := b.Relay()
		if r == nil {
			return false
		}
		st := r.Stats()
		return audio(st.AtoB) >= n && audio(st.BtoA) >= n
	})
}

// waitRemoteDirection waits (up to 5 s) until c's negotiated remote
// direction is want, woken by each offer/answer exchange rather than
// polling.
func waitRemoteDirection(t *testing.T, c *endpoint.Call, want sdp.Direction, what string) {
	t.Helper()
	changed := make(chan struct{}, 1)
	defer c.OnMediaChanged(func(sdp.Negotiated) {
		select {
		case changed <- struct{}{}:
		default:
		}
	})()
	timeout := time.After(5 * time.Second)
	for c.Negotiated().RemoteDirection != want {
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("%s: the other side sees %v, want %v", what, c.Negotiated().RemoteDirection, want)
		}
	}
}

func (br *bridge) next(t *testing.T) *b2b.Call {
	t.Helper()
	select {
	case b := <-br.calls:
		return b
	case err := <-br.errs:
		t.Fatalf("b2b failed: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("no back-to-back call")
	}
	return nil
}

func TestBaresipToBaresipTonesDTMFAndBye(t *testing.T) {
	callee := peers.StartBaresip(t, peers.BaresipOptions{User: "callee", AutoAnswer: true,
		AudioFile: peers.WriteWAV(t, dsp.Sine(8000, 900, 60*time.Second, 0.3), 8000)})
	br := newBridge(t, func(*endpoint.Call) string { return callee.URI() }, b2b.Options{ImpersonateCaller: true})
	caller := peers.StartBaresip(t, peers.BaresipOptions{User: "caller",
		AudioFile: peers.WriteWAV(t, dsp.Sine(8000, 500, 60*time.Second, 0.3), 8000)})
	if err := caller.Dial(br.srv.URI("bridge")); err != nil {
		t.Fatal(err)
	}
	b := br.next(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ev, err := callee.WaitEvent(ctx, "CALL_ESTABLISHED")
	if err != nil {
		t.Fatal(err)
	}
	if ev.PeerURI == "" || !contains(ev.PeerURI, "caller@") {
		t.Errorf("callee sees %q, want the impersonated caller", ev.PeerURI)
	}
	waitRelayed(t, b, 100)
	if err := caller.SendDTMF("12#"); err != nil {
		t.Fatal(err)
	}
	var got string
	for range 3 {
		ev, err := callee.WaitEvent(ctx, "CALL_DTMF_START")
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		got += ev.Param
	}
	if got != "12#" {
		t.Errorf("callee got DTMF %q, want 12#", got)
	}
	if err := caller.Hangup(); err != nil {
		t.Fatal(err)
	}
	if _, err := callee.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
		t.Fatalf("BYE did not reach leg 2: %v", err)
	}
	<-b.Done()
	for _, c := range []struct {
		who  *peers.Baresip
		hear float64
	}{{caller, 900}, {callee, 500}} {
		rec, rate := c.who.RecordingSamples(t)
		if f := dsp.ToneFraction(rec, rate, c.hear); f < 0.4 {
			t.Errorf("%s hears %v Hz in %.0f%%", c.who.URI(), c.hear, f*100)
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func TestTranscodingPCMUToPCMA(t *testing.T) {
	callee := peers.StartBaresip(t, peers.BaresipOptions{User: "alaw", AutoAnswer: true, Codecs: []string{"PCMA"},
		AudioFile: peers.WriteWAV(t, dsp.Sine(8000, 900, 60*time.Second, 0.3), 8000)})
	br := newBridge(t, func(*endpoint.Call) string { return callee.URI() }, b2b.Options{})
	caller := peers.StartBaresip(t, peers.BaresipOptions{User: "ulaw", Codecs: []string{"PCMU"},
		AudioFile: peers.WriteWAV(t, dsp.Sine(8000, 500, 60*time.Second, 0.3), 8000)})
	if err := caller.Dial(br.srv.URI("bridge")); err != nil {
		t.Fatal(err)
	}
	b := br.next(t)
	if a, c := b.Leg1().Negotiated().Codec.Name, b.Leg2().Negotiated().Codec.Name; a != "PCMU" || c != "PCMA" {
		t.Fatalf("legs negotiated %s and %s, want PCMU and PCMA", a, c)
	}
	waitRelayed(t, b, 100)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_ = callee.Hangup()
	if _, err := caller.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
		t.Fatalf("BYE from leg 2 did not reach leg 1: %v", err)
	}
	for _, c := range []struct {
		who  *peers.Baresip
		hear float64
	}{{caller, 900}, {callee, 500}} {
		rec, rate := c.who.RecordingSamples(t)
		if f := dsp.ToneFraction(rec, rate, c.hear); f < 0.4 {
			t.Errorf("%s hears %v Hz in %.0f%% through the transcoder", c.who.URI(), c.hear, f*100)
		}
	}
	if st := b.Relay(); st != nil {
		t.Logf("relay %+v", st.Stats())
	}
}

func TestFailuresAreMappedToLeg1(t *testing.T) {
	busy := sbt.NewPhone(t, "busy", sbt.PhoneOptions{Answer: func(ctx context.Context, c *endpoint.Call) error {
		_ = c.Decline(ctx, 486)
		return errors.New("busy")
	}})
	for name, tc := range map[string]struct {
		dest string
		code int
	}{
		"busy":    {busy.URI(), 486},
		"unknown": {fmt.Sprintf("sip:nobody@127.0.0.1:%d", busy.Server.Port()), 404},
	} {
		br := newBridge(t, func(*endpoint.Call) string { return tc.dest }, b2b.Options{})
		_, err := sbt.NewPhone(t, "caller").DialContext(context.Background(), br.srv.URI("bridge"), endpoint.EstablishOptions{})
		var re *endpoint.ResponseError
		if !errors.As(err, &re) || re.Code != tc.code {
			t.Errorf("%s: caller got %v, want %d", name, err, tc.code)
		}
	}
}

func TestRingTimeoutGives480AndCancelEndsLeg2(t *testing.T) {
	rung := make(chan *endpoint.Call, 2)
	slow := sbt.NewPhone(t, "slow", sbt.PhoneOptions{Answer: func(ctx context.Context, c *endpoint.Call) error {
		_ = c.Ring(ctx)
		rung <- c
		<-ctx.Done()
		return ctx.Err()
	}})
	br := newBridge(t, func(*endpoint.Call) string { return slow.URI() }, b2b.Options{RingTimeout: 700 * time.Millisecond})
	_, err := sbt.NewPhone(t, "impatient").DialContext(context.Background(), br.srv.URI("bridge"), endpoint.EstablishOptions{})
	var re *endpoint.ResponseError
	if !errors.As(err, &re) || re.Code != 480 {
		t.Fatalf("no answer: caller got %v, want 480", err)
	}
	<-rung

	// CANCEL from the caller before answer cancels leg 2.
	br2 := newBridge(t, func(*endpoint.Call) string { return slow.URI() }, b2b.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, _ = sbt.NewPhone(t, "quitter").DialContext(ctx, br2.srv.URI("bridge"), endpoint.EstablishOptions{})
	}()
	leg2 := <-rung
	cancel()
	select {
	case <-leg2.Done():
		if leg2.Reason() != endpoint.ReasonRemoteCancelled {
			t.Fatalf("leg 2 ended with %q", leg2.Reason())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("leg 2 still ringing after the caller cancelled")
	}
}

func TestByeAndHoldCrossTheBridge(t *testing.T) {
	callee := sbt.NewPhone(t, "callee")
	br := newBridge(t, func(*endpoint.Call) string { return callee.URI() }, b2b.Options{})
	caller := sbt.NewPhone(t, "caller").Dial(t, br.srv.URI("bridge"))
	b := br.next(t)
	far := callee.NextCall(t)
	caller.StartTone(500)
	far.StartTone(900)
	far.WaitTone(t, 500, 5*time.Second)
	caller.WaitTone(t, 900, 5*time.Second)
	// A second of received audio each (counted, not slept: a loaded
	// machine cannot shorten it).
	if f := dsp.ToneFraction(far.Listen(t, time.Second), 8000, 500); f < 0.7 {
		t.Errorf("callee hears caller in %.0f%%", f*100)
	}
	if f := dsp.ToneFraction(caller.Listen(t, time.Second), 8000, 900); f < 0.7 {
		t.Errorf("caller hears callee in %.0f%%", f*100)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := caller.Hold(ctx, endpoint.HoldRemote); err != nil {
		t.Fatal(err)
	}
	waitRemoteDirection(t, far.Call, sdp.SendOnly, "hold did not cross")
	far.Hangup(t) // BYE from leg 2's side ends leg 1 too
	caller.WaitTerminated(t, 5*time.Second)
	<-b.Done()
}

// TestInactiveHoldAndRetrieveCross: a party holding with inactive
// (HoldBoth) puts the other leg on inactive hold, and retrieving brings
// audio back both ways, whichever side holds. The b2b call used to mirror
// the other leg's inactive answer back onto the holder's leg as a hold of
// its own, so that leg answered the retrieve inactive and the holder never
// resumed (11 of 20 runs).
func TestInactiveHoldAndRetrieveCross(t *testing.T) {
	for _, holder := range []string{"caller", "callee"} {
		t.Run(holder, func(t *testing.T) {
			callee := sbt.NewPhone(t, "callee")
			br := newBridge(t, func(*endpoint.Call) string { return callee.URI() }, b2b.Options{})
			caller := sbt.NewPhone(t, "caller").Dial(t, br.srv.URI("bridge"))
			br.next(t)
			far := callee.NextCall(t)
			caller.StartTone(500)
			far.StartTone(900)
			far.WaitTone(t, 500, 5*time.Second)
			caller.WaitTone(t, 900, 5*time.Second)
			holds, other := caller, far
			if holder == "callee" {
				holds, other = far, caller
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := holds.Hold(ctx, endpoint.HoldBoth); err != nil {
				t.Fatal(err)
			}
			waitRemoteDirection(t, other.Call, sdp.Inactive, "inactive hold did not cross")
			if err := holds.Retrieve(ctx); err != nil {
				t.Fatal(err)
			}
			if n := holds.Negotiated(); n.RemoteDirection != sdp.SendRecv {
				t.Fatalf("retrieve answered %v, want sendrecv (the b2b call held the holder's leg itself)", n.RemoteDirection)
			}
			far.WaitTone(t, 500, 5*time.Second)
			caller.WaitTone(t, 900, 5*time.Second)
			caller.Hangup(t)
		})
	}
}

func TestConferenceURIAsDestinationIsRefused(t *testing.T) {
	srv := sbt.NewServer(t)
	ep := srv.Handle(t, "x", nil)
	_, err := b2b.New(b2b.Leg{Call: ep.NewConversation().NewCall()}, b2b.Leg{Call: ep.NewConversation().NewCall(), Destination: "sip:conf-42@127.0.0.1"}, b2b.Options{})
	if !errors.Is(err, b2b.ErrConferenceDestination) {
		t.Fatalf("err = %v", err)
	}
}

// TestIntoConference is the seed 002 scenario: two baresip callers are put
// by back-to-back calls into one conference with their own URIs
// impersonated; the roster shows each once; a second back-to-back for the
// same caller URI is refused unless it uses a generated identity.
func TestIntoConference(t *testing.T) {
	srv := sbt.NewServer(t)
	svc, err := conference.New(srv.Platform, conference.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	conf, _ := svc.Create("meet", conference.Options{})
	type result struct {
		b   *b2b.Call
		err error
	}
	results := make(chan result, 4)
	generated := false
	ep := srv.Handle(t, "lobby", nil)
	ep.HandleCalls(endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		conv := ep.NewConversation()
		opts := conference.JoinOptions{}
		if generated {
			opts = conference.JoinOptions{Trusted: true, GeneratedIdentity: true}
		} else if err := conv.Impersonate(endpoint.Identity{URI: c.RemoteURI(), DisplayName: c.RemoteDisplayName()}); err != nil {
			results <- result{nil, err}
			return
		}
		leg2, err := conference.Join(ctx, conv, conf.URI(), opts)
		if err != nil {
			_ = c.Decline(ctx, 486)
			results <- result{nil, err}
			return
		}
		b, err := b2b.New(b2b.Leg{Call: c}, b2b.Leg{Call: leg2}, b2b.Options{})
		if err == nil {
			err = b.Establish(ctx)
		}
		if err == nil {
			c.HandOff()
		}
		results <- result{b, err}
	}))
	tones := []float64{500, 1100}
	var callers []*peers.Baresip
	var bridged []*b2b.Call
	for i, f := range tones {
		bs := peers.StartBaresip(t, peers.BaresipOptions{User: fmt.Sprintf("guest%d", i),
			AudioFile: peers.WriteWAV(t, dsp.Sine(8000, f, 60*time.Second, 0.3), 8000)})
		if err := bs.Dial(srv.URI("lobby")); err != nil {
			t.Fatal(err)
		}
		r := <-results
		if r.err != nil {
			t.Fatalf("caller %d: %v", i, r.err)
		}
		callers = append(callers, bs)
		bridged = append(bridged, r.b)
	}
	roster := conf.Roster()
	if len(roster) != 2 || roster[0].URI == roster[1].URI {
		t.Fatalf("roster %+v", roster)
	}
	for i, p := range roster {
		if !contains(p.URI, fmt.Sprintf("guest%d@", i)) || p.Trusted {
			t.Errorf("participant %d is %+v, want the impersonated caller, not trusted", i, p)
		}
	}
	// Each caller is sent 2 s of the other's tone (counted frames, not a
	// sleep) before the tests below and the hang-up.
	var sent [2]atomic.Int32
	for i, b := range bridged {
		defer b.Leg1().Flow().ObserveSent(audio.SinkFunc(func(pcm []int16) {
			if dsp.LevelDB(pcm, 8000, tones[1-i]) > -30 {
				sent[i].Add(1)
			}
		}))()
	}
	waitFor(t, "2 s of the other caller's tone sent to each caller", func() bool {
		return sent[0].Load() >= 100 && sent[1].Load() >= 100
	})
	// A second back-to-back for guest0's URI is refused...
	again := peers.StartBaresip(t, peers.BaresipOptions{User: "guest0"})
	if err := again.Dial(srv.URI("lobby")); err != nil {
		t.Fatal(err)
	}
	if r := <-results; r.err == nil {
		t.Fatal("a second join with the same URI was accepted")
	}
	// ...unless it uses a generated identity.
	generated = true
	again2 := peers.StartBaresip(t, peers.BaresipOptions{User: "guest0"})
	if err := again2.Dial(srv.URI("lobby")); err != nil {
		t.Fatal(err)
	}
	if r := <-results; r.err != nil {
		t.Fatalf("generated identity join: %v", r.err)
	}
	if n := len(conf.Roster()); n != 3 {
		t.Fatalf("roster has %d, want 3", n)
	}
	for _, c := range callers {
		_ = c.Hangup()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, c := range callers {
		if _, err := c.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
			t.Fatal(err)
		}
		rec, rate := c.RecordingSamples(t)
		other := tones[1-i]
		if f := dsp.ToneFraction(rec, rate, other); f < 0.3 {
			t.Errorf("caller %d hears the other caller (%v Hz) in %.0f%%", i, other, f*100)
		}
	}
}

// TestDTMFInfoBecomesRFC4733: DTMF sent by the caller as SIP INFO reaches
// the callee as RFC 4733 events.
func TestDTMFInfoBecomesRFC4733(t *testing.T) {
	got := make(chan rune, 8)
	callee := sbt.NewPhone(t, "callee", sbt.PhoneOptions{Answer: func(ctx context.Context, c *endpoint.Call) error {
		c.OnDTMF(func(ev media.DTMFEvent) { got <- ev.Digit })
		return c.Accept(ctx)
	}})
	br := newBridge(t, func(*endpoint.Call) string { return callee.URI() }, b2b.Options{})
	caller := sbt.NewPhone(t, "caller").Dial(t, br.srv.URI("bridge"))
	br.next(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := caller.SendDTMFInfo(ctx, "5#"); err != nil {
		t.Fatal(err)
	}
	var s string
	for len(s) < 2 {
		select {
		case d := <-got:
			s += string(d)
		case <-ctx.Done():
			t.Fatalf("callee got %q", s)
		}
	}
	if s != "5#" {
		t.Fatalf("callee got %q, want 5#", s)
	}
	caller.Hangup(t)
}

// TestReferOnALegIsCarriedOut: the caller transfers (REFER) to a third
// phone; the back-to-back call carries it out and re-pairs the legs, so the
// callee now talks to the third phone without knowing about REFER.
func TestReferOnALegIsCarriedOut(t *testing.T) {
	callee := sbt.NewPhone(t, "callee")
	third := sbt.NewPhone(t, "third")
	br := newBridge(t, func(*endpoint.Call) string { return callee.URI() }, b2b.Options{})
	caller := sbt.NewPhone(t, "caller").Dial(t, br.srv.URI("bridge"))
	br.next(t)
	far := callee.NextCall(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := caller.Transfer(ctx, third.URI(), endpoint.TransferOptions{}); err != nil {
		t.Fatalf("REFER: %v", err)
	}
	th := third.NextCall(t)
	far.StartTone(900)
	th.StartTone(1300)
	th.WaitTone(t, 900, 5*time.Second)
	far.WaitTone(t, 1300, 5*time.Second)
	if f := dsp.ToneFraction(th.Listen(t, time.Second), 8000, 900); f < 0.7 {
		t.Errorf("third party hears the callee in %.0f%%", f*100)
	}
	if f := dsp.ToneFraction(far.Listen(t, time.Second), 8000, 1300); f < 0.7 {
		t.Errorf("callee hears the third party in %.0f%%", f*100)
	}
	if far.State() != endpoint.StateEstablished {
		t.Fatalf("callee's call did not survive the transfer: %v", far.State())
	}
	th.Hangup(t)
	far.WaitTerminated(t, 5*time.Second)
}

// TestMediaTimeoutOnOneLegEndsBoth: the callee vanishes without BYE; the
// RTP timeout on leg 2 ends the back-to-back call and the caller gets BYE.
func TestMediaTimeoutOnOneLegEndsBoth(t *testing.T) {
	callee := sbt.NewPhone(t, "ghost")
	srv := sbt.NewServer(t)
	calls := make(chan *b2b.Call, 1)
	ep := srv.HandleWith(t, endpoint.Settings{OwnerURI: "sip:bridge@127.0.0.1", RTPTimeout: time.Second}, nil)
	ep.HandleCalls(endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		b, err := b2b.New(b2b.Leg{Call: c}, b2b.Leg{Call: ep.NewConversation().NewCall(), Destination: callee.URI()}, b2b.Options{})
		if err == nil && b.Establish(ctx) == nil {
			c.HandOff()
			calls <- b
		}
	}))
	caller := sbt.NewPhone(t, "caller").Dial(t, srv.URI("bridge"))
	b := <-calls
	far := callee.NextCall(t)
	caller.StartTone(500)
	far.StartTone(900)
	far.WaitTone(t, 500, 5*time.Second) // media flows before the peer vanishes
	callee.Server.Close()               // no BYE: leg 2's peer just vanishes
	caller.WaitTerminated(t, 8*time.Second)
	if caller.Reason() != endpoint.ReasonRemoteHangUp {
		t.Fatalf("caller's call ended with %q", caller.Reason())
	}
	if b.Leg2().Reason() != endpoint.ReasonRTPTimeout {
		t.Fatalf("leg 2 ended with %q, want rtp timeout", b.Leg2().Reason())
	}
}
