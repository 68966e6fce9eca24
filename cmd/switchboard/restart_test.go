package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/apps/holdmusic"
	"github.com/switchboard-sip/switchboard/apps/park"
	"github.com/switchboard-sip/switchboard/apps/park/redisstore"
	"github.com/switchboard-sip/switchboard/internal/peers"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// startBinary starts `bin serve -config cfg` in dir and waits until it
// listens on UDP port. It returns the command and a channel closed when
// the process has exited; cleanup kills it (by PID) and waits.
func startBinary(t *testing.T, bin, cfg, dir string, port int, logs *bytes.Buffer) (*exec.Cmd, <-chan struct{}) {
	t.Helper()
	cmd := exec.Command(bin, "serve", "-config", cfg)
	cmd.Dir, cmd.Stderr = dir, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited }) // only the server this test started
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := peers.WaitUDPListening(ctx, port); err != nil {
		t.Fatalf("%v\n%s", err, logs.String())
	}
	return cmd, exited
}

// TestKill9UnderLoadAndRestart (issue 15 item 7): the server binary with
// the Redis park store (a redis-server of the test's own) under a SIPp
// load of echo calls, with three phones parked on it and one being
// recorded, is killed with SIGKILL and started again with the same node
// id. The restarted server answers OPTIONS and INVITE (an echo call hears
// its tone back), Redis holds no orbit of the dead process within 2 s of
// the restart (the store releases its previous run's orbits at start), a
// new park gets the first orbit again, and the recording the kill cut
// short is read by sox and holds the caller's tone.
func TestKill9UnderLoadAndRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("long: SIPp load, kill -9 and restart")
	}
	sox, err := exec.LookPath("sox")
	if err != nil {
		t.Fatalf("sox not found (%v): run scripts/test, which installs it", err)
	}
	url, _ := redisURL(t)
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
  rtp_port_min: 43000
  rtp_port_max: 43999
admin:
  listen: ""
apps:
  park:
    store: %s
    node: node-a
    release_after: 4s
  recording:
    dir: %q
  ivr:
    message_dir: %q
`, port, url, recs, dir), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd, exited := startBinary(t, bin, cfg, dir, port, &logs)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	obs, err := redisstore.New(ctx, url, "observer", redisstore.Config{Orbits: []park.OrbitRange{{Start: "7000", End: "7099"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer obs.Close()
	if err := obs.WaitReady(ctx); err != nil { // a new Redis: parks wait out the recovery window
		t.Fatal(err)
	}
	target := fmt.Sprintf("127.0.0.1:%d", port)
	load := peers.StartSIPp(t, ctx, "-sn", "uac", "-s", "echo", "-d", "2000", "-r", "20", "-m", "400",
		"-recv_timeout", "5000", "-fd", "1", "-p", strconv.Itoa(peers.FreeSIPPort(t)), target)

	for i := range 3 {
		pc := sbt.NewPhone(t, fmt.Sprintf("parked-%d", i)).Dial(t, "sip:park@"+target)
		pc.WaitTone(t, holdmusic.DefaultMarkerHz, 10*time.Second)
	}
	l, err := obs.ListContext(ctx)
	if err != nil || len(l) != 3 {
		t.Fatalf("Redis holds %+v, %v; want the 3 parks", l, err)
	}
	rec := sbt.NewPhone(t, "recorded").Dial(t, "sip:record@"+target)
	rec.StartTone(700)
	time.Sleep(4 * time.Second) // the load runs, the recording grows
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	killed := time.Now()

	logs.Reset()
	start := time.Now()
	startBinary(t, bin, cfg, dir, port, &logs)
	up := time.Since(start)
	// OPTIONS and INVITE answered.
	opt := peers.RunSIPp(t, ctx, "-sf", peers.WriteScenario(t, optionsScenario), "-m", "1",
		"-p", strconv.Itoa(peers.FreeSIPPort(t)), target)
	if opt.ExitCode != 0 {
		t.Errorf("OPTIONS after the restart: sipp exit %d\n%s", opt.ExitCode, opt.ErrorLog)
	}
	echo := sbt.NewPhone(t, "after").Dial(t, "sip:echo@"+target)
	echo.StartTone(1000)
	echo.WaitTone(t, 1000, 5*time.Second)
	echo.Hangup(t)
	var held []redisstore.Parked
	for deadline := time.Now().Add(2 * time.Second); ; {
		if held, err = obs.ListContext(ctx); err == nil && len(held) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("orbits still held by the killed process after the restart: %+v, %v\n%s", held, err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	released := time.Since(killed)
	pc := sbt.NewPhone(t, "parked-again").Dial(t, "sip:park@"+target)
	pc.WaitTone(t, holdmusic.DefaultMarkerHz, 10*time.Second)
	if l, err := obs.ListContext(ctx); err != nil || len(l) != 1 || l[0].Orbit != "7000" || l[0].Node != "node-a" {
		t.Errorf("a park after the restart: %+v, %v; want orbit 7000 on node-a", l, err)
	}
	pc.Hangup(t)

	res := load.Wait() // the load goes on against the restarted server
	if res.Successful < 200 {
		t.Errorf("the load: %d calls ok, %d failed of 400", res.Successful, res.Failed)
	}

	wavs, _ := filepath.Glob(filepath.Join(recs, "*.wav"))
	if len(wavs) != 1 {
		t.Fatalf("recordings after the kill: %v", wavs)
	}
	out, err := exec.Command(sox, "--i", "-D", wavs[0]).CombinedOutput()
	if err != nil {
		t.Fatalf("sox rejects the recording the kill cut short: %v: %s", err, out)
	}
	secs, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil || secs < 2 {
		t.Fatalf("sox reads %q seconds, want at least 2", out)
	}
	wav := sbt.ReadRecording(t, wavs[0])
	if lv := sbt.ToneLevel(wav.Channel(t, 0), wav.SampleRate, 700); lv < -25 {
		t.Errorf("the caller's 700 Hz at %.1f dB in the recording", lv)
	}
	t.Logf("SIPp load of 400 calls across the kill: %d ok, %d failed (those the kill cut); restarted and listening in %v; "+
		"the dead process's 3 orbits free %v after the kill; recording %.2f s, read by sox",
		res.Successful, res.Failed, up.Round(time.Millisecond), released.Round(time.Millisecond), secs)
}

const optionsScenario = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="options">
  <send retrans="500"><![CDATA[
OPTIONS sip:echo@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:probe@[local_ip]:[local_port]>;tag=[pid]probe[call_number]
To: <sip:echo@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 OPTIONS
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200"/>
</scenario>
`
