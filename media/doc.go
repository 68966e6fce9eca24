// Package media holds Switchboard's audio plumbing.
//
// This part of the package covers audio as data: the G.711 codecs ([PCMU],
// [PCMA], looked up by SDP name with [CodecByName]) behind the [Codec]
// interface, reading and writing WAV files ([ReadWAV], [OpenWAV],
// [WriteWAV], and the streaming [WAVWriter] for recordings), and rate
// conversion with [Resampler] and [DownmixStereo], so that prompts in
// common formats can be played into 8 kHz calls.
//
// The RTP media session lives in this package too, in its own files; SDP
// parsing and generation is in the media/sdp subpackage. Tone generation
// and detection for tests is in media/dsp.
package media
