// Package ivr is the play-and-collect engine of bots (Asterisk's
// Read/WaitExten, FreeSWITCH's play_and_get_digits, UCMA's tone
// controller): prompts decoded once and cached as PCM, barge-in, digit
// collection with first-digit and inter-digit timeouts, terminators, a
// valid pattern and retries with "invalid" and "no input" prompts; and
// an [Announcer] that plays into a conference from a hidden trusted leg.
//
// A [Session] listens to a call's key presses — [endpoint.Call.OnDTMF]
// merges RFC 4733 telephone-events, SIP INFO and in-band tones — from
// its creation, so digits typed ahead during a prompt are kept:
//
//	s := ivr.NewSession(call)
//	defer s.Close()
//	v := ivr.Voice() // the project's spoken prompts
//	res, err := s.Collect(ctx, ivr.CollectOptions{
//		Prompts:       []ivr.Prompt{v["enter_orbit"]},
//		MaxDigits:     4,                          // "#" ends early
//		Pattern:       regexp.MustCompile(`7[0-9]{3}`),
//		Retries:       2,
//		InvalidPrompt: []ivr.Prompt{v["invalid"]},
//		NoInputPrompt: []ivr.Prompt{v["noinput"]},
//	})
//	switch {
//	case errors.Is(err, ivr.ErrNoInput), errors.Is(err, ivr.ErrInvalid):
//		_ = s.Play(ctx, v["goodbye"])
//	case err == nil:
//		retrieve(res.Digits)
//	}
//
// A key press stops a prompt played with barge-in within one 20 ms frame
// of its arrival (an RFC 4733 key arrives with its end packet, so after
// the key's own duration). The bundled menu app (apps/ivr) and its
// webhook mode are built on this package.
package ivr
