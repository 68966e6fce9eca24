package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/internal/peers"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// logBuffer is a bytes.Buffer the server process writes to while the test
// reads it.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitLog waits until re matches the log and returns the first submatch.
func (l *logBuffer) waitLog(t *testing.T, re string, within time.Duration) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if m := rx.FindStringSubmatch(l.String()); m != nil {
			if len(m) > 1 {
				return m[1]
			}
			return m[0]
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %q in the log within %v:\n%s", re, within, l.String())
	return ""
}

// startServe runs `bin serve -config cfgPath` in dir with its log in a
// logBuffer and returns once it listens on the SIP UDP port; exited
// delivers Wait's result. At the end of the test a server still running
// is killed, by its PID: only the server this test started.
func startServe(t *testing.T, bin, dir, cfgPath string, port int) (*exec.Cmd, *logBuffer, <-chan error) {
	t.Helper()
	logs := &logBuffer{}
	cmd := exec.Command(bin, "serve", "-config", cfgPath)
	cmd.Dir = dir
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited, done := make(chan error, 1), make(chan struct{})
	go func() { exited <- cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			_ = cmd.Process.Kill()
			<-done
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := peers.WaitUDPListening(ctx, port); err != nil {
		t.Fatalf("%v\n%s", err, logs.String())
	}
	return cmd, logs, exited
}

// TestSIGHUPReloadAndCLI runs the built binary with a config file, as an
// operator does: `switchboard calls` lists a live echo call; a SIGHUP with
// a broken file logs every error with its position and changes nothing
// (the call stays up and keeps echoing); a SIGHUP with a valid file that
// turns on debug logging and adds a route applies both at once: the call
// stays up and a new call follows the new route to another phone.
func TestSIGHUPReloadAndCLI(t *testing.T) {
	dir := t.TempDir()
	bin := buildSwitchboard(t, dir)
	port := peers.FreeSIPPort(t)
	cfgPath := filepath.Join(dir, "switchboard.yaml")
	config := func(extra string) {
		t.Helper()
		body := fmt.Sprintf(`platform:
  udp: ["127.0.0.1:%d"]
  tcp: []
  rtp_port_min: 43000
  rtp_port_max: 43999
admin:
  listen: "127.0.0.1:0"
apps:
  recording: {dir: %q}
  ivr: {message_dir: %q}
%s`, port, dir, dir, extra)
		if err := os.WriteFile(cfgPath, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	config("")
	cmd, logs, exited := startServe(t, bin, dir, cfgPath, port)
	adminURL := "http://" + logs.waitLog(t, `admin API listening" addr=(\S+)`, 10*time.Second)

	call := sbt.NewPhone(t, "alice").Dial(t, fmt.Sprintf("sip:echo@127.0.0.1:%d", port))
	call.StartTone(440)
	call.WaitTone(t, 440, 3*time.Second)
	calls := func() string {
		t.Helper()
		var out, errb bytes.Buffer
		if code := run([]string{"calls", "-admin", adminURL}, &out, &errb); code != 0 {
			t.Fatalf("switchboard calls: exit %d: %s", code, errb.String())
		}
		return out.String()
	}
	if out := calls(); !strings.Contains(out, "echo") || !strings.Contains(out, "1 calls") || !strings.HasPrefix(out, "ID ") {
		t.Fatalf("switchboard calls:\n%s", out)
	}

	config("calls:\n  rtp_timeout: 30\n")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	logs.waitLog(t, `config not reloaded, the running config stays`, 10*time.Second)
	logs.waitLog(t, regexp.QuoteMeta(cfgPath+":12:16: calls.rtp_timeout: 30 is not a duration"), time.Second)
	call.ResetRecording()
	call.WaitTone(t, 440, 3*time.Second) // still up, still echoing

	bob := sbt.NewPhone(t, "bob")
	config(fmt.Sprintf("log:\n  level: debug\ndrain_timeout: 5s\nroutes:\n  - {name: bob, prefix: bob, target: 'sip:${user}@127.0.0.1:%d'}\n", bob.Server.Port()))
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	logs.waitLog(t, `config reloaded.*applied=log.level,drain_timeout,routes`, 10*time.Second)
	if out := calls(); !strings.Contains(out, "1 calls") {
		t.Fatalf("after the reload:\n%s", out)
	}
	// The route added by the reload works: through Switchboard to bob.
	routed := sbt.NewPhone(t, "carol").Dial(t, fmt.Sprintf("sip:bob@127.0.0.1:%d", port))
	atBob := bob.NextCall(t)
	routed.StartTone(1300)
	atBob.StartTone(900)
	atBob.WaitTone(t, 1300, 3*time.Second)
	routed.WaitTone(t, 900, 3*time.Second)
	routed.Hangup(t)
	logs.waitLog(t, `level=DEBUG`, 5*time.Second) // the new level is in force
	call.ResetRecording()
	call.WaitTone(t, 440, 3*time.Second)
	call.Hangup(t)
	// The end-of-call line an operator greps for.
	logs.waitLog(t, `msg="call ended" endpoint=\S+ call_id=\S+ from=sip:alice@\S+ to=sip:echo@\S+ reason="remote hang-up" duration=[0-9.]+m?s codec=PCMU rx_packets=[1-9]\d* tx_packets=[1-9]\d* lost=\d+ jitter_ms=[0-9.]+`, 5*time.Second)

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("serve exited with %v\n%s", err, logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("serve did not stop after SIGTERM\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "timeout=5s") {
		t.Errorf("the reloaded drain_timeout is not the one SIGTERM used:\n%s", logs.String())
	}
}
