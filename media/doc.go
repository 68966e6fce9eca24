// Package media is Switchboard's audio engine: everything between a call's
// RTP socket and the PCM an application plays or hears.
//
//   - [Session] is the RTP session of one call: symmetric RTP (it answers
//     to where media comes from), RFC 3550 statistics (loss, jitter, late
//     packets, SSRC changes) and RTCP reports on RTP+1, RFC 4733 DTMF in
//     both directions (one event per key press, floods bounded), taps on
//     what the call hears ([Session.AddTap]) and sends
//     ([Session.AddSendTap]), and an optional [JitterBuffer] with loss
//     concealment that a consumer's clock pulls ([Session.ReadFrame]) or
//     the session plays out itself ([Session.StartPlayout]).
//   - [Codec] is the codec seam: G.711 [PCMU] and [PCMA] are table-driven
//     and stateless; stateful codecs (G.722 later) implement [StreamCodec]
//     and callers use [NewEncoder]/[NewDecoder] unchanged.
//   - [Player] plays a [Source] (WAV, MP3, tone, silence) to many sessions
//     in sync: one decode and resample per frame, one encode per codec,
//     however many calls listen; loops are gapless.
//   - [Relay] joins two sessions for back-to-back calls: payloads forwarded
//     as is with each leg's own SSRC, sequence and timestamp, or
//     transcoded between PCMU and PCMA; DTMF relayed or played in-band.
//   - [Resampler] converts any rate to the call's with a windowed-sinc
//     anti-aliasing filter; WAV files are read and written by [ReadWAV],
//     [OpenWAV] and [CreateWAV].
//
// SDP offer/answer is in media/sdp; tone and DTMF generation and detection
// are in media/dsp.
//
//	src, _ := media.OpenMP3("hold.mp3")
//	moh, _ := media.NewPlayer(src, media.PlayerConfig{Loop: true})
//	moh.Start()
//	moh.Attach(call.Media()) // and any number of other calls
package media
