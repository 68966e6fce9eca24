package main

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestSoakShort is the CI form of bench/soak.sh: the same script (the
// server binary under echo, music, conference, b2b route and park/retrieve
// calls with media at 10 calls/s), for 40 s instead of 30 minutes, on ports
// of its own. The script asserts zero failed calls and goroutines, FDs and
// RSS back to baseline; its figures table is logged.
func TestSoakShort(t *testing.T) {
	if testing.Short() {
		t.Skip("long: a 40 s soak")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "../../bench/soak.sh")
	cmd.Env = append(cmd.Environ(), "DURATION=40s", "RATE=10", "SETTLE=8",
		"SB_PORT=5440", "UAS_PORT=5441", "ADMIN_PORT=8491", "SIPP_BASE=5450", "MEDIA_BASE=52000", "RTP_MIN=22000")
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	t.Logf("bench/soak.sh DURATION=40s RATE=10 (%v):\n%s", time.Since(start).Round(time.Second), out.String())
	if err != nil || !strings.Contains(out.String(), "\nPASS") {
		t.Fatalf("soak failed: %v", err)
	}
}
