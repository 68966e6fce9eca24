// Package peers drives real third-party SIP peers (baresip, SIPp, linphonec
// and Kamailio) from Go
// integration tests, so that Switchboard is tested against software it did
// not write.
//
// Every peer runs on the loopback interface only, on ports chosen at run time,
// in a private temporary directory that is removed when the test ends. The
// helpers take a testing.TB, call t.Helper, and register their own cleanup
// with t.Cleanup. A test never skips because a peer binary is missing: it
// fails and tells the reader to run scripts/test, which installs the peers.
//
// # baresip
//
// StartBaresip writes a config directory and starts baresip 1.0.0 headless.
// The harness drives it over the ctrl_tcp module: netstring-framed JSON
// commands such as {"command":"dial","params":"sip:...","token":"1"}, answered
// by {"response":true,"ok":true,"data":"...","token":"1"}, with events such as
// {"event":true,"type":"CALL_ESTABLISHED",...} pushed on the same connection.
// Behaviour of baresip 1.0.0 that was verified on this machine and that the
// harness relies on:
//
//   - The commands dial, accept, hangup and sndcode live in the menu module,
//     so menu.so must be loaded as a module_app next to ctrl_tcp.so.
//     ctrl_tcp serves one client at a time: a second connection makes it drop
//     the first.
//   - The aufile module is an audio source only; no audio player is needed:
//     without one the receive pipeline is "(play) <--- sndfile <--- PCMU" and
//     works. Without an audio_source line baresip picks aufile with an empty
//     file name and the call fails, so the harness always supplies a WAV,
//     generating two minutes of silence when none is given.
//   - aufile requires the WAV's sample rate and channel count to equal
//     ausrc_srate and ausrc_channels; the harness reads the WAV header and
//     sets both, and baresip resamples to the codec rate.
//   - When the WAV file ends, baresip hangs up the call (event AUDIO_ERROR,
//     then CALL_CLOSED). Make the file longer than the call.
//   - Codecs are restricted with the account parameter audio_codecs, e.g.
//     ";audio_codecs=PCMA"; unknown names are logged and ignored.
//   - sndcode sends every digit of its argument as RFC 4733 telephone-events;
//     the receiver reports each digit as CALL_DTMF_START (param is the digit)
//     followed by CALL_DTMF_END (no param). Without a call, sndcode fails with
//     "command not found (sndcode)".
//   - The sndfile module records every call to
//     <snd_path>/dump-YYYY-MM-DD-HH-MM-SS-dec.wav (decoded, received audio)
//     and ...-enc.wav (sent audio), 16-bit mono at the codec rate. The names
//     have one-second resolution, so two calls started in the same second on
//     one instance overwrite each other. While recording, the RIFF and data
//     sizes in the header are zero; they are written when the call ends.
//   - For duplicate config keys baresip uses the first occurrence.
//   - baresip also listens for SIP over TCP on the SIP port and on the port
//     after it, so the harness reserves both.
//
// # SIPp
//
// RunSIPp and StartSIPp run SIPp 3.6.1 with -nostdin in a private working
// directory, bound to 127.0.0.1 unless the caller passes -i, and always with
// -trace_stat and -trace_err, whose files are parsed into SIPpResult. SIPp
// exits with code 0 only when every call succeeded. It stops gracefully on
// SIGUSR1, dumping its final statistics; the harness uses that signal to stop
// it when the context ends or the test cleans up.
//
// # linphonec
//
// StartLinphone starts linphonec 5.1 with a private HOME (it never opens its
// SIP port without $HOME/.local/share/linphone) and config file, and drives
// it by writing commands to its standard input: "soundcard use files",
// "play FILE" (the microphone), "record FILE" (received audio, for the calls
// that start afterwards), "call URI", "answer", "transfer URI", "terminate".
// It answers nothing a driver could wait for, so the driver parses the lines
// it prints about calls into Events with baresip's names (CALL_INCOMING,
// CALL_RINGING, CALL_ESTABLISHED, CALL_RTPESTAB, CALL_CLOSED). Verified on
// this machine: IPv6 must be switched off in the config (use_ipv6=0,
// ipv6_migration_done=1) or its SDP says c=IN IP6; sip_tcp_port=-1 would
// mean a random port; the recordings' WAV header sizes, written at the end of
// the call, exceed the file (by 44 bytes or more), which the driver corrects;
// its jitter buffer breaks a tone's phase now and then, so check received
// audio frame by frame (dsp.ToneFraction), not with one whole-file Goertzel.
// linphonec sends its BYE about a millisecond after answering a transfer's
// final NOTIFY (0.8 ms measured through Kamailio).
//
// # Kamailio
//
// StartKamailio runs Kamailio 5.6 in the foreground (-DD -E) as a stateless,
// record-routing proxy in front of one backend, with a config written to a
// private directory, on a free UDP port of 127.0.0.1. It logs one line per
// message it receives, which Trace returns, so a test can check that a
// dialog's requests really went through it.
package peers
