package recorder

import (
	"errors"
	"fmt"

	"github.com/switchboard-sip/switchboard/b2b"
	"github.com/switchboard-sip/switchboard/conference"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/media"
)

// errNoMedia is media.ErrNoMedia, matched with errors.Is.
var errNoMedia = media.ErrNoMedia

// Direction says which audio of a call a track records.
type Direction int

// Directions.
const (
	// Heard is what the call receives: the remote party's voice.
	Heard Direction = 1 << iota
	// Sent is what the call sends: prompts, a mix, the other leg.
	Sent
	// Both adds a Heard and a Sent track, in that order.
	Both = Heard | Sent
)

// TrackOptions name a track.
type TrackOptions struct {
	// Label names the track in the sidecar (and, with FilePerTrack, in
	// the file name). Default: the party's URI, or "heard"/"sent".
	Label string
	// Party is the URI of whom the track holds, for the sidecar.
	Party string
}

// AddFlow adds tracks recording a flow: what it hears, sends, or both
// (two tracks). Observing costs the flow one decode per packet for all
// observers, even when it is relayed undecoded. It must be called before
// Start; a nil flow (a call without media) is an error wrapping
// media.ErrNoMedia.
func (r *Recorder) AddFlow(f *media.Flow, d Direction, opts TrackOptions) error {
	if f == nil || f.Codec() == nil {
		return fmt.Errorf("recorder: add flow: %w", errNoMedia)
	}
	if d&Both == 0 {
		return errors.New("recorder: add flow: no direction")
	}
	return r.addFlow(f, d, opts, nil)
}

func (r *Recorder) addFlow(f *media.Flow, d Direction, opts TrackOptions, end <-chan struct{}) error {
	for _, dir := range []Direction{Heard, Sent} {
		if d&dir == 0 {
			continue
		}
		src, label := srcHeard, opts.Label
		if dir == Sent {
			src = srcSent
		}
		if label == "" {
			label = opts.Party
		}
		if label == "" || d == Both {
			if label != "" {
				label += " "
			}
			label += src.String()
		}
		if err := r.addTrack(newTrack(r, src, f, label, opts.Party, r.ringSamples), end); err != nil {
			return err
		}
		end = nil
	}
	return nil
}

// AddCall adds tracks recording a call (see AddFlow); the Heard track is
// labelled with the remote party's URI, the Sent track with the local
// one. The recording stops (StopSourceEnded) when the call ends. The
// call's Call-ID and remote party go into the sidecar unless Config set
// them.
func (r *Recorder) AddCall(c *endpoint.Call, d Direction, opts TrackOptions) error {
	if c == nil {
		return fmt.Errorf("recorder: add call: %w", errNoMedia)
	}
	f := c.Flow()
	if f == nil || f.Codec() == nil {
		return fmt.Errorf("recorder: add call %s: %w", c.CallID(), errNoMedia)
	}
	if d&Both == 0 {
		return errors.New("recorder: add call: no direction")
	}
	r.mu.Lock()
	if r.cfg.CallID == "" {
		r.cfg.CallID = c.CallID()
	}
	r.addParty(c.RemoteURI())
	r.mu.Unlock()
	if d&Heard != 0 {
		o := opts
		if o.Party == "" {
			o.Party = c.RemoteURI()
		}
		if err := r.addFlow(f, Heard, o, c.Done()); err != nil {
			return err
		}
	}
	if d&Sent != 0 {
		o := opts
		if o.Party == "" {
			o.Party = c.LocalURI()
		}
		if o.Label == "" {
			o.Label = o.Party + " sent"
		}
		if err := r.addFlow(f, Sent, o, c.Done()); err != nil {
			return err
		}
	}
	return nil
}

// AddB2B adds two tracks recording a back-to-back call: leg 1's remote
// party (what leg 1 hears), then leg 2's. With Stereo, leg 1 is left and
// leg 2 right. The relay keeps forwarding packets undecoded; each leg's
// received audio is decoded once, with its own codec, for the recorder.
// When the call is spliced into a local conference (b2b.Call.Spliced)
// the second track is what leg 1 is sent (the conference's mix). The
// recording stops when the call ends. The b2b call must be established.
func (r *Recorder) AddB2B(b *b2b.Call) error {
	if b == nil {
		return fmt.Errorf("recorder: add b2b: %w", errNoMedia)
	}
	l1, l2 := b.Leg1(), b.Leg2()
	f1 := l1.Flow()
	if f1 == nil || f1.Codec() == nil {
		return fmt.Errorf("recorder: add b2b: leg 1: %w", errNoMedia)
	}
	r.mu.Lock()
	if r.cfg.CallID == "" {
		r.cfg.CallID = l1.CallID()
	}
	r.addParty(l1.RemoteURI())
	r.addParty(l2.RemoteURI())
	r.mu.Unlock()
	if err := r.addFlow(f1, Heard, TrackOptions{Party: l1.RemoteURI()}, b.Done()); err != nil {
		return err
	}
	if b.Spliced() {
		return r.addFlow(f1, Sent, TrackOptions{Party: l2.RemoteURI()}, nil)
	}
	f2 := l2.Flow()
	if f2 == nil || f2.Codec() == nil {
		return fmt.Errorf("recorder: add b2b: leg 2: %w", errNoMedia)
	}
	return r.addFlow(f2, Heard, TrackOptions{Party: l2.RemoteURI()}, nil)
}

