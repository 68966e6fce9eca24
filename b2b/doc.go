// Package b2b implements back-to-back calls: two calls (legs) paired so
// that signalling and media pass between them, the job a trusted bot does
// most often — sitting between a caller and someone else, or between a
// caller and a conference.
//
// Leg 1 is usually an incoming call that has not been answered yet (an
// established call is accepted too); leg 2 is either an idle call with a
// destination, or a call that is already established, such as one joined
// to a conference, with no destination. Establish places leg 2, passes its
// provisional responses back (180, and 183 with early media bridged), maps
// its failure onto leg 1 (486 stays 486, no answer becomes 480), answers
// leg 1 when leg 2 answers, and relays media (as is when the codecs match,
// transcoded between PCMU and PCMA otherwise). Either leg ending ends the
// other; hold and retrieve on one leg are passed to the other; a REFER on a
// leg is carried out inside the back-to-back call: the referred party is
// called and takes that leg's place, so the far end need not support
// transfers.
//
//	b, err := b2b.New(b2b.Leg{Call: incoming},
//		b2b.Leg{Call: ep.NewConversation().NewCall(), Destination: "sip:bob@pbx"},
//		b2b.Options{ImpersonateCaller: true, PassHeaders: []string{"X-Account"}})
//	err = b.Establish(ctx)
//
// A conference is not a two-party destination: it has a roster and a mixer
// of its own, and the bot's leg to it is a participant like any other. So
// a caller is put into a conference in two steps: first the bot joins the
// conference itself (conference.Join, presenting the caller's identity or
// a generated one), then it pairs the caller with that joined call, passed
// as leg 2 with no destination. Passing the conference URI as a
// destination is refused with ErrConferenceDestination, which says so.
//
//	joined, err := conference.Join(ctx, ep.NewConversation(), confURI, conference.JoinOptions{GeneratedIdentity: true})
//	b, err := b2b.New(b2b.Leg{Call: incoming}, b2b.Leg{Call: joined}, b2b.Options{})
//	err = b.Establish(ctx)
package b2b
