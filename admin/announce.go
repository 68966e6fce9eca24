package admin

import (
	"context"
	"net/http"
	"time"

	"github.com/switchboard-sip/switchboard/ivr"
)

// AnnouncementRequest is the body of POST
// /api/v1/conferences/{id}/announcement.
type AnnouncementRequest struct {
	// File is a WAV file on the server (PCM16 or G.711, any rate, mono or
	// stereo) played into the conference.
	File string `json:"file"`
}

// AnnouncementResponse says what was played.
type AnnouncementResponse struct {
	Conference string  `json:"conference"`
	File       string  `json:"file"`
	Duration   float64 `json:"duration_seconds"`
}

// announceConference plays a WAV file into a conference from a hidden,
// trusted leg of the originating endpoint (ivr.Announcer: it appears in
// no RFC 4575 roster and leaves when the file ends). It answers when the
// announcement has played; a client that goes away stops it.
func (s *Server) announceConference(w http.ResponseWriter, r *http.Request) {
	c, ok := s.conference(w, r)
	if !ok {
		return
	}
	if s.svc.Originator == nil {
		s.problem(w, http.StatusNotFound, "announcements disabled", "the server has no application endpoint to play from")
		return
	}
	var req AnnouncementRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	if req.File == "" {
		s.problem(w, http.StatusBadRequest, "bad request body", "file: the path of a WAV file on the server is required")
		return
	}
	p, err := ivr.OpenWAV(req.File)
	if err != nil {
		s.problem(w, http.StatusBadRequest, "bad announcement", err.Error())
		return
	}
	a := ivr.NewAnnouncer(s.svc.Originator, c, ivr.AnnouncerOptions{})
	defer a.Close()
	ctx, cancel := context.WithTimeout(r.Context(), p.Duration()+10*time.Second)
	defer cancel()
	if err := a.Play(ctx, p); err != nil {
		s.problem(w, http.StatusBadGateway, "announcement failed", err.Error())
		return
	}
	s.log.Info("admin: announcement played", "conference", c.ID(), "file", req.File, "duration", p.Duration())
	s.json(w, http.StatusOK, AnnouncementResponse{Conference: c.ID(), File: req.File, Duration: p.Duration().Seconds()})
}
