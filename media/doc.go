// Package media is the RTP transport of a call: everything between its
// UDP socket and the decoded audio the rest of Switchboard plays, mixes,
// relays or records. The sibling packages split the rest by concern:
// media/codec (G.711 and the codec seam), media/audio (PCM: WAV and MP3
// files, the resampler, sources and players), media/mix (the conference
// mixer), media/sdp (offer/answer) and media/dsp (tones and DTMF).
//
//   - [Session] is the RTP session of one call: symmetric RTP (it answers
//     to where media comes from), RFC 3550 statistics (loss, jitter, late
//     packets, SSRC changes) and RTCP reports on RTP+1, RFC 4733 DTMF in
//     both directions (one event per key press, floods bounded).
//   - The receive path has exactly one consumer, taken explicitly and
//     refused to a second taker with a [ConsumerError] naming the owner:
//     packets as they arrive ([Session.TakePackets], a relay), frames
//     pulled through a [JitterBuffer] with loss concealment
//     ([Session.TakeFrames], a mixer or recorder), or decoded audio pushed
//     to a sink ([Session.TakeAudio], an app). Any number of observers see
//     what the session hears and sends ([Session.ObserveHeard],
//     [Session.ObserveSent]) in every mode, each direction decoded at most
//     once per packet and not at all when nobody listens.
//   - [Flow] is what applications get of a call's session (endpoint's
//     Call.Flow): play, receive, pull, observe, statistics — not the
//     session's remote address, codec or direction, which follow
//     offer/answer.
//   - [Relay] joins two flows for back-to-back calls: payloads forwarded
//     as is with each leg's own SSRC, sequence and timestamp, or
//     transcoded between PCMU and PCMA; DTMF relayed or played in-band.
//   - [Session.SetSRTP] turns on SRTP and SRTCP (RFC 3711, pion/srtp)
//     with SDES keys ([SRTPKeys]): a transform right on the socket, so
//     everything above it, relays and recorders included, sees plain RTP.
//   - [PortRange] hands out RTP/RTCP socket pairs.
//
// Who owns which goroutine: a Session runs one reader goroutine (and one
// for RTCP); consumers and heard observers run on it. TakeAudio with a
// jitter buffer adds one 20 ms playout goroutine. Close stops and waits
// for all of them.
package media
