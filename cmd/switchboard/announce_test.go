package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/admin"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestAdminAnnouncementIntoConference: POST .../announcement plays a WAV
// file (2 s of 1000 Hz) into a conference of two phones, which both hear
// it while it plays and not after; the hidden leg it plays from is gone
// from the roster when the request returns. A missing file is 400 and
// an unknown conference 404, both RFC 9457 problems.
func TestAdminAnnouncementIntoConference(t *testing.T) {
	e := startAdminServer(t, "", nil)
	wav := toneFile(t, t.TempDir(), 1000)
	a, b := sbt.NewPhone(t, "ann"), sbt.NewPhone(t, "ben")
	uri := fmt.Sprintf("sip:conf-news@127.0.0.1:%d", e.port)
	ca, cb := a.Dial(t, uri), b.Dial(t, uri)
	waitFor(t, 5*time.Second, func() bool {
		_, body := e.do(t, "GET", "/api/v1/conferences/news", nil)
		return len(decode[admin.ConferenceView](t, body).Roster) == 2
	})
	type result struct {
		code int
		body []byte
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		code, body := e.do(t, "POST", "/api/v1/conferences/news/announcement", map[string]string{"file": wav})
		done <- result{code, body}
	}()
	ca.WaitTone(t, 1000, 3*time.Second)
	cb.WaitTone(t, 1000, 3*time.Second)
	var res result
	select {
	case res = <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("the announcement request did not return")
	}
	if res.code != 200 {
		t.Fatalf("announcement: %d %s", res.code, res.body)
	}
	got := decode[admin.AnnouncementResponse](t, res.body)
	if got.Conference != "news" || got.Duration < 1.9 || got.Duration > 2.1 {
		t.Errorf("response %+v, want conference news, 2 s", got)
	}
	if took := time.Since(start); took < 2*time.Second {
		t.Errorf("answered after %v, before the 2 s file could play", took)
	}
	_, body := e.do(t, "GET", "/api/v1/conferences/news", nil)
	if r := decode[admin.ConferenceView](t, body).Roster; len(r) != 2 {
		t.Errorf("roster after the announcement: %+v, want the two phones", r)
	}
	cb.WaitNoTone(t, 1000, 3*time.Second)
	if code, body := e.do(t, "POST", "/api/v1/conferences/news/announcement", map[string]string{"file": filepath.Join(t.TempDir(), "none.wav")}); code != 400 ||
		!strings.Contains(string(body), "none.wav") {
		t.Errorf("missing file: %d %s", code, body)
	}
	if code, _ := e.do(t, "POST", "/api/v1/conferences/nobody/announcement", map[string]string{"file": wav}); code != 404 {
		t.Errorf("unknown conference: %d", code)
	}
	ca.Hangup(t)
	cb.Hangup(t)
}
