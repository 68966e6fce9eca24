package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/internal/peers"
)

func openFDs(t testing.TB) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestThousandCallsReturnToBaseline runs 1,000 SIPp calls through the
// server and checks that goroutines and open sockets come back to where
// they were. T1 is shortened so that finished transactions (which linger
// 64*T1) expire quickly.
func TestThousandCallsReturnToBaseline(t *testing.T) {
	if testing.Short() {
		t.Skip("long: 1,000 calls")
	}
	_, port := startServer(t, func(c *Config) { c.Platform.T1 = 50 * time.Millisecond })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run := func(n, rate int) {
		res := peers.RunSIPp(t, ctx, "-sn", "uac", "-s", "echo", "-m", fmt.Sprint(n), "-r", fmt.Sprint(rate),
			"-p", fmt.Sprint(peers.FreeSIPPort(t)), fmt.Sprintf("127.0.0.1:%d", port))
		if res.ExitCode != 0 || res.Successful != n {
			t.Fatalf("sipp: exit %d, %d/%d successful\n%s", res.ExitCode, res.Successful, n, res.ErrorLog)
		}
	}
	settle := func() { time.Sleep(64*50*time.Millisecond + 500*time.Millisecond) }
	run(10, 10) // warm up: the first calls create long-lived state (listener connections, pools)
	settle()
	baseG, baseFD := runtime.NumGoroutine(), openFDs(t)
	run(1000, 200)
	var g, fd int
	for deadline := time.Now().Add(15 * time.Second); ; {
		settle()
		g, fd = runtime.NumGoroutine(), openFDs(t)
		if (g <= baseG+2 && fd <= baseFD) || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("goroutines %d -> %d, fds %d -> %d", baseG, g, baseFD, fd)
	if g > baseG+2 {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines did not return to baseline: %d, baseline %d\n%s", g, baseG, buf[:runtime.Stack(buf, true)])
	}
	if fd > baseFD {
		t.Fatalf("open files did not return to baseline: %d, baseline %d", fd, baseFD)
	}
}
