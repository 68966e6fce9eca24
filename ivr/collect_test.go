package ivr_test

import (
	"context"
	"errors"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/ivr"
	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/media/dsp"
	"github.com/switchboard-sip/switchboard/switchboardtest"
)

type outcome struct {
	res ivr.Result
	err error
}

// collectBot serves sip:bot@ on a test server: it answers and runs one
// Collect with opts; the outcome arrives on the returned channel.
func collectBot(t *testing.T, opts ivr.CollectOptions) (*switchboardtest.Server, <-chan outcome) {
	t.Helper()
	srv := switchboardtest.NewServer(t)
	out := make(chan outcome, 1)
	srv.Handle(t, "bot", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		if err := c.Accept(ctx); err != nil {
			out <- outcome{err: err}
			return
		}
		res, err := ivr.Collect(ctx, c, opts)
		out <- outcome{res, err}
		<-ctx.Done() // the test hangs up
	}))
	return srv, out
}

func wait(t *testing.T, ch <-chan outcome, within time.Duration) outcome {
	t.Helper()
	select {
	case o := <-ch:
		return o
	case <-time.After(within):
		t.Fatal("collect did not return")
		return outcome{}
	}
}

// TestCollectDigits: the caller hears the prompt, then keys 1234# as
// RFC 4733, SIP INFO and in-band tones; Collect returns 1234 with the
// terminator.
func TestCollectDigits(t *testing.T) {
	for _, mode := range []string{"rfc4733", "info", "inband"} {
		t.Run(mode, func(t *testing.T) {
			srv, out := collectBot(t, ivr.CollectOptions{
				Prompts: []ivr.Prompt{ivr.Tone(500, 2*time.Second)}, MaxDigits: 8,
				Pattern: regexp.MustCompile(`[0-9]{4}`),
			})
			var po []switchboardtest.PhoneOptions
			if mode == "inband" {
				po = append(po, switchboardtest.PhoneOptions{Settings: endpoint.Settings{Codecs: []string{"PCMU"}}})
			}
			call := switchboardtest.NewPhone(t, "alice", po...).Dial(t, srv.URI("bot"))
			defer call.Hangup(t)
			call.WaitTone(t, 500, 3*time.Second)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			var err error
			if mode == "info" {
				err = call.SendDTMFInfo(ctx, "1234#")
			} else {
				err = call.SendDTMF(ctx, "1234#")
			}
			if err != nil {
				t.Fatal(err)
			}
			o := wait(t, out, 5*time.Second)
			if o.err != nil || o.res.Digits != "1234" || o.res.Terminator != '#' || o.res.Attempts != 1 {
				t.Fatalf("collect = %+v, %v; want 1234 # after 1 attempt", o.res, o.err)
			}
		})
	}
}

// heardLog timestamps every frame a call hears and whether it holds freq.
type heardLog struct {
	mu     sync.Mutex
	frames []heardFrame
}

type heardFrame struct {
	at   time.Time
	tone bool
}

func logHeard(c *endpoint.Call, freq float64) *heardLog {
	l := &heardLog{}
	c.Flow().ObserveHeard(audio.SinkFunc(func(pcm []int16) {
		on := dsp.Goertzel(pcm, 8000, freq) > 0.01*dsp.Goertzel(dsp.Sine(8000, freq, 20*time.Millisecond, 0.3), 8000, freq)
		l.mu.Lock()
		l.frames = append(l.frames, heardFrame{time.Now(), on})
		l.mu.Unlock()
	}))
	return l
}

func (l *heardLog) toneFrames() (n int, first, last time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, f := range l.frames {
		if f.tone {
			if n == 0 {
				first = f.at
			}
			n++
			last = f.at
		}
	}
	return n, first, last
}

