package switchboardtest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/media/dsp"
	"github.com/switchboard-sip/switchboard/platform"
)

// Phone is a test phone: a user agent on its own platform that dials and
// answers calls.
type Phone struct {
	Server   *Server
	Endpoint *endpoint.Endpoint
	name     string
	incoming chan *PhoneCall
}

// PhoneOptions tune a test phone.
type PhoneOptions struct {
	// Settings override the endpoint settings (timers).
	Settings endpoint.Settings
	// Config overrides the phone platform's config.
	Config platform.Config
	// Answer, when set, decides on incoming calls; default: accept.
	Answer func(ctx context.Context, c *endpoint.Call) error
}

// NewPhone starts a test phone named name (its URI is
// sip:name@127.0.0.1:port). Incoming calls are accepted and queued for
// NextCall.
func NewPhone(t testing.TB, name string, opts ...PhoneOptions) *Phone {
	t.Helper()
	var o PhoneOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	srv := NewServer(t, o.Config)
	s := o.Settings
	s.OwnerURI = "sip:" + name + "@127.0.0.1"
	ep, err := endpoint.NewApplication(srv.Platform, s)
	if err != nil {
		t.Fatal(err)
	}
	ph := &Phone{Server: srv, Endpoint: ep, name: name, incoming: make(chan *PhoneCall, 16)}
	answer := o.Answer
	if answer == nil {
		answer = func(ctx context.Context, c *endpoint.Call) error { return c.Accept(ctx) }
	}
	ep.HandleCalls(endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		pc := newPhoneCall(c)
		ph.acceptTransfers(c)
		if err := answer(ctx, c); err != nil {
			return
		}
		c.HandOff()
		select {
		case ph.incoming <- pc:
		default:
		}
	}))
	return ph
}

// acceptTransfers makes the phone act on REFER like a desk phone: it calls
// the target, and the new call is queued for NextCall.
func (p *Phone) acceptTransfers(c *endpoint.Call) {
	c.OnTransferRequested(func(tr *endpoint.TransferRequest) {
		if !tr.Take() {
			return
		}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			nc, err := tr.Accept(ctx, endpoint.EstablishOptions{})
			if err != nil {
				return
			}
			p.acceptTransfers(nc)
			select {
			case p.incoming <- newPhoneCall(nc):
			default:
			}
		}()
	})
}

// URI returns the phone's address.
func (p *Phone) URI() string { return p.Server.URI(p.name) }

// Dial calls uri and fails the test unless it is answered.
func (p *Phone) Dial(t testing.TB, uri string) *PhoneCall {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pc, err := p.DialContext(ctx, uri, endpoint.EstablishOptions{})
	if err != nil {
		t.Fatalf("dial %s: %v", uri, err)
	}
	return pc
}

// DialContext calls uri and returns the call once answered.
func (p *Phone) DialContext(ctx context.Context, uri string, opts endpoint.EstablishOptions) (*PhoneCall, error) {
	c := p.Endpoint.NewConversation().NewCall()
	pc := newPhoneCall(c)
	p.acceptTransfers(c)
	if err := c.Establish(ctx, uri, opts); err != nil {
		return pc, err
	}
	pc.attach()
	return pc, nil
}

// NextCall waits (up to 10 s) for the next incoming call the phone
// answered.
func (p *Phone) NextCall(t testing.TB) *PhoneCall {
	t.Helper()
	return p.NextCallWithin(t, 10*time.Second)
}

// NextCallWithin waits up to d for the next incoming call.
func (p *Phone) NextCallWithin(t testing.TB, d time.Duration) *PhoneCall {
	t.Helper()
	select {
	case pc := <-p.incoming:
		pc.attach()
		return pc
	case <-time.After(d):
		t.Fatal("no incoming call")
		return nil
	}
}

// PhoneCall is a call of a test phone. It records what it hears (decoded
// mono at the codec's sample rate, see SampleRate: 8 kHz for G.711, 16 kHz
// for G.722) from the moment the call is answered.
type PhoneCall struct {
	*endpoint.Call

	mu       sync.Mutex
	rec      []int16
	heard    chan struct{} // closed and replaced when audio arrives
	attached bool
	stop     context.CancelFunc
	wg       sync.WaitGroup
}

func newPhoneCall(c *endpoint.Call) *PhoneCall { return &PhoneCall{Call: c} }

// WrapCall turns any answered call into a PhoneCall, so that a test can
// record it and play tones into it; recording starts now.
func WrapCall(c *endpoint.Call) *PhoneCall {
	pc := newPhoneCall(c)
	pc.attach()
	return pc
}

// Record starts recording now if it has not started (it starts when the
// call is answered; call Record to hear early media).
func (pc *PhoneCall) Record() { pc.attach() }

func (pc *PhoneCall) attach() {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.attached || pc.Flow() == nil {
		return
	}
	pc.attached = true
	pc.Flow().ObserveHeard(audio.SinkFunc(func(pcm []int16) {
		pc.mu.Lock()
		pc.rec = append(pc.rec, pcm...)
		if pc.heard != nil {
			close(pc.heard)
			pc.heard = nil
		}
		pc.mu.Unlock()
	}))
}