// ConferenceOptions choose what AddConference records.
type ConferenceOptions struct {
	// NoMix leaves out the mix track.
	NoMix bool
	// PerParticipant adds one track per participant in the roster at the
	// time of the call, labelled with the participant's URI, holding only
	// what that participant says (for transcription). Participants who
	// join later are heard in the mix only.
	PerParticipant bool
	// IncludeHidden also gives hidden (trusted) participants a track;
	// by default they are left out (they are bots such as the recorder's
	// own call or a prompt player).
	IncludeHidden bool
	// Exclude lists participant ids to leave out.
	Exclude []string
	// FollowRoster, with PerParticipant and the FilePerTrack layout, also
	// gives participants who join after Start a file of their own. It
	// starts with silence up to their joining, so that every file has the
	// recording's time line and length.
	FollowRoster bool
}

// AddConference adds tracks recording a conference: the mix (everybody,
// whispers excepted; a tap on the conference's mixer) and, with
// PerParticipant, one track per participant. The recording stops when
// the conference ends; its id goes into the sidecar.
func (r *Recorder) AddConference(c *conference.Conference, opts ConferenceOptions) error {
	if c == nil {
		return errors.New("recorder: add conference: nil conference")
	}
	select {
	case <-c.Done():
		return fmt.Errorf("recorder: add conference %s: %w", c.ID(), conference.ErrEnded)
	default:
	}
	r.mu.Lock()
	if r.cfg.ConferenceID == "" {
		r.cfg.ConferenceID = c.ID()
	}
	r.mu.Unlock()
	end := c.Done()
	if !opts.NoMix {
		t := newTrack(r, srcMix, nil, "mix", c.URI(), r.ringSamples)
		tapID := "recorder-" + r.id
		t.attach = func(t *track) (func(), error) {
			if err := c.Mixer().AddTap(tapID, t); err != nil {
				return nil, fmt.Errorf("recorder: conference %s: %w", c.ID(), err)
			}
			return func() { c.Mixer().Remove(tapID) }, nil
		}
		if err := r.addTrack(t, end); err != nil {
			return err
		}
		end = nil
	}
	if !opts.PerParticipant {
		if opts.NoMix {
			return errors.New("recorder: add conference: neither the mix nor participants")
		}
		return nil
	}
	skip := map[string]bool{}
	for _, id := range opts.Exclude {
		skip[id] = true
	}
	eligible := func(p conference.ParticipantInfo) bool {
		return !skip[p.ID] && (!p.Hidden || opts.IncludeHidden)
	}
	for _, p := range c.Roster() {
		if !eligible(p) {
			continue
		}
		skip[p.ID] = true
		f, ok := c.ParticipantFlow(p.ID)
		if !ok || f == nil {
			continue
		}
		r.mu.Lock()
		r.addParty(p.URI)
		r.mu.Unlock()
		if err := r.addTrack(newTrack(r, srcParticipant, f, p.URI, p.URI, r.ringSamples), end); err != nil {
			return err
		}
		end = nil
	}
	if opts.FollowRoster {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.state != Idle {
			return ErrStarted
		}
		r.follow = append(r.follow, func() func() {
			// Runs on the conference's event goroutine, one change at a
			// time: skip needs no lock.
			return c.OnRosterChanged(func(rc conference.RosterChange) {
				for _, p := range rc.Joined {
					if !eligible(p) {
						continue
					}
					skip[p.ID] = true
					f, ok := c.ParticipantFlow(p.ID)
					if !ok || f == nil {
						continue
					}
					t := newTrack(r, srcParticipant, f, p.URI, p.URI, r.ringSamples)
					r.mu.Lock()
					if r.reason == "" {
						r.addParty(p.URI)
						r.joined = append(r.joined, t)
					}
					r.mu.Unlock()
				}
			})
		})
	}
	return nil
}
