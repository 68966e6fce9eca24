// Package recorder records calls, back-to-back calls and conferences to
// WAV files with a JSON sidecar (UCMA's Recorder, with per-leg and
// per-participant tracks).
//
// A Recorder attaches to the audio the platform already has: what a call
// hears or sends (observers of its flow, which see decoded PCM in every
// consumer mode, the b2b relay included: the relay keeps forwarding
// packets undecoded and each leg is decoded once, with its own codec),
// and a conference's mix (a tap on its mixer) and its participants. The
// tracks are laid out as one mono mix, a stereo file (one leg a channel),
// one channel per track, or one file per track, in 16-bit PCM or G.711.
//
// Every track runs on one clock: a goroutine per recorder pulls a 20 ms
// frame from each track per tick, a fixed latency behind real time, and
// fills what did not arrive — loss, hold, DTX, a late start — with
// silence. Tracks never drift apart, and a file lasts as long as the
// recording did on the wall clock. Audio is placed by when it was spoken,
// not by when its packets happened to arrive (see track.go).
//
// Files are crash-safe: about once a second the audio is synced and the
// WAV header rewritten to describe it, so after a kill -9 a reader finds
// a valid file holding everything but the last second. A failing write
// (disk full) stops the recording with an error event and leaves what
// was written valid; the calls go on.
//
//	rec, err := recorder.New(recorder.Config{Dir: "recordings", Layout: recorder.Stereo})
//	if err != nil {
//		return err // names the directory if it is missing or read-only
//	}
//	rec.OnStateChanged(func(sc recorder.StateChange) { log.Println(sc.State, sc.Reason) })
//	if err := rec.AddB2B(bridged); err != nil { // caller left, callee right
//		return err
//	}
//	if err := rec.Start(); err != nil {
//		return err
//	}
//	<-rec.Done() // the call ended, or Stop, MaxDuration, SilenceTimeout
package recorder
