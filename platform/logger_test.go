package platform_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/endpoint"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// countingHandler counts the records logged through it.
type countingHandler struct {
	slog.Handler
	n *atomic.Int64
}

func (h countingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h countingHandler) Handle(ctx context.Context, r slog.Record) error {
	h.n.Add(1)
	return nil
}

// TestSipgoLogsThroughPlatformLogger: a call declined at once makes the
// caller's sipgo see the callee's 100 Trying after the final response
// (it matches no transaction any more). sipgo reports such responses to
// its process-wide default logger unless told otherwise; the platform
// must keep them in its own logger, so nothing reaches slog.Default.
func TestSipgoLogsThroughPlatformLogger(t *testing.T) {
	var n atomic.Int64
	prev := slog.Default()
	slog.SetDefault(slog.New(countingHandler{Handler: slog.DiscardHandler, n: &n}))
	// Registered first, so it runs last: after both platforms closed and
	// their serving goroutines, late responses included, are done.
	t.Cleanup(func() {
		slog.SetDefault(prev)
		if got := n.Load(); got != 0 {
			t.Errorf("%d records went to the process-wide default logger", got)
		}
	})

	srv := sbt.NewServer(t)
	srv.Handle(t, "busy", endpoint.HandlerFunc(func(ctx context.Context, c *endpoint.Call) { _ = c.Decline(ctx, 486) }))
	phone := sbt.NewPhone(t, "alice")
	for range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if _, err := phone.DialContext(ctx, srv.URI("busy"), endpoint.EstablishOptions{}); err == nil {
			t.Fatal("a declined call was established")
		}
		cancel()
	}
}
