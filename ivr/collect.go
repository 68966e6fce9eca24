package ivr

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-sip/switchboard/media"
)

// Errors of Collect, after the last attempt.
var (
	// ErrNoInput: the caller pressed nothing before the first-digit
	// timeout.
	ErrNoInput = errors.New("ivr: no input")
	// ErrInvalid: the caller's digits were too few or did not match the
	// pattern.
	ErrInvalid = errors.New("ivr: invalid input")
)

// MaxBufferedKeys bounds the key presses a Session keeps that nobody has
// read yet; a flood beyond it is dropped (the media engine already caps
// RFC 4733 events per second).
const MaxBufferedKeys = 32

// Line is what a Session needs of a call: its audio and its key presses.
// *endpoint.Call is a Line; its OnDTMF merges RFC 4733, SIP INFO and
// in-band DTMF.
type Line interface {
	Flow() *media.Flow
	OnDTMF(f func(media.DTMFEvent)) (remove func())
}

// Session plays prompts to a call and collects its key presses. From
// NewSession until Close it keeps the keys pressed (up to
// MaxBufferedKeys), so digits typed ahead during a prompt are not lost.
//
// Its methods are meant for the goroutine that serves the call (one
// operation at a time); Close and Flush may be called from any goroutine.
type Session struct {
	line   Line
	remove func()

	mu        sync.Mutex
	keys      []rune
	wake      chan struct{} // cap 1: a key arrived
	interrupt func()        // cancels the prompt playing with barge-in
	dropped   int
}

// NewSession starts listening to l's key presses.
func NewSession(l Line) *Session {
	s := &Session{line: l, wake: make(chan struct{}, 1)}
	s.remove = l.OnDTMF(s.key)
	return s
}

