// Package b2b will hold BackToBackCall: two calls (legs) paired so that
// signalling and media pass between them, including legs into a
// conference.
//
// Status: not implemented yet. The package exists so that the layout shows
// the architecture; the design it will follow (leg settings, failure
// mapping, header allow-list, RTP relay and transcoding, conference legs
// with no destination) is tracked in the project's BackToBackCall issue and
// described in docs/architecture.md.
package b2b
