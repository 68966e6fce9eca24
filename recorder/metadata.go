package recorder

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// Metadata is the JSON sidecar written next to the audio (<name>.json):
// what was recorded, from whom, in which file and channel, when, and why
// it stopped. It is written at Start (without End) and again at the end.
type Metadata struct {
	// ID is the recording's id (a UUID).
	ID string `json:"id"`
	// CallID and ConferenceID identify what was recorded.
	CallID       string `json:"call_id,omitempty"`
	ConferenceID string `json:"conference_id,omitempty"`
	// Parties are the URIs of the parties recorded.
	Parties []string `json:"parties,omitempty"`
	// Layout, SampleRate (Hz) and PauseMode are the configuration used.
	Layout     string `json:"layout"`
	SampleRate int    `json:"sample_rate"`
	PauseMode  string `json:"pause_mode"`
	// Files lists the audio files and which channel holds whom.
	Files []FileInfo `json:"files"`
	// Start and End are wall-clock times of the recording.
	Start time.Time `json:"start"`
	End   time.Time `json:"end,omitzero"`
	// Duration is the length of the audio files in seconds (less than
	// End-Start by the pauses with PauseOmit).
	Duration float64 `json:"duration_seconds"`
	// Pauses lists the pauses.
	Pauses []Pause `json:"pauses,omitempty"`
	// StopReason says why the recording ended; Error the write error, if
	// any.
	StopReason StopReason `json:"stop_reason,omitempty"`
	Error      string     `json:"error,omitempty"`
}

// FileInfo describes one audio file of a recording.
type FileInfo struct {
	// Name is the file's name in the storage.
	Name string `json:"name"`
	// Encoding is the sample format written: "pcm16", "pcmu" or "pcma".
	Encoding string `json:"encoding"`
	// Channels lists the tracks in the file; with Mono several tracks
	// share channel 0.
	Channels []ChannelInfo `json:"channels"`
}

// ChannelInfo says whom a channel of a file holds.
type ChannelInfo struct {
	// Channel is the channel's index, 0 = left.
	Channel int `json:"channel"`
	// Label names the track (by default the party's URI, or "mix").
	Label string `json:"label"`
	// Party is the URI of the party heard on the track, when known.
	Party string `json:"party,omitempty"`
	// Source is what the track records: "heard" (what a call receives:
	// the remote party), "sent" (what a call sends), "mix" (a
	// conference's mix) or "participant" (one conference participant).
	Source string `json:"source"`
	// Codec is the leg's codec when recording started.
	Codec string `json:"codec,omitempty"`
}

// Pause is one pause of a recording.
type Pause struct {
	// Start and End are wall-clock times; End is zero while paused.
	Start time.Time `json:"start"`
	End   time.Time `json:"end,omitzero"`
	// FileOffset is where in the files (seconds) the pause begins: with
	// PauseSilence the silence starts there, with PauseOmit the audio
	// before and after the pause meets there.
	FileOffset float64 `json:"file_offset_seconds"`
}

// ReadMetadata decodes a sidecar: what an application listing recordings
// reads back.
func ReadMetadata(r io.Reader) (*Metadata, error) {
	var m Metadata
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		return nil, fmt.Errorf("recorder: metadata: %w", err)
	}
	return &m, nil
}

// writeSidecar writes m as <name>.json through s.
func writeSidecar(s Storage, name string, m *Metadata) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("recorder: metadata: %w", err)
	}
	f, err := s.Create(name)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("recorder: %s: %w", name, err)
	}
	return nil
}