// TestBargeIn: a key sent 300 ms into a 3 s prompt stops it within 100 ms
// of the key's arrival (the end of its RFC 4733 event), measured in what
// the caller hears; the key is the collected digit.
func TestBargeIn(t *testing.T) {
	srv, out := collectBot(t, ivr.CollectOptions{Prompts: []ivr.Prompt{ivr.Tone(600, 3*time.Second)}})
	call := switchboardtest.NewPhone(t, "alice").Dial(t, srv.URI("bot"))
	defer call.Hangup(t)
	log := logHeard(call.Call, 600)
	call.WaitTone(t, 600, 3*time.Second)
	for {
		if n, _, _ := log.toneFrames(); n >= 15 { // 300 ms of prompt heard
			break
		}
		call.Listen(t, 20*time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	began := time.Now()
	if err := call.SendDTMF(ctx, "5"); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	o := wait(t, out, 5*time.Second)
	if o.err != nil || o.res.Digits != "5" {
		t.Fatalf("collect = %+v, %v; want 5", o.res, o.err)
	}
	call.Listen(t, 0) // let frames in flight arrive
	n, first, last := log.toneFrames()
	if stop := last.Sub(sent); stop > 100*time.Millisecond {
		t.Fatalf("prompt heard %v after the key (%d frames, %v of prompt); want <= 100ms", stop, n, last.Sub(first))
	}
	t.Logf("prompt stopped %v after the key ended (%v after it began), %v into the prompt", last.Sub(sent), last.Sub(began), last.Sub(first))
}

// TestNoInputRetries: with no key pressed, the caller hears the prompt
// and the no-input prompt twice (one retry), and Collect returns
// ErrNoInput after two attempts.
func TestNoInputRetries(t *testing.T) {
	srv, out := collectBot(t, ivr.CollectOptions{
		Prompts: []ivr.Prompt{ivr.Tone(500, 300*time.Millisecond)}, FirstDigitTimeout: 300 * time.Millisecond,
		Retries: 1, NoInputPrompt: []ivr.Prompt{ivr.Tone(900, 300*time.Millisecond)},
		InvalidPrompt: []ivr.Prompt{ivr.Tone(700, 300*time.Millisecond)},
	})
	call := switchboardtest.NewPhone(t, "alice").Dial(t, srv.URI("bot"))
	defer call.Hangup(t)
	for range 2 {
		call.WaitTone(t, 500, 3*time.Second)
		call.WaitTone(t, 900, 3*time.Second)
	}
	o := wait(t, out, 3*time.Second)
	if !errors.Is(o.err, ivr.ErrNoInput) || o.res.Attempts != 2 {
		t.Fatalf("collect = %+v, %v; want ErrNoInput after 2 attempts", o.res, o.err)
	}
	if rec := call.Recording(); dsp.ToneFraction(rec, 8000, 700) > 0.05 {
		t.Fatal("invalid prompt played on no input")
	}
}

// TestInvalidThenValid: 9 does not match [12]: the invalid prompt, the
// prompt again, then 1 is accepted on the second attempt.
func TestInvalidThenValid(t *testing.T) {
	srv, out := collectBot(t, ivr.CollectOptions{
		Prompts: []ivr.Prompt{ivr.Tone(500, 300*time.Millisecond)}, Pattern: regexp.MustCompile(`[12]`),
		Retries: 2, InvalidPrompt: []ivr.Prompt{ivr.Tone(700, 300*time.Millisecond)},
	})
	call := switchboardtest.NewPhone(t, "alice").Dial(t, srv.URI("bot"))
	defer call.Hangup(t)
	call.WaitTone(t, 500, 3*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := call.SendDTMF(ctx, "9"); err != nil {
		t.Fatal(err)
	}
	call.WaitTone(t, 700, 3*time.Second)
	call.WaitTone(t, 500, 3*time.Second)
	if err := call.SendDTMFInfo(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	o := wait(t, out, 3*time.Second)
	if o.err != nil || o.res.Digits != "1" || o.res.Attempts != 2 {
		t.Fatalf("collect = %+v, %v; want 1 on attempt 2", o.res, o.err)
	}
}

// TestInterDigitTimeout: 12 then silence ends the input after the
// inter-digit timeout; with MinDigits 4 it is invalid.
func TestInterDigitTimeout(t *testing.T) {
	for _, min := range []int{1, 4} {
		srv, out := collectBot(t, ivr.CollectOptions{MinDigits: min, MaxDigits: 4, InterDigitTimeout: 300 * time.Millisecond})
		call := switchboardtest.NewPhone(t, "alice").Dial(t, srv.URI("bot"))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := call.SendDTMF(ctx, "12"); err != nil {
			t.Fatal(err)
		}
		cancel()
		start := time.Now()
		o := wait(t, out, 3*time.Second)
		if el := time.Since(start); el < 200*time.Millisecond {
			t.Errorf("min %d: returned %v after the last key; want the 300ms inter-digit timeout", min, el)
		}
		if min == 1 && (o.err != nil || o.res.Digits != "12") {
			t.Errorf("min 1: collect = %+v, %v; want 12", o.res, o.err)
		}
		if min == 4 && (!errors.Is(o.err, ivr.ErrInvalid) || o.res.Digits != "12") {
			t.Errorf("min 4: collect = %+v, %v; want ErrInvalid with 12", o.res, o.err)
		}
		call.Hangup(t)
	}
}

// TestCollectHangUp: a caller hanging up ends Collect with the context's
// error.
func TestCollectHangUp(t *testing.T) {
	srv, out := collectBot(t, ivr.CollectOptions{Prompts: []ivr.Prompt{ivr.Tone(500, 200*time.Millisecond)}, FirstDigitTimeout: time.Minute})
	call := switchboardtest.NewPhone(t, "alice").Dial(t, srv.URI("bot"))
	call.WaitTone(t, 500, 3*time.Second) // Collect is running
	call.Hangup(t)
	if o := wait(t, out, 3*time.Second); !errors.Is(o.err, context.Canceled) {
		t.Fatalf("collect after hang-up: %v; want context.Canceled", o.err)
	}
}

// TestVoice: the embedded prompts decode and are not silent.
func TestVoice(t *testing.T) {
	v := ivr.Voice()
	for _, name := range []string{"0", "9", "star", "hash", "orbit", "invalid", "noinput", "goodbye", "menu", "beep"} {
		p, ok := v[name]
		pcm, _ := p.PCM(8000)
		if !ok || p.Duration() < 200*time.Millisecond || dsp.RMS(pcm) < 0.01 {
			t.Errorf("voice %q: ok=%v, %v, rms %.3f", name, ok, p.Duration(), dsp.RMS(pcm))
		}
	}
	if len(v.Digits("1*#")) != 3 {
		t.Error("Digits(1*#) did not read three keys")
	}
	if !dsp.HasTone(must(v["beep"].PCM(8000)), 8000, ivr.BeepHz) {
		t.Error("beep is not BeepHz")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
