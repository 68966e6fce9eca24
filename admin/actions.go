package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/switchboard-sip/switchboard/apps/park"
	"github.com/switchboard-sip/switchboard/b2b"
	"github.com/switchboard-sip/switchboard/endpoint"
)

// OriginateRequest is the body of POST /api/v1/calls: dial A, then B, and
// connect them (click-to-call).
type OriginateRequest struct {
	A string `json:"a"`
	B string `json:"b"`
	// TimeoutSeconds bounds both dials (default 30).
	TimeoutSeconds int `json:"timeout_seconds,omitempty"`
}

// OriginateResponse names the two legs of an originated call.
type OriginateResponse struct {
	A CallView `json:"a"`
	B CallView `json:"b"`
}

// TransferRequest is the body of POST /api/v1/calls/{id}/transfer.
type TransferRequest struct {
	To string `json:"to"`
}

// HoldRequest is the body of POST /api/v1/calls/{id}/hold.
type HoldRequest struct {
	// Music plays the default hold music to the held party (default
	// true when the music app runs).
	Music *bool `json:"music,omitempty"`
}

// ParkRequest is the body of POST /api/v1/calls/{id}/park.
type ParkRequest struct {
	// Orbit asks for a directed park (default: the next free orbit).
	Orbit string `json:"orbit,omitempty"`
}

// readJSON decodes a small JSON body; an empty body leaves v as it is.
func (s *Server) readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err == nil && len(b) > 0 {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		s.problem(w, http.StatusBadRequest, "bad request body", err.Error())
		return false
	}
	return true
}

// originate is click-to-call: the server dials A from its own endpoint
// (Services.Originator), and once A answers dials B presenting A, then
// bridges them. It answers when both legs are up.
func (s *Server) originate(w http.ResponseWriter, r *http.Request) {
	if s.svc.Originator == nil {
		s.problem(w, http.StatusNotFound, "originate disabled", "the server has no originating endpoint")
		return
	}
	var req OriginateRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	for _, u := range []string{req.A, req.B} {
		if _, err := endpoint.ParseURI(u); err != nil {
			s.problem(w, http.StatusBadRequest, "bad URI", "a and b must be SIP URIs: "+err.Error())
			return
		}
	}
	d := 30 * time.Second
	if req.TimeoutSeconds > 0 {
		d = time.Duration(req.TimeoutSeconds) * time.Second
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), d)
	defer cancel()
	bc, err := b2b.Originate(ctx, s.svc.Originator, req.A, req.B, b2b.OriginateOptions{Options: b2b.Options{RingTimeout: d}})
	if err != nil {
		s.log.Info("admin: originate failed", "a", req.A, "b", req.B, "err", err)
		s.problem(w, http.StatusBadGateway, "originate failed", err.Error())
		return
	}
	s.log.Info("admin: originated", "a", req.A, "b", req.B, "call_id", bc.Leg1().CallID())
	s.json(w, http.StatusCreated, OriginateResponse{A: callView(bc.Leg1()), B: callView(bc.Leg2())})
}

func (s *Server) transferCall(w http.ResponseWriter, r *http.Request) {
	c, ok := s.call(w, r)
	if !ok {
		return
	}
	var req TransferRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	if _, err := endpoint.ParseURI(req.To); err != nil {
		s.problem(w, http.StatusBadRequest, "bad URI", "to must be a SIP URI: "+err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	if err := c.Transfer(ctx, req.To, endpoint.TransferOptions{}); err != nil {
		s.problem(w, http.StatusBadGateway, "transfer failed", err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) holdCall(w http.ResponseWriter, r *http.Request) {
	c, ok := s.call(w, r)
	if !ok {
		return
	}
	var req HoldRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	var err error
	music := req.Music == nil || *req.Music
	if p, ok := s.musicPlayer(); ok && music {
		err = c.HoldWithMusic(ctx, p)
	} else {
		err = c.Hold(ctx, endpoint.HoldRemote)
	}
	if err != nil {
		s.problem(w, http.StatusConflict, "cannot hold", err.Error())
		return
	}
	s.json(w, http.StatusOK, callView(c))
}

func (s *Server) retrieveCall(w http.ResponseWriter, r *http.Request) {
	c, ok := s.call(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if err := c.Retrieve(ctx); err != nil {
		s.problem(w, http.StatusConflict, "cannot retrieve", err.Error())
		return
	}
	s.json(w, http.StatusOK, callView(c))
}

func (s *Server) parkCall(w http.ResponseWriter, r *http.Request) {
	svc, ok := s.parkService(w)
	if !ok {
		return
	}
	c, ok := s.call(w, r)
	if !ok {
		return
	}
	var req ParkRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	e, err := svc.Park(r.Context(), c, park.ParkOptions{Orbit: req.Orbit})
	switch {
	case errors.Is(err, park.ErrNoSuchOrbit):
		s.problem(w, http.StatusNotFound, "no such orbit", err.Error())
	case errors.Is(err, park.ErrStoreUnavailable):
		s.problem(w, http.StatusServiceUnavailable, "park store unavailable", err.Error())
	case err != nil:
		s.problem(w, http.StatusConflict, "cannot park", err.Error())
	default:
		s.json(w, http.StatusCreated, OrbitView{Orbit: e.Orbit, CallID: e.CallID, Parker: e.Parker, Parked: e.Parked, Since: e.Since.UTC()})
	}
}
