package recorder

import (
	"fmt"
	"log/slog"
	"time"
)

// Layout says how tracks map onto files and channels.
type Layout int

// Layouts.
const (
	// Mono mixes every track into one channel of one file.
	Mono Layout = iota
	// Stereo puts two tracks in the left and right channels of one file,
	// in the order added (a back-to-back call: leg 1's caller left, leg
	// 2's callee right).
	Stereo
	// MultiChannel puts every track in its own channel of one file, in
	// the order added.
	MultiChannel
	// FilePerTrack writes one mono file per track, all of the same length.
	FilePerTrack
)

func (l Layout) String() string {
	switch l {
	case Mono:
		return "mono"
	case Stereo:
		return "stereo"
	case MultiChannel:
		return "multichannel"
	case FilePerTrack:
		return "file-per-track"
	}
	return fmt.Sprintf("Layout(%d)", int(l))
}

// Encoding is the sample format of the files.
type Encoding int

// Encodings.
const (
	// PCM16 writes 16-bit linear PCM (WAVE format 1).
	PCM16 Encoding = iota
	// PCMU writes G.711 µ-law (WAVE format 7), 8 bits a sample.
	PCMU
	// PCMA writes G.711 A-law (WAVE format 6).
	PCMA
	// Native writes a file in the G.711 law its tracks already use, when
	// they all use the same one; otherwise PCM16. The observers hand the
	// recorder decoded PCM, and G.711 decoding is exactly inverted by
	// encoding, so the bytes in the file are the bytes on the wire.
	Native
)

func (e Encoding) String() string {
	switch e {
	case PCM16:
		return "pcm16"
	case PCMU:
		return "pcmu"
	case PCMA:
		return "pcma"
	case Native:
		return "native"
	}
	return fmt.Sprintf("Encoding(%d)", int(e))
}

// PauseMode says what paused time becomes in the files.
type PauseMode int

// Pause modes. Either way the pauses are listed in the sidecar.
const (
	// PauseOmit leaves paused time out of the files: they are shorter
	// than the wall-clock time by the pauses.
	PauseOmit PauseMode = iota
	// PauseSilence writes paused time as silence: the files keep the
	// wall-clock length.
	PauseSilence
)

func (m PauseMode) String() string {
	if m == PauseSilence {
		return "silence"
	}
	return "omit"
}

// Config configures a Recorder. The zero value records a mono 16-bit WAV
// into ./recordings.
type Config struct {
	// Dir is the directory of the default storage (Dir). Default
	// "recordings". Ignored with WithStorage. It must exist and be
	// writable: New checks.
	Dir string `yaml:"dir"`
	// Name is the template of file names, without extension: {id} (the
	// recording's id), {start} (UTC, 20060102T150405Z), {call} and
	// {conference} (ids, when known) are replaced. Default
	// "{start}-{id}". The sidecar is <name>.json; the audio <name>.wav, or
	// <name>-<n>-<label>.wav per track with FilePerTrack.
	Name string `yaml:"name"`
	// Layout of tracks in files. Default Mono.
	Layout Layout `yaml:"layout"`
	// Encoding of the files. Default PCM16.
	Encoding Encoding `yaml:"encoding"`
	// PauseMode says what paused time becomes. Default PauseOmit.
	PauseMode PauseMode `yaml:"pause_mode"`
	// MaxDuration stops the recording (reason StopMaxDuration) this long
	// after Start, pauses included. Default 0: no limit.
	MaxDuration time.Duration `yaml:"max_duration"`
	// SilenceTimeout stops the recording (reason StopSilence) when no
	// track has had voice for this long. Default 0: never.
	SilenceTimeout time.Duration `yaml:"silence_timeout"`
	// VoiceLevel is the level, in dBFS of a frame's RMS, from which a
	// track has voice (voice activity events, SilenceTimeout). Default
	// -45.
	VoiceLevel float64 `yaml:"voice_level"`
	// Latency is how far behind real time the recorder's clock reads the
	// tracks: the network jitter it absorbs when it places audio. Default
	// 300 ms; at most 1 s.
	Latency time.Duration `yaml:"latency"`
	// SyncInterval is how often the files are synced and their WAV
	// headers updated, which bounds what a crash loses. Default 1 s.
	SyncInterval time.Duration `yaml:"sync_interval"`
	// CallID, ConferenceID and Parties go into the sidecar. Sources fill
	// them in when they are empty (AddCall: the call's Call-ID and remote
	// party; AddConference: the conference id).
	CallID       string   `yaml:"call_id"`
	ConferenceID string   `yaml:"conference_id"`
	Parties      []string `yaml:"parties"`
}

// Option sets a dependency of a Recorder.
type Option func(*Recorder)

// WithStorage makes the recorder write through s instead of the
// directory Config.Dir.
func WithStorage(s Storage) Option { return func(r *Recorder) { r.store = s } }

// WithLogger sets the logger; default: discard.
func WithLogger(l *slog.Logger) Option { return func(r *Recorder) { r.log = l } }

// frameDur is the recorder's frame: every track is pulled once per frame.
const frameDur = 20 * time.Millisecond

// sampleRate is the rate of the recordings: the G.711 rate, which every
// codec of the platform decodes to.
const sampleRate = 8000

// wideRate is the rate of a recording with a wideband leg.
const wideRate = 16000

func (c *Config) defaults() error {
	if c.Dir == "" {
		c.Dir = "recordings"
	}
	if c.Name == "" {
		c.Name = "{start}-{id}"
	}
	if c.VoiceLevel == 0 {
		c.VoiceLevel = -45
	}
	if c.Latency <= 0 {
		c.Latency = 300 * time.Millisecond
	}
	if c.SyncInterval <= 0 {
		c.SyncInterval = time.Second
	}
	switch {
	case c.Latency > time.Second:
		return fmt.Errorf("recorder: latency %v is over 1s", c.Latency)
	case c.Layout < Mono || c.Layout > FilePerTrack:
		return fmt.Errorf("recorder: unknown layout %d", int(c.Layout))
	case c.Encoding < PCM16 || c.Encoding > Native:
		return fmt.Errorf("recorder: unknown encoding %d", int(c.Encoding))
	case c.MaxDuration < 0 || c.SilenceTimeout < 0:
		return fmt.Errorf("recorder: negative max duration or silence timeout")
	}
	return nil
}
