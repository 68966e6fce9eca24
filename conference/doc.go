// Package conference will hold the conference focus and MCU: conferences
// by URI, a roster where a URI appears once, trusted participants with
// generated identities, mix-minus audio, control and RFC 4575 roster
// events, and escalation of a two-party call.
//
// Status: not implemented yet; see docs/architecture.md for where it fits.
// The media taps it needs exist already (media.Session.AddTap and
// WriteFrame).
package conference
