// Package mix is the audio mixer of a conference (the media part of an
// MCU): mix-minus for every leg in O(N), one shared encode per codec for
// the legs that are not talking, click-free fades, whispers and
// exclusion, a peak limiter on every mix, a 16 kHz mix while a listener
// is wideband (8 kHz otherwise), RFC 3389 comfort noise in silence for
// outputs that negotiated it, and taps that hear the whole mix. It pulls its legs' audio
// through [Input]s (a call's media.FrameReader) and sends through
// [Output]s (the call's media.Flow); it knows nothing of SIP, rosters or
// conferences, which live in package conference.
package mix
