package admin

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/switchboard-sip/switchboard/apps/park"
	"github.com/switchboard-sip/switchboard/conference"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/recorder"
)

// CallView is a call as the API shows it.
type CallView struct {
	ID        string `json:"id"`
	App       string `json:"app"`
	Direction string `json:"direction"` // "incoming" or "outgoing"
	From      string `json:"from"`
	To        string `json:"to"`
	// FromName and ToName are the display names of From and To, when
	// known (the remote party's, from its request or response).
	FromName    string     `json:"from_name,omitempty"`
	ToName      string     `json:"to_name,omitempty"`
	State       string     `json:"state"`
	Since       time.Time  `json:"since"`
	Established *time.Time `json:"established,omitempty"`
	Codec       string     `json:"codec,omitempty"`
	RTP         RTPView    `json:"rtp"`
}

// RTPView are a call's RTP statistics.
type RTPView struct {
	PacketsSent     uint64  `json:"packets_sent"`
	PacketsReceived uint64  `json:"packets_received"`
	BytesSent       uint64  `json:"bytes_sent"`
	BytesReceived   uint64  `json:"bytes_received"`
	PacketsLost     uint64  `json:"packets_lost"`
	JitterSeconds   float64 `json:"jitter_seconds"`
}

func callView(c *endpoint.Call) CallView {
	in := c.Info()
	v := CallView{ID: in.CallID, App: in.App, State: in.State.String(), Since: in.Since.UTC(), Codec: in.Codec}
	if in.Incoming {
		v.Direction, v.From, v.To, v.FromName = "incoming", in.Remote, in.Local, c.RemoteDisplayName()
	} else {
		v.Direction, v.From, v.To, v.ToName = "outgoing", in.Local, in.Remote, c.RemoteDisplayName()
	}
	if !in.Established.IsZero() {
		t := in.Established.UTC()
		v.Established = &t
	}
	st := c.Flow().Stats()
	v.RTP = RTPView{PacketsSent: st.PacketsSent, PacketsReceived: st.PacketsReceived, BytesSent: st.BytesSent,
		BytesReceived: st.BytesReceived, PacketsLost: st.PacketsLost, JitterSeconds: st.Jitter.Seconds()}
	return v
}

func (s *Server) listCalls(w http.ResponseWriter, r *http.Request) {
	calls := endpoint.Calls(s.svc.Platform)
	out := make([]CallView, 0, len(calls))
	for _, c := range calls {
		if v := callView(c); v.State != endpoint.StateTerminated.String() {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, func(a, b CallView) int { return a.Since.Compare(b.Since) })
	s.json(w, http.StatusOK, struct {
		Calls []CallView `json:"calls"`
	}{out})
}

func (s *Server) call(w http.ResponseWriter, r *http.Request) (*endpoint.Call, bool) {
	c, ok := endpoint.FindCall(s.svc.Platform, r.PathValue("id"))
	if !ok {
		s.problem(w, http.StatusNotFound, "no such call", "no live call has Call-ID "+r.PathValue("id"))
	}
	return c, ok
}

func (s *Server) getCall(w http.ResponseWriter, r *http.Request) {
	if c, ok := s.call(w, r); ok {
		s.json(w, http.StatusOK, callView(c))
	}
}

// hangUpCall ends a call (BYE, or CANCEL while ringing) and answers when
// the remote side has answered the BYE or the attempt timed out.
func (s *Server) hangUpCall(w http.ResponseWriter, r *http.Request) {
	c, ok := s.call(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if err := c.Terminate(ctx); err != nil && !errors.Is(err, endpoint.ErrTerminated) {
		s.log.Info("admin: hang-up", "call_id", c.CallID(), "err", err)
	}
	w.WriteHeader(http.StatusNoContent)
}

// OrbitView is a parked call.
type OrbitView struct {
	Orbit  string    `json:"orbit"`
	CallID string    `json:"call_id"`
	Parker string    `json:"parker"`
	Parked string    `json:"parked"`
	Since  time.Time `json:"since"`
}

// OrbitList is GET /api/v1/orbits: the occupied orbits, and the ranges
// every orbit belongs to (an orbit of a range not listed in Orbits is
// free).
type OrbitList struct {
	Orbits   []OrbitView `json:"orbits"`
	Capacity int         `json:"capacity"`
	// Ranges are the configured orbit ranges, in configuration order.
	Ranges []OrbitRangeView `json:"ranges"`
	// PickupTimeoutSeconds is how long a call stays parked before its
	// parker is rung back, counted from OrbitView.Since.
	PickupTimeoutSeconds float64 `json:"pickup_timeout_seconds"`
}

// OrbitRangeView is an orbit range: both ends included, same digits.
type OrbitRangeView struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

func (s *Server) parkService(w http.ResponseWriter) (*park.Service, bool) {
	if s.svc.Park == nil {
		s.problem(w, http.StatusNotFound, "park disabled", "the park app is not enabled")
		return nil, false
	}
	return s.svc.Park, true
}

func (s *Server) listOrbits(w http.ResponseWriter, r *http.Request) {
	p, ok := s.parkService(w)
	if !ok {
		return
	}
	es := p.List()
	out := make([]OrbitView, 0, len(es))
	for _, e := range es {
		out = append(out, OrbitView{Orbit: e.Orbit, CallID: e.CallID, Parker: e.Parker, Parked: e.Parked, Since: e.Since.UTC()})
	}
	slices.SortFunc(out, func(a, b OrbitView) int { return strings.Compare(a.Orbit, b.Orbit) })
	ranges := make([]OrbitRangeView, 0, 1)
	for _, r := range p.Ranges() {
		ranges = append(ranges, OrbitRangeView(r))
	}
	s.json(w, http.StatusOK, OrbitList{Orbits: out, Capacity: p.Capacity(), Ranges: ranges,
		PickupTimeoutSeconds: p.PickupTimeout().Seconds()})
}

func (s *Server) parkError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, park.ErrOrbitEmpty), errors.Is(err, park.ErrNoSuchOrbit):
		s.problem(w, http.StatusNotFound, "orbit empty", err.Error())
	default:
		s.problem(w, http.StatusBadGateway, "retrieve failed", err.Error())
	}
}

