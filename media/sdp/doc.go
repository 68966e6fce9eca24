// Package sdp implements the SDP offer/answer model (RFC 3264) for
// Switchboard's audio calls on top of github.com/pion/sdp/v3.
//
// A call describes what it can do with a [Local] (RTP address, formats in
// preference order, direction). [Offer] turns that into an offer; [Answer]
// answers a remote offer, choosing the first audio format of the offerer that
// the local side supports (or the local side's first, with
// [Local.PreferLocal]), echoing telephone-event when offered, and
// rejecting every other m-line with port 0 (RFC 3264 section 6). [ParseAnswer]
// reads the answer to an offer. Failures that a UAS must answer with 488 Not
// Acceptable Here are reported as [*NegotiationError].
//
// [Local.SRTP] adds SRTP keying by SDES (RFC 4568, crypto.go): offers
// carry a=crypto lines (RTP/SAVP when [SRTPRequired]), answers take the
// first usable a=crypto of the offer, and [Negotiated.Crypto] holds the
// keys of both directions for media.Session.SetSRTP.
//
//	local := sdp.Local{Addr: netip.MustParseAddrPort("127.0.0.1:20000"),
//		Formats: sdp.DefaultFormats(), Direction: sdp.SendRecv}
//	answer, neg, err := sdp.Answer(offerBytes, &local)
//	if err != nil { /* reply 488 */ }
//	_ = neg.Remote // where to send RTP
package sdp
