// Package recorder will record calls and conferences to WAV, including
// dual-leg (one track per side) recording kept in sync with silence fill.
//
// Status: not implemented yet. The pieces it will build on exist:
// media.Session.AddTap for what a call hears and audio.CreateWAV for
// streaming 16-bit PCM files.
package recorder
