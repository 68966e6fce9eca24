// Package audio is PCM away from the network: WAV files ([ReadWAV],
// [OpenWAV], [CreateWAV]), MP3 files decoded gaplessly ([OpenMP3]), the
// windowed-sinc [Resampler], [Source]s (files, tones, silence) and the
// [Player], which plays one source to many calls in step — one decode
// and resample per frame, one encode per codec, however many listen.
//
// A Player sends to [Output]s (a call's media.Flow is one) and to
// [Sink]s (a mixer's queue, a recorder). The package knows nothing of
// RTP sockets or SIP.
package audio
