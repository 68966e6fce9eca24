// Package b2b implements back-to-back calls: two calls (legs) paired so
// that signalling and media pass between them, the job a trusted bot does
// most often — sitting between a caller and someone else, or between a
// caller and a conference.
//
// Leg 1 is usually an incoming call that has not been answered; leg 2 an
// idle call with a destination, or a call already joined to a conference
// (no destination). Establish places leg 2, passes its provisional
// responses back (180, and 183 with early media bridged), maps its failure
// onto leg 1 (486 stays 486, no answer becomes 480), answers leg 1 when leg
// 2 answers, and relays media (as is when the codecs match, transcoded
// between PCMU and PCMA otherwise). Either leg ending ends the other; hold
// and retrieve on one leg are passed to the other; a REFER on a leg is
// carried out inside the back-to-back call.
//
//	b, err := b2b.New(b2b.Leg{Call: incoming},
//		b2b.Leg{Call: ep.NewConversation().NewCall(), Destination: "sip:bob@pbx"},
//		b2b.Options{ImpersonateCaller: true, PassHeaders: []string{"X-Account"}})
//	err = b.Establish(ctx)
//
// Into a conference (the UCMA way, seed 002): join the conference first,
// impersonating the caller or with a generated identity, then pass that
// joined call as leg 2 with no destination. Passing the conference URI as a
// two-party destination is refused with ErrConferenceDestination, which
// says what to do instead.
package b2b
