// Package conference is Switchboard's conference focus and MCU.
//
// A [Service] hosts conferences on a platform. Each [Conference] has a URI
// (sip:conf-<id>@host); SIP phones join by sending it an INVITE, and
// applications join through [Join] with join options. The focus owns the
// roster and control; the [Mixer] owns the audio: every participant hears
// everyone but itself (mix-minus, summed in int32 and limited once), and
// listeners who are not talking share one encoded mix per codec. With
// G722 in Config.Codecs, wideband phones join on G.722 and the conference
// mixes at 16 kHz while one of them is in it; G.711 phones still hear
// 8 kHz. With CN in Config.Codecs, phones that negotiate it get RFC 3389
// comfort noise in silence instead of silent audio.
//
// Roster rules (the UCMA model):
//   - A SIP URI appears in a roster at most once (compared as
//     scheme:user@host, ignoring port and parameters). A second ordinary
//     join with a URI already present is refused with 486 and the reason
//     "Already In Conference".
//   - Trusted participants are joined by application endpoints of the same
//     platform (or by configured trusted peers); anyone else asking for a
//     trusted join gets 403. Trusted participants are leaders, never wait,
//     are hidden from the roster that SIP subscribers see (RFC 4575) and
//     are reported, flagged, to applications.
//   - With a generated identity (endpoint.EstablishOptions.GeneratedIdentity
//     or JoinOptions.GeneratedIdentity) each call gets a fresh hidden URI,
//     so one application can hold many calls in one conference; with
//     endpoint.Conversation.Impersonate each call gets a visible URI of the
//     application's choosing instead.
//   - A locked conference refuses new ordinary joins with 403 "Conference
//     Locked"; a full one refuses them with 486 "Conference Full".
//
// Lifetime: a conference ends when its last ordinary participant leaves
// (trusted participants alone do not keep it alive: after
// Config.TrustedOnlyGrace they are disconnected too), or when End is
// called. Conferences created on the fly by dialling (Config.AdHoc) end the
// same way.
//
//	svc, _ := conference.New(p, conference.Config{AdHoc: true})
//	conf, _ := svc.Create("sales", conference.Options{})
//	// phones dial conf.URI(); an app joins twice, hidden:
//	player, _ := conference.Join(ctx, ep.NewConversation(), conf.URI(),
//		conference.JoinOptions{Trusted: true, GeneratedIdentity: true})
package conference
