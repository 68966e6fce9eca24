// Package holdmusic is the music-on-hold app: it plays looping hold music
// to callers and to calls put on hold, from one shared player per music
// source.
//
// The model is FreeSWITCH's local_stream: each configured source (a file,
// or a directory played as a playlist) is opened once and played by one
// looping [audio.Player] in automatic mode, which decodes each 20 ms frame
// once however many calls listen, runs only while somebody listens, and
// lets a new listener join mid-stream rather than from the top. The
// package embeds a royalty-free default loop (default.mp3, made by
// make-default.sh): soft sine-tone chords over a steady marker tone of
// [DefaultMarkerHz] that tests detect. The default loop, like a directory,
// is decoded to 8 kHz once at start and played from memory, so its player
// costs no MP3 decoding per frame; an MP3 File is decoded as it plays.
//
// Calls reach the music in two ways. The [Service.Handler] answers calls
// to sip:moh@host (the default source) and sip:moh-<name>@host (the source
// called name) and plays until the caller hangs up; [New] routes both on
// the platform and registers the Service with it, so closing the platform
// closes the music. An application holding a call uses [Service.Player]
// with [endpoint.Call.HoldWithMusic].
//
//	moh, err := holdmusic.New(p, holdmusic.Config{ // sip:moh@ and sip:moh-jazz@
//		Sources: map[string]holdmusic.SourceConfig{
//			"jazz": {Dir: "/var/lib/moh/jazz", Shuffle: true},
//		},
//	})
//	if err != nil {
//		return err // a missing, corrupt or empty source fails here
//	}
//	...
//	jazz, _ := moh.Player("jazz")
//	err = call.HoldWithMusic(ctx, jazz)
package holdmusic
