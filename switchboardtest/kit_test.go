package switchboardtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/apps/echo"
	"github.com/switchboard-sip/switchboard/media/dsp"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestEcho is how the kit is used: a server with the app under test, a
// phone that dials it, and an assertion on the audio that came back.
func TestEcho(t *testing.T) {
	sbt.CheckGoroutines(t) // first, so that its check runs last
	srv := sbt.NewServer(t)
	srv.Handle(t, "echo", echo.Handler())
	phone := sbt.NewPhone(t, "alice")

	call := phone.Dial(t, srv.URI("echo"))
	if err := call.Play(context.Background(), dsp.Sine(8000, 440, 400*time.Millisecond, 0.3)); err != nil {
		t.Fatal(err)
	}
	if got := call.Recording(); !dsp.HasTone(got, 8000, 440) {
		t.Errorf("no 440 Hz echo in %d samples", len(got))
	}
	call.Hangup(t)
}
