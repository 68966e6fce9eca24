package platform_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/platform"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// recordingApp records the order in which apps are closed.
type recordingApp struct {
	name  string
	mu    *sync.Mutex
	order *[]string
	err   error
}

func (a recordingApp) Close() error {
	a.mu.Lock()
	*a.order = append(*a.order, a.name)
	a.mu.Unlock()
	return a.err
}

// TestRegisteredAppsCloseInReverse checks that Close and Shutdown close
// the registered apps once each, last registered first, and return their
// errors; and that registering with a closed platform closes the app at
// once.
func TestRegisteredAppsCloseInReverse(t *testing.T) {
	boom := errors.New("boom")
	for _, how := range []string{"Close", "Shutdown"} {
		t.Run(how, func(t *testing.T) {
			srv := sbt.NewServer(t)
			var (
				mu    sync.Mutex
				order []string
			)
			for _, n := range []string{"music", "park", "conference"} {
				a := recordingApp{name: n, mu: &mu, order: &order}
				if n == "park" {
					a.err = boom
				}
				if err := srv.Platform.Register(a); err != nil {
					t.Fatal(err)
				}
			}
			var err error
			if how == "Close" {
				err = srv.Platform.Close()
			} else {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				err = srv.Platform.Shutdown(ctx)
			}
			if !errors.Is(err, boom) {
				t.Errorf("%s returned %v, want the app's error", how, err)
			}
			_ = srv.Platform.Close() // idempotent: closes nothing twice
			if want := []string{"conference", "park", "music"}; !slices.Equal(order, want) {
				t.Fatalf("close order %v, want %v", order, want)
			}
			late := recordingApp{name: "late", mu: &mu, order: &order}
			if err := srv.Platform.Register(late); !errors.Is(err, platform.ErrClosed) {
				t.Fatalf("Register after Close: %v, want ErrClosed", err)
			}
			if order[len(order)-1] != "late" {
				t.Fatalf("an app registered after Close was not closed: %v", order)
			}
		})
	}
}