func (s *Server) retrieveOrbit(w http.ResponseWriter, r *http.Request) {
	p, ok := s.parkService(w)
	if !ok {
		return
	}
	var body struct {
		URI string `json:"uri"`
	}
	if err := decodeBody(r, &body); err != nil || body.URI == "" {
		s.problem(w, http.StatusBadRequest, "bad request", `the body must be {"uri": "sip:..."}`)
		return
	}
	if _, err := endpoint.ParseURI(body.URI); err != nil {
		s.problem(w, http.StatusBadRequest, "bad URI", err.Error())
		return
	}
	if err := p.RetrieveTo(r.Context(), r.PathValue("orbit"), body.URI); err != nil {
		s.parkError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) hangUpOrbit(w http.ResponseWriter, r *http.Request) {
	p, ok := s.parkService(w)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if err := p.HangUp(ctx, r.PathValue("orbit")); err != nil && (errors.Is(err, park.ErrOrbitEmpty) || errors.Is(err, park.ErrNoSuchOrbit)) {
		s.parkError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ConferenceView is a conference; Roster is set by the single-conference
// endpoint.
type ConferenceView struct {
	ID           string            `json:"id"`
	URI          string            `json:"uri"`
	Locked       bool              `json:"locked"`
	Participants int               `json:"participants"`
	Recording    bool              `json:"recording"`
	Roster       []ParticipantView `json:"roster,omitempty"`
}

// ParticipantView is a roster entry; Hidden marks trusted participants
// SIP subscribers do not see (a recorder, a bot).
type ParticipantView struct {
	ID          string    `json:"id"`
	URI         string    `json:"uri"`
	DisplayName string    `json:"display_name,omitempty"`
	Role        string    `json:"role"`
	Trusted     bool      `json:"trusted"`
	Hidden      bool      `json:"hidden"`
	Muted       bool      `json:"muted"`
	JoinedAt    time.Time `json:"joined_at"`
	// Talking: the participant's talk gate is open (set in the roster of
	// GET /conferences/{id}; "talking" events follow its changes).
	Talking bool `json:"talking,omitempty"`
}

func participantView(p conference.ParticipantInfo) ParticipantView {
	return ParticipantView{ID: p.ID, URI: p.URI, DisplayName: p.DisplayName, Role: p.Role.String(),
		Trusted: p.Trusted, Hidden: p.Hidden, Muted: p.Muted, JoinedAt: p.JoinedAt.UTC()}
}

func (s *Server) conferenceView(c *conference.Conference, roster bool) ConferenceView {
	ps := c.Roster()
	v := ConferenceView{ID: c.ID(), URI: c.URI(), Locked: c.Locked(), Participants: len(ps), Recording: s.recordingOf(c.ID())}
	if roster {
		v.Roster = make([]ParticipantView, 0, len(ps))
		for _, p := range ps {
			pv := participantView(p)
			pv.Talking = c.Mixer().Talking(p.ID)
			v.Roster = append(v.Roster, pv)
		}
	}
	return v
}

func (s *Server) recordingOf(id string) bool {
	if s.svc.Recording == nil {
		return false
	}
	return s.svc.Recording.Recording(id)
}

func (s *Server) listConferences(w http.ResponseWriter, r *http.Request) {
	if s.svc.Conferences == nil {
		s.problem(w, http.StatusNotFound, "conferences disabled", "the conference app is not enabled")
		return
	}
	cs := s.svc.Conferences.Conferences()
	out := make([]ConferenceView, 0, len(cs))
	for _, c := range cs {
		out = append(out, s.conferenceView(c, false))
	}
	slices.SortFunc(out, func(a, b ConferenceView) int { return strings.Compare(a.ID, b.ID) })
	s.json(w, http.StatusOK, struct {
		Conferences []ConferenceView `json:"conferences"`
	}{out})
}

func (s *Server) conference(w http.ResponseWriter, r *http.Request) (*conference.Conference, bool) {
	if s.svc.Conferences == nil {
		s.problem(w, http.StatusNotFound, "conferences disabled", "the conference app is not enabled")
		return nil, false
	}
	c, ok := s.svc.Conferences.Conference(r.PathValue("id"))
	if !ok {
		s.problem(w, http.StatusNotFound, "no such conference", "no conference "+r.PathValue("id"))
	}
	return c, ok
}

func (s *Server) getConference(w http.ResponseWriter, r *http.Request) {
	if c, ok := s.conference(w, r); ok {
		s.json(w, http.StatusOK, s.conferenceView(c, true))
	}
}

func (s *Server) lockConference(lock bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, ok := s.conference(w, r)
		if !ok {
			return
		}
		if lock {
			c.Lock()
		} else {
			c.Unlock()
		}
		s.events.publish("conference", ConferenceEventData{Conference: c.ID(), Event: "updated"})
		s.json(w, http.StatusOK, s.conferenceView(c, false))
	}
}

func (s *Server) muteParticipant(mute bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, ok := s.conference(w, r)
		if !ok {
			return
		}
		if err := c.Mute(r.PathValue("pid"), mute); err != nil {
			s.problem(w, http.StatusNotFound, "no such participant", err.Error())
			return
		}
		p, _ := c.Participant(r.PathValue("pid"))
		s.events.publish("conference", ConferenceEventData{Conference: c.ID(), Event: "updated", Updated: []ParticipantView{participantView(p)}})
		s.json(w, http.StatusOK, participantView(p))
	}
}

func (s *Server) ejectParticipant(w http.ResponseWriter, r *http.Request) {
	c, ok := s.conference(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if _, ok := c.Participant(r.PathValue("pid")); !ok {
		s.problem(w, http.StatusNotFound, "no such participant", "no participant "+r.PathValue("pid"))
		return
	}
	if err := c.Eject(ctx, r.PathValue("pid")); err != nil {
		s.log.Info("admin: eject", "conference", c.ID(), "participant", r.PathValue("pid"), "err", err)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) startConferenceRecording(w http.ResponseWriter, r *http.Request) {
	c, ok := s.conference(w, r)
	if !ok {
		return
	}
	if s.svc.Recording == nil {
		s.problem(w, http.StatusNotFound, "recording disabled", "the recording app is not enabled")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	rec, err := s.svc.Recording.RecordConference(ctx, c)
	if err != nil {
		s.problem(w, http.StatusConflict, "not recorded", err.Error())
		return
	}
	md := rec.Metadata()
	s.events.publish("recording", RecordingEventData{Event: "started", ID: md.ID, Conference: c.ID()})
	s.json(w, http.StatusCreated, recordingView(md))
}

func (s *Server) stopConferenceRecording(w http.ResponseWriter, r *http.Request) {
	c, ok := s.conference(w, r)
	if !ok {
		return
	}
	if s.svc.Recording == nil {
		s.problem(w, http.StatusNotFound, "recording disabled", "the recording app is not enabled")
		return
	}
	if err := s.svc.Recording.StopConference(c.ID()); err != nil {
		s.problem(w, http.StatusNotFound, "not recording", err.Error())
		return
	}
	s.events.publish("recording", RecordingEventData{Event: "stopped", Conference: c.ID()})
	w.WriteHeader(http.StatusNoContent)
}

// RecordingView is a recording's sidecar as the API shows it.
type RecordingView struct {
	recorder.Metadata
	Active bool `json:"active"`
}

func recordingView(md recorder.Metadata) RecordingView {
	return RecordingView{Metadata: md, Active: md.End.IsZero()}
}

func (s *Server) recordings(w http.ResponseWriter) ([]recorder.Metadata, bool) {
	if s.svc.Recording == nil {
		s.problem(w, http.StatusNotFound, "recording disabled", "the recording app is not enabled")
		return nil, false
	}
	mds, err := s.svc.Recording.Recordings()
	if err != nil {
		s.problem(w, http.StatusInternalServerError, "cannot list recordings", err.Error())
		return nil, false
	}
	return mds, true
}

func (s *Server) listRecordings(w http.ResponseWriter, r *http.Request) {
	mds, ok := s.recordings(w)
	if !ok {
		return
	}
	out := make([]RecordingView, 0, len(mds))
	for _, md := range mds {
		out = append(out, recordingView(md))
	}
	s.json(w, http.StatusOK, struct {
		Recordings []RecordingView `json:"recordings"`
	}{out})
}

func (s *Server) recording(w http.ResponseWriter, r *http.Request) (recorder.Metadata, bool) {
	mds, ok := s.recordings(w)
	if !ok {
		return recorder.Metadata{}, false
	}
	for _, md := range mds {
		if md.ID == r.PathValue("id") {
			return md, true
		}
	}
	s.problem(w, http.StatusNotFound, "no such recording", "no recording "+r.PathValue("id"))
	return recorder.Metadata{}, false
}

func (s *Server) getRecording(w http.ResponseWriter, r *http.Request) {
	if md, ok := s.recording(w, r); ok {
		s.json(w, http.StatusOK, recordingView(md))
	}
}

// downloadRecording serves a recording's audio with Range support
// (http.ServeContent). ?file=NAME picks one of several files; the first
// is the default.
func (s *Server) downloadRecording(w http.ResponseWriter, r *http.Request) {
	md, ok := s.recording(w, r)
	if !ok {
		return
	}
	if len(md.Files) == 0 {
		s.problem(w, http.StatusNotFound, "no audio", "the recording has no audio file")
		return
	}
	name := md.Files[0].Name
	if q := r.URL.Query().Get("file"); q != "" {
		name = ""
		for _, f := range md.Files {
			if f.Name == q {
				name = q
			}
		}
		if name == "" {
			s.problem(w, http.StatusNotFound, "no such file", "the recording has no file "+q)
			return
		}
	}
	f, err := os.Open(filepath.Join(s.svc.RecordingDir, filepath.Base(name)))
	if err != nil {
		s.problem(w, http.StatusNotFound, "audio missing", err.Error())
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		s.problem(w, http.StatusInternalServerError, "audio unreadable", err.Error())
		return
	}
	w.Header().Set("Content-Type", "audio/wav")
	w.Header().Set("Content-Disposition", `attachment; filename="`+filepath.Base(name)+`"`)
	http.ServeContent(w, r, filepath.Base(name), fi.ModTime(), f)
}

func (s *Server) deleteRecording(w http.ResponseWriter, r *http.Request) {
	md, ok := s.recording(w, r)
	if !ok {
		return
	}
	if md.End.IsZero() && s.recordingOf(md.ConferenceID) && md.ConferenceID != "" {
		s.problem(w, http.StatusConflict, "recording in progress", "stop the recording before deleting it")
		return
	}
	var errs []error
	for _, f := range md.Files {
		if err := os.Remove(filepath.Join(s.svc.RecordingDir, filepath.Base(f.Name))); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	// The sidecar last: while it exists the recording is listed.
	side, err := s.sidecarOf(md.ID)
	if err == nil {
		if err := os.Remove(side); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		s.problem(w, http.StatusInternalServerError, "delete failed", err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// sidecarOf finds the JSON sidecar of recording id.
func (s *Server) sidecarOf(id string) (string, error) {
	names, err := filepath.Glob(filepath.Join(s.svc.RecordingDir, "*.json"))
	if err != nil {
		return "", err
	}
	for _, n := range names {
		f, err := os.Open(n)
		if err != nil {
			continue
		}
		md, err := recorder.ReadMetadata(f)
		f.Close()
		if err == nil && md.ID == id {
			return n, nil
		}
	}
	return "", os.ErrNotExist
}