// SampleRate returns the rate in Hz of what the call records and what
// StartTone sends: the negotiated codec's sample rate, 8000 without one.
func (pc *PhoneCall) SampleRate() int {
	if r := pc.Flow().SampleRate(); r > 0 {
		return r
	}
	return 8000
}

// waitHeard waits, up to within, until done holds for the audio recorded
// so far; it is checked again each time audio arrives. It reports whether
// done held.
func (pc *PhoneCall) waitHeard(within time.Duration, done func(rec []int16) bool) bool {
	pc.attach()
	timeout := time.NewTimer(within)
	defer timeout.Stop()
	for {
		pc.mu.Lock()
		if done(pc.rec) {
			pc.mu.Unlock()
			return true
		}
		if pc.heard == nil {
			pc.heard = make(chan struct{})
		}
		wake := pc.heard
		pc.mu.Unlock()
		select {
		case <-wake:
		case <-pc.Done():
			return false
		case <-timeout.C:
			return false
		}
	}
}

// WaitTone waits until the call hears freq Hz: the last 100 ms received
// hold the tone. It fails the test after within. Use it instead of
// sleeping until audio has started to flow.
func (pc *PhoneCall) WaitTone(t testing.TB, freq float64, within time.Duration) {
	t.Helper()
	rate := pc.SampleRate()
	window := rate / 10 // 100 ms
	if !pc.waitHeard(within, func(rec []int16) bool {
		return len(rec) >= window && dsp.HasTone(rec[len(rec)-window:], rate, freq)
	}) {
		t.Fatalf("no %g Hz heard within %v", freq, within)
	}
}

// WaitNoTone waits until the call stops hearing freq Hz: the last 100 ms
// received do not hold the tone. It fails the test after within.
func (pc *PhoneCall) WaitNoTone(t testing.TB, freq float64, within time.Duration) {
	t.Helper()
	rate := pc.SampleRate()
	window := rate / 10 // 100 ms
	if !pc.waitHeard(within, func(rec []int16) bool {
		return len(rec) >= window && !dsp.HasTone(rec[len(rec)-window:], rate, freq)
	}) {
		t.Fatalf("%g Hz still heard after %v", freq, within)
	}
}

// Listen discards what was recorded so far, waits until d more audio has
// been received and returns it. Waiting counts received audio, not wall
// time, so a loaded machine cannot shorten the window; it fails the test
// if the audio does not arrive within 3*d + 2 s.
func (pc *PhoneCall) Listen(t testing.TB, d time.Duration) []int16 {
	t.Helper()
	pc.ResetRecording()
	rate := pc.SampleRate()
	n := int(d * time.Duration(rate) / time.Second)
	if !pc.waitHeard(3*d+2*time.Second, func(rec []int16) bool { return len(rec) >= n }) {
		t.Fatalf("heard %d ms of audio, want %v", len(pc.Recording())*1000/rate, d)
	}
	rec := pc.Recording()
	return rec[:n]
}

// Recording returns a copy of the audio heard so far.
func (pc *PhoneCall) Recording() []int16 {
	pc.attach()
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return append([]int16(nil), pc.rec...)
}

// ResetRecording discards what was recorded so far.
func (pc *PhoneCall) ResetRecording() {
	pc.mu.Lock()
	pc.rec = pc.rec[:0]
	pc.mu.Unlock()
}

// StartTone sends a continuous sine tone of freq Hz until StopTone or the
// call ends.
func (pc *PhoneCall) StartTone(freq float64) {
	pc.StopTone()
	ctx, cancel := context.WithCancel(pc.Context())
	pc.mu.Lock()
	pc.stop = cancel
	pc.mu.Unlock()
	pc.wg.Go(func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		var (
			osc   *dsp.Oscillator
			rate  int
			frame []int16
		)
		for {
			if r := pc.SampleRate(); r != rate || osc == nil {
				// 20 ms at the codec's rate, which a re-INVITE may change.
				rate, osc, frame = r, dsp.NewOscillator(r, freq, 0.3), make([]int16, r/50)
			}
			osc.Read(frame)
			_ = pc.Flow().WriteFrame(frame)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
}

// StopTone stops a tone started with StartTone and waits for its sender.
func (pc *PhoneCall) StopTone() {
	pc.mu.Lock()
	stop := pc.stop
	pc.stop = nil
	pc.mu.Unlock()
	if stop != nil {
		stop()
	}
	pc.wg.Wait()
}

// Play sends pcm (8 kHz mono) in real time and returns when it is sent.
func (pc *PhoneCall) Play(ctx context.Context, pcm []int16) error {
	return pc.Flow().Play(ctx, pcm)
}

// Hangup terminates the call (fails the test on error).
func (pc *PhoneCall) Hangup(t testing.TB) {
	t.Helper()
	pc.StopTone()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := pc.Terminate(ctx); err != nil {
		t.Errorf("hangup: %v", err)
	}
}

// WaitTerminated waits until the call ends.
func (pc *PhoneCall) WaitTerminated(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case <-pc.Done():
	case <-time.After(d):
		t.Fatalf("call still %v after %v", pc.State(), d)
	}
}
