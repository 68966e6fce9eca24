package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/internal/peers"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// buildSwitchboard builds this command as dir/switchboard and returns the
// binary's path.
func buildSwitchboard(t testing.TB, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "switchboard")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestDefaultConfigAnswersSIPp is the README's promise: the built binary,
// run with no config at all, answers SIPp's stock UAC on 127.0.0.1:5060,
// and SIGTERM stops it cleanly.
func TestDefaultConfigAnswersSIPp(t *testing.T) {
	if c, err := net.ListenPacket("udp", "127.0.0.1:5060"); err != nil {
		t.Fatalf("127.0.0.1:5060 is taken (%v); this test runs the server on its default port", err)
	} else {
		c.Close()
	}
	bin := buildSwitchboard(t, t.TempDir())
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

// TestKill9LeavesAReadableRecording is the recorder issue's crash test
// against the real binary: a phone dials sip:record@ of a running
// `switchboard serve`, playing 700 Hz; 5 s into the recording the server
// is killed with SIGKILL. sox must read the WAV it left with at least 4 s
// of audio, and the kit's strict reader must find the caller's tone.
func TestKill9LeavesAReadableRecording(t *testing.T) {
	sox, err := exec.LookPath("sox")
	if err != nil {
		t.Fatalf("sox not found (%v): run scripts/test, which installs it", err)
	}
	dir := t.TempDir()
	bin := buildSwitchboard(t, dir)
	port := peers.FreeSIPPort(t)
	recs := filepath.Join(dir, "recs")
	if err := os.Mkdir(recs, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "switchboard.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `platform:
  udp: ["127.0.0.1:%d"]
  tcp: []
  rtp_port_min: 42000
  rtp_port_max: 42999
admin:
  listen: "127.0.0.1:0"
apps:
  recording:
    dir: %q
`, port, recs), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd := exec.Command(bin, "serve", "-config", cfg)
	cmd.Dir = dir
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill() // by PID: only the server this test started
			<-exited
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := peers.WaitUDPListening(ctx, port); err != nil {
		t.Fatalf("%v\n%s", err, logs.String())
	}
	pc := sbt.NewPhone(t, "caller").Dial(t, fmt.Sprintf("sip:record@127.0.0.1:%d", port))
	pc.StartTone(700)
	time.Sleep(5 * time.Second) // 5 s into the recording
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	wavs, _ := filepath.Glob(filepath.Join(recs, "*.wav"))
	if len(wavs) != 1 {
		t.Fatalf("recordings after the kill: %v\n%s", wavs, logs.String())
	}
	out, err := exec.Command(sox, "--i", "-D", wavs[0]).CombinedOutput()
	if err != nil {
		t.Fatalf("sox rejects the file: %v: %s", err, out)
	}
	secs, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil || secs < 4 {
		t.Fatalf("sox reads %q seconds, want at least 4", out)
	}
	// An ffmpeg-style reader too: ffprobe decodes every packet of it
	// (scripts/test installs ffmpeg for the G.722 interop tests).
	ffprobe, err := exec.LookPath("ffprobe")
	if err != nil {
		t.Fatalf("ffprobe not found (%v): run scripts/test, which installs ffmpeg", err)
	}
	out, err = exec.Command(ffprobe, "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", wavs[0]).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe rejects the file: %v: %s", err, out)
	}
	if d, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); err != nil || d < 4 {
		t.Fatalf("ffprobe reads %q seconds, want at least 4", out)
	}
	wav := sbt.ReadRecording(t, wavs[0])
	if lv := sbt.ToneLevel(wav.Channel(t, 0), wav.SampleRate, 700); lv < -25 {
		t.Errorf("the caller's 700 Hz at %.1f dB in the file left by the kill", lv)
	}
	t.Logf("sox reads %.2f s from the recording of a server killed 5 s in", secs)
}
