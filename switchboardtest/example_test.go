package switchboardtest_test

import (
	"context"
	"fmt"
	"log"
	"slices"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/media/dsp"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// Example shows the same test kit outside a test function: every helper
// takes a testing.TB, and exampleTB below stands in for the *testing.T a
// test would pass. A phone dials an application that plays two tones
// and hangs up; the recording holds both.
func Example() {
	t := &exampleTB{}
	defer t.cleanup()

	srv := sbt.NewServer(t)
	srv.Handle(t, "tones", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) {
		if err := c.Accept(ctx); err != nil {
			return
		}
		_ = c.Flow().Play(ctx, dsp.Sine(8000, 697, 300*time.Millisecond, 0.3))
		_ = c.Flow().Play(ctx, dsp.Sine(8000, 1209, 300*time.Millisecond, 0.3))
	}))
	phone := sbt.NewPhone(t, "alice")

	call := phone.Dial(t, srv.URI("tones"))
	call.WaitTerminated(t, 5*time.Second)
	got := call.Recording()
	fmt.Println("697 Hz:", dsp.HasTone(got, 8000, 697), "1209 Hz:", dsp.HasTone(got, 8000, 1209), "440 Hz:", dsp.HasTone(got, 8000, 440))
	fmt.Println("reason:", call.Reason())
	// Output:
	// 697 Hz: true 1209 Hz: true 440 Hz: false
	// reason: remote hang-up
}

// exampleTB is the part of testing.TB the kit uses, for running it in an
// Example; a test passes its *testing.T instead. Methods it does not
// define panic (the embedded TB is nil).
type exampleTB struct {
	testing.TB
	cleanups []func()
}

func (t *exampleTB) Helper()                           {}
func (t *exampleTB) Cleanup(f func())                  { t.cleanups = append(t.cleanups, f) }
func (t *exampleTB) Log(args ...any)                   {}
func (t *exampleTB) Errorf(format string, args ...any) { log.Printf(format, args...) }
func (t *exampleTB) Fatal(args ...any)                 { log.Fatal(args...) }
func (t *exampleTB) Fatalf(format string, args ...any) { log.Fatalf(format, args...) }

// cleanup runs the cleanups in reverse order, as the testing package does.
func (t *exampleTB) cleanup() {
	for _, f := range slices.Backward(t.cleanups) {
		f()
	}
}
