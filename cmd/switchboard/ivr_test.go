package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/media/dsp"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestIVRInDialPlan: sip:ivr@ of the default dial plan plays the demo
// menu (speech energy); 3 puts the caller into conference conf-ivr.
func TestIVRInDialPlan(t *testing.T) {
	s, port := startServer(t, nil)
	call := sbt.NewPhone(t, "ann").Dial(t, fmt.Sprintf("sip:ivr@127.0.0.1:%d", port))
	defer call.Hangup(t)
	if rms := dsp.RMS(call.Listen(t, 2*time.Second)); rms < 0.01 {
		t.Fatalf("demo menu rms %.4f: silent", rms)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := call.SendDTMF(ctx, "3"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		if c, ok := s.Conferences.Conference("ivr"); ok && len(c.Roster()) == 1 {
			sbt.WaitRoster(t, c, 1, time.Second)
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("caller not in conference ivr after pressing 3")
		}
		call.Listen(t, 20*time.Millisecond) // the menu plays until the key arrives
	}
}
