package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/switchboard-sip/switchboard/admin"
)

// startAdmin builds the admin interface over s and, when cfg.Admin.Listen
// is set, serves it on its own goroutine (ln, when not nil, is a listener
// bound already: tests pass 127.0.0.1:0). drain is what POST
// /api/v1/drain does. The caller closes the returned server.
func (s *Server) startAdmin(m *admin.Metrics, ln net.Listener, drain func()) (*admin.Server, error) {
	svc := admin.Services{
		Platform: s.Platform, Park: s.Park, Conferences: s.Conferences, Recording: s.Recording,
		RecordingDir: s.cfg.Apps.Recording.Dir, Version: version(), Drain: drain, Music: s.Music,
	}
	if s.Routes != nil {
		svc.Originator = s.Routes.Endpoint() // originated calls come from sip:switchboard@host
	}
	a, err := admin.New(s.cfg.Admin, svc, admin.WithMetrics(m))
	if err != nil {
		return nil, err
	}
	if ln == nil && s.cfg.Admin.Listen != "" {
		if ln, err = net.Listen("tcp", s.cfg.Admin.Listen); err != nil {
			_ = a.Close()
			return nil, fmt.Errorf("admin.listen: %w", err)
		}
	}
	if ln != nil {
		s.adminAddr = ln.Addr()
		log := s.Platform.Logger()
		log.Info("admin API listening", "addr", ln.Addr().String())
		go func() {
			if err := a.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("admin API stopped", "err", err)
			}
		}()
	}
	return a, nil
}
