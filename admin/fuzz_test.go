package admin_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchboard-sip/switchboard/admin"
	"github.com/switchboard-sip/switchboard/apps/park"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// FuzzAPI sends arbitrary requests (method, path under /api/v1, JSON
// body) to the admin API of a server that runs no apps: every request is
// answered (an error as problem+json, never a panic or a 5xx the client
// did not cause), whatever the path's ids and the body hold. The server
// has a park service with nothing parked and no originating endpoint, so
// no input makes it place a call anywhere.
func FuzzAPI(f *testing.F) {
	for _, s := range []struct {
		method uint8
		path   string
		body   string
	}{
		{0, "calls", ""},
		{1, "calls", `{"a":"sip:a@127.0.0.1","b":"sip:b@127.0.0.1"}`},
		{1, "calls", `{"a":"sip:a@127.0.0.1\r\nX: y","b":1}`},
		{1, "calls/x/transfer", `{"to":"sip:c@127.0.0.1"}`},
		{1, "calls/x/park", `{"orbit":"7000"}`},
		{1, "calls/x/hold", `{"music":false}`},
		{2, "calls/x", ""},
		{1, "orbits/7000/retrieve", `{"to":"sip:c@127.0.0.1"}`},
		{2, "orbits/7000", ""},
		{1, "conferences/x/participants/y/mute", ""},
		{1, "conferences/x/recording", `{"stereo":true}`},
		{0, "recordings/../../etc/passwd/audio", ""},
		{0, "recordings/x/audio", ""},
		{0, "events", ""},
		{1, "drain", "{"},
		{0, "openapi.json", ""},
	} {
		f.Add(s.method, s.path, []byte(s.body))
	}
	srv := sbt.NewServer(f)
	svc, err := park.New(srv.Platform, park.Config{})
	if err != nil {
		f.Fatal(err)
	}
	defer svc.Close()
	s, err := admin.New(admin.Config{}, admin.Services{Platform: srv.Platform, Park: svc, RecordingDir: f.TempDir()})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	h := s.Handler()
	f.Fuzz(func(t *testing.T, m uint8, path string, body []byte) {
		method := []string{"GET", "POST", "DELETE", "PUT"}[m%4]
		if path == "events" || strings.HasPrefix(path, "events?") || path == "drain" {
			return // a stream that does not end; draining stops the server for the next inputs
		}
		req, err := http.NewRequest(method, "http://127.0.0.1/api/v1/"+path, bytes.NewReader(body))
		if err != nil {
			return // not a URL a client could send
		}
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable && rec.Code != http.StatusNotImplemented {
			t.Fatalf("%s /api/v1/%s %q: %d %s", method, path, body, rec.Code, rec.Body.String())
		}
	})
}
