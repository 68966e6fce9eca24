package main

import (
	"bytes"
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/internal/peers"
)

// TestDefaultConfigAnswersSIPp is the README's promise: the built binary,
// run with no config at all, answers SIPp's stock UAC on 127.0.0.1:5060,
// and SIGTERM stops it cleanly.
func TestDefaultConfigAnswersSIPp(t *testing.T) {
	if c, err := net.ListenPacket("udp", "127.0.0.1:5060"); err != nil {
		t.Fatalf("127.0.0.1:5060 is taken (%v); this test runs the server on its default port", err)
	} else {
		c.Close()
	}
	bin := filepath.Join(t.TempDir(), "switchboard")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var logs bytes.Buffer
	cmd := exec.Command(bin, "serve")
	cmd.Dir = t.TempDir() // the default recordings/ is made here
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := peers.WaitUDPListening(ctx, 5060); err != nil {
		t.Fatalf("%v\n%s", err, logs.String())
	}
	res := peers.RunSIPp(t, ctx, "-sn", "uac", "127.0.0.1:5060", "-s", "echo", "-m", "200", "-r", "50")
	if res.ExitCode != 0 || res.Successful != 200 {
		t.Fatalf("sipp: exit %d, %d successful, %d failed\n%s", res.ExitCode, res.Successful, res.Failed, res.ErrorLog)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("serve exited with %v after SIGTERM\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("serve did not stop after SIGTERM\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "draining") {
		t.Errorf("SIGTERM did not drain:\n%s", logs.String())
	}
}

func TestVersionAndUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"version"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "switchboard ") {
		t.Fatalf("version: %d %q", code, out.String())
	}
	if code := run(nil, &out, &errb); code != 2 {
		t.Fatalf("no args: exit %d, want 2", code)
	}
	if code := run([]string{"serve", "-config", "/nonexistent.yaml"}, &out, &errb); code != 1 {
		t.Fatalf("missing config: exit %d, want 1", code)
	}
}