// key runs on the call's event goroutine; it never blocks.
func (s *Session) key(ev media.DTMFEvent) {
	s.mu.Lock()
	if len(s.keys) < MaxBufferedKeys {
		s.keys = append(s.keys, ev.Digit)
	} else {
		s.dropped++
	}
	if s.interrupt != nil {
		s.interrupt() // barge-in: the prompt stops within one frame
		s.interrupt = nil
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Close stops listening to key presses. It is idempotent.
func (s *Session) Close() { s.remove() }

// Flush discards the keys pressed and not read yet.
func (s *Session) Flush() {
	s.mu.Lock()
	s.keys = s.keys[:0]
	s.mu.Unlock()
}

// Dropped returns how many key presses were dropped because the buffer was
// full.
func (s *Session) Dropped() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// Play plays prompts in order and returns when they end or ctx is done. A
// key press does not stop them (see PlayBargeIn).
func (s *Session) Play(ctx context.Context, prompts ...Prompt) error {
	_, err := s.play(ctx, false, prompts)
	return err
}

// PlayBargeIn plays prompts in order until a key is pressed (or one was
// pressed and not read yet): the prompt stops within one 20 ms frame of
// the key's arrival, and the key stays buffered for NextKey or Collect.
// It reports whether a key stopped the prompts.
func (s *Session) PlayBargeIn(ctx context.Context, prompts ...Prompt) (interrupted bool, err error) {
	return s.play(ctx, true, prompts)
}

func (s *Session) play(ctx context.Context, barge bool, prompts []Prompt) (bool, error) {
	f := s.line.Flow()
	for _, p := range prompts {
		pcm, err := p.PCM(f.SampleRate())
		if err != nil {
			return false, err
		}
		pctx := ctx
		cancel := func() {}
		if barge {
			s.mu.Lock()
			if len(s.keys) > 0 {
				s.mu.Unlock()
				return true, nil
			}
			pctx, cancel = context.WithCancel(ctx)
			s.interrupt = cancel
			s.mu.Unlock()
		}
		err = f.Play(pctx, pcm)
		if barge {
			s.mu.Lock()
			s.interrupt = nil
			s.mu.Unlock()
		}
		cancel()
		if barge && err != nil && ctx.Err() == nil && pctx.Err() != nil {
			return true, nil
		}
		if err != nil {
			return false, err
		}
	}
	return false, nil
}

// NextKey returns the next key pressed (a buffered one first), waiting up
// to timeout (forever if timeout <= 0). It returns 0 and no error on
// timeout, and ctx's error when ctx is done.
func (s *Session) NextKey(ctx context.Context, timeout time.Duration) (rune, error) {
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	for {
		s.mu.Lock()
		if len(s.keys) > 0 {
			k := s.keys[0]
			s.keys = append(s.keys[:0], s.keys[1:]...)
			s.mu.Unlock()
			return k, nil
		}
		s.mu.Unlock()
		select {
		case <-s.wake:
		case <-expired:
			return 0, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// CollectOptions are the parameters of one Collect, in the spirit of
// FreeSWITCH's play_and_get_digits and Asterisk's Read. The zero value
// collects one key, with "#" as terminator, after no prompt.
type CollectOptions struct {
	// Prompts are played before each attempt; a key press stops them
	// (barge-in) unless NoBargeIn.
	Prompts   []Prompt
	NoBargeIn bool
	// MinDigits and MaxDigits bound the digits collected (terminator not
	// included). Defaults 1 and max(1, MinDigits). Collection ends as soon
	// as MaxDigits are in.
	MinDigits, MaxDigits int
	// Terminators are keys that end the input early and are not part of
	// it. Default "#"; set NoTerminator for none.
	Terminators  string
	NoTerminator bool
	// FirstDigitTimeout is how long to wait, after the prompts, for the
	// first key. Default 5 s.
	FirstDigitTimeout time.Duration
	// InterDigitTimeout is how long to wait for each further key; when it
	// expires the input ends with the digits so far. Default 3 s.
	InterDigitTimeout time.Duration
	// Pattern, when set, must match the whole input (for example
	// `^[0-9]{4}$` or `1|2|3`); the input is invalid otherwise.
	Pattern *regexp.Regexp
	// Retries is how many more attempts follow a failed one. Default 0:
	// one attempt.
	Retries int
	// InvalidPrompt is played after input that is too short or does not
	// match; NoInputPrompt after a first-digit timeout. Both are played
	// after the last attempt too, so the caller hears why.
	InvalidPrompt []Prompt
	NoInputPrompt []Prompt
}

// Result is what Collect collected.
type Result struct {
	// Digits are the keys of the last attempt, terminator excluded.
	Digits string
	// Terminator is the terminator pressed, 0 if none.
	Terminator rune
	// Attempts is the number of attempts made (1 + retries used).
	Attempts int
}

// Collect plays the prompts and collects digits as opts says, retrying
// after no input or invalid input. It returns ErrNoInput or ErrInvalid
// (wrapped, with the last attempt's Result) when the attempts are used
// up, and ctx's error when ctx is done (the call hung up).
func (s *Session) Collect(ctx context.Context, opts CollectOptions) (Result, error) {
	if opts.MinDigits < 1 {
		opts.MinDigits = 1
	}
	if opts.MaxDigits < opts.MinDigits {
		opts.MaxDigits = opts.MinDigits
	}
	if opts.Terminators == "" {
		opts.Terminators = "#"
	}
	if opts.NoTerminator {
		opts.Terminators = ""
	}
	if opts.FirstDigitTimeout <= 0 {
		opts.FirstDigitTimeout = 5 * time.Second
	}
	if opts.InterDigitTimeout <= 0 {
		opts.InterDigitTimeout = 3 * time.Second
	}
	var res Result
	for attempt := 1; ; attempt++ {
		res = Result{Attempts: attempt}
		err := s.attempt(ctx, &opts, &res)
		if err == nil {
			return res, nil
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		if !errors.Is(err, ErrNoInput) && !errors.Is(err, ErrInvalid) {
			return res, err
		}
		s.Flush()
		after := opts.InvalidPrompt
		if errors.Is(err, ErrNoInput) {
			after = opts.NoInputPrompt
		}
		if perr := s.Play(ctx, after...); perr != nil {
			return res, perr
		}
		if attempt > opts.Retries {
			return res, err
		}
	}
}

func (s *Session) attempt(ctx context.Context, opts *CollectOptions, res *Result) error {
	if _, err := s.play(ctx, !opts.NoBargeIn, opts.Prompts); err != nil {
		return err
	}
	var digits strings.Builder
	timeout := opts.FirstDigitTimeout
	for digits.Len() < opts.MaxDigits {
		k, err := s.NextKey(ctx, timeout)
		if err != nil {
			return err
		}
		if k == 0 { // timeout
			if digits.Len() == 0 {
				return ErrNoInput
			}
			break
		}
		if strings.ContainsRune(opts.Terminators, k) {
			res.Terminator = k
			break
		}
		digits.WriteRune(k)
		timeout = opts.InterDigitTimeout
	}
	res.Digits = digits.String()
	if len(res.Digits) < opts.MinDigits {
		if res.Digits == "" && res.Terminator == 0 {
			return ErrNoInput
		}
		return fmt.Errorf("%w: %q is shorter than %d", ErrInvalid, res.Digits, opts.MinDigits)
	}
	if opts.Pattern != nil {
		if loc := opts.Pattern.FindStringIndex(res.Digits); loc == nil || loc[0] != 0 || loc[1] != len(res.Digits) {
			return fmt.Errorf("%w: %q does not match %s", ErrInvalid, res.Digits, opts.Pattern)
		}
	}
	return nil
}

// Collect is a one-off play-and-collect on l: NewSession, Collect, Close.
// Keys pressed before the call are not seen; a bot that collects more than
// once keeps a Session.
func Collect(ctx context.Context, l Line, opts CollectOptions) (Result, error) {
	s := NewSession(l)
	defer s.Close()
	return s.Collect(ctx, opts)
}
