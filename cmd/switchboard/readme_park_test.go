package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/apps/holdmusic"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/media/dsp"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestREADMEParkWalkthrough runs the tour's park walkthrough (three
// baresip phones: Alice calls Bob directly, blind-transfers him to
// sip:park@, Carol dials the orbit) as the README writes it, with the
// server on a free port instead of 5060, the phones on free ports and
// their directory in a temporary one instead of /tmp/park; then checks
// what the README says they hear.
func TestREADMEParkWalkthrough(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, step, ok := bytes.Cut(readme, []byte("5. Park a call with three baresip phones."))
	if !ok {
		t.Fatal("README has no park walkthrough (step 5 of the tour)")
	}
	// The walkthrough's commands: the block indented by 7 spaces.
	var script []string
lines:
	for l := range strings.SplitSeq(string(step), "\n") {
		switch {
		case strings.HasPrefix(l, "       "):
			script = append(script, strings.TrimPrefix(l, "       "))
		case len(script) > 0 && strings.TrimSpace(l) != "":
			break lines
		}
	}
	if len(script) < 5 {
		t.Fatalf("the park walkthrough has %d command lines:\n%s", len(script), strings.Join(script, "\n"))
	}
	_, port := startServer(t, nil)
	dir := t.TempDir()
	sh := strings.Join(script, "\n")
	sh = strings.ReplaceAll(sh, "127.0.0.1:5060", fmt.Sprintf("127.0.0.1:%d", port))
	sh = strings.ReplaceAll(sh, "/tmp/park", dir)
	for _, p := range []string{"5091", "5093", "5095"} {
		if !strings.Contains(sh, p) {
			t.Fatalf("the walkthrough no longer uses port %s; update this test", p)
		}
		sh = strings.ReplaceAll(sh, p, fmt.Sprint(peers.FreeSIPPort(t)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", "set -e\n"+sh)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // Bob runs in the background
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Bob's baresip, left in the background, keeps the output open: stop
	// waiting for it once the script itself has ended.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	if errors.Is(err, exec.ErrWaitDelay) {
		err = nil
	}
	// Stop what the walkthrough left running (Bob's baresip): only the
	// process group this test started.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	if err != nil {
		t.Fatalf("the walkthrough failed: %v\n%s", err, out.String())
	}
	heard := func(who string, nth int) ([]int16, int) {
		t.Helper()
		var files []string
		deadline := time.Now().Add(10 * time.Second)
		for len(files) <= nth && time.Now().Before(deadline) {
			files, _ = filepath.Glob(filepath.Join(dir, who, "dump-*-dec.wav"))
			time.Sleep(100 * time.Millisecond)
		}
		slices.Sort(files)
		if len(files) <= nth {
			t.Fatalf("%s recorded %d calls, want at least %d: %v\n%s", who, len(files), nth+1, files, out.String())
		}
		time.Sleep(time.Second) // Bob's baresip closes its file on SIGTERM
		w := sbt.ReadRecording(t, files[nth])
		return w.Channel(t, 0), w.SampleRate
	}
	secs := func(rec []int16, rate int, hz float64) float64 {
		return dsp.ToneFraction(rec, rate, hz) * float64(len(rec)) / float64(rate)
	}
	// Bob's second call is the one to the park address.
	bob, rate := heard("bob", 1)
	if s := secs(bob, rate, holdmusic.DefaultMarkerHz); s < 1 {
		t.Errorf("Bob heard %.1f s of the park music, want at least 1 s", s)
	}
	if s := secs(bob, rate, 1100); s < 1.5 {
		t.Errorf("Bob heard Carol's 1100 Hz for %.1f s, want at least 1.5 s", s)
	}
	carol, rate := heard("carol", 0)
	if s := secs(carol, rate, 700); s < 1.5 {
		t.Errorf("Carol heard Bob's 700 Hz for %.1f s, want at least 1.5 s", s)
	}
	var re *endpoint.ResponseError
	orbit := fmt.Sprintf("sip:7000@127.0.0.1:%d", port)
	if _, err := sbt.NewPhone(t, "late").DialContext(ctx, orbit, endpoint.EstablishOptions{}); !errors.As(err, &re) || re.Code != 404 {
		t.Errorf("%s after the hang-up: %v, want 404", orbit, err)
	}
}
