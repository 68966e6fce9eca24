package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/media/dsp"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// phoneRun runs `switchboard args...` in this process, as main would, and
// returns its exit status and stdout.
func phoneRun(t testing.TB, args ...string) (int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	t.Logf("switchboard %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
	return code, out.String()
}

// checkPhoneGoroutines is sbt.CheckGoroutines for tests that run the
// phone in this process. The phone's signal.NotifyContext starts
// os/signal's watcher goroutine, which lives as long as the process, so it
// is started here first, before the baseline is taken.
func checkPhoneGoroutines(t testing.TB) {
	t.Helper()
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGWINCH)
	signal.Stop(c)
	sbt.CheckGoroutines(t)
}

// checkHeard fails the test unless the WAV file at path holds freq Hz in
// at least half of it, and at least two seconds of audio.
func checkHeard(t testing.TB, path string, freq float64) {
	t.Helper()
	wav := sbt.ReadRecording(t, path)
	if d := wav.Duration(); d < 2*time.Second {
		t.Errorf("%s holds %v of audio, want at least 2 s", filepath.Base(path), d)
	}
	pcm := wav.Channel(t, 0)
	if f := dsp.ToneFraction(pcm, wav.SampleRate, freq); f < 0.5 {
		t.Errorf("%s: %g Hz in %.0f%% of it, want at least 50%%", filepath.Base(path), freq, f*100)
	}
}

// TestPhoneDialEcho: `phone dial` calls the echo of a running server,
// playing 440 Hz, and records the echo of its own tone.
func TestPhoneDialEcho(t *testing.T) {
	checkPhoneGoroutines(t)
	_, port := startServer(t, nil)
	rec := filepath.Join(t.TempDir(), "out.wav")
	code, out := phoneRun(t, "phone", "dial", fmt.Sprintf("sip:echo@127.0.0.1:%d", port),
		"--play", "tone:440", "--record", rec, "--duration", "3s")
	if code != 0 {
		t.Fatalf("exit %d, want 0", code)
	}
	for _, want := range []string{"state establishing -> established", "answered by sip:echo@", "recorded " + rec, "rtp: sent "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	checkHeard(t, rec, 440)
}

// uasBusy is a SIPp UAS that rings, then answers 486 Busy Here.
const uasBusy = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="busy">
  <recv request="INVITE"/>
  <send>
    <![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

    ]]>
  </send>
  <send>
    <![CDATA[
SIP/2.0 486 Busy Here
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

    ]]>
  </send>
  <recv request="ACK"/>
</scenario>`

// TestPhoneBusySIPp runs the built binary against a SIPp UAS that answers
// 486: the exit status is 1, the ringing is reported and the last line
// names the status.
func TestPhoneBusySIPp(t *testing.T) {
	bin := buildSwitchboard(t, t.TempDir())
	port := peers.FreeSIPPort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	uas := peers.StartSIPp(t, ctx, "-sf", peers.WriteScenario(t, uasBusy), "-p", fmt.Sprint(port), "-m", "1")
	if err := peers.WaitUDPListening(ctx, port); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "phone", "dial", fmt.Sprintf("sip:svc@127.0.0.1:%d", port))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	t.Logf("stdout:\n%sstderr:\n%s", stdout.String(), stderr.String())
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("phone dial: %v, want exit status 1", err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if last := lines[len(lines)-1]; last != "call failed: 486 Busy Here" {
		t.Errorf("last line %q, want %q", last, "call failed: 486 Busy Here")
	}
	if !strings.Contains(stdout.String(), "\n180 Ringing\n") {
		t.Errorf("the 180 Ringing is not reported")
	}
	if res := uas.Wait(); res.ExitCode != 0 {
		t.Errorf("sipp exit %d (no ACK for the 486?)", res.ExitCode)
	}
}

// TestPhoneAnswerAndDial: `phone answer` playing 700 Hz takes a call from
// `phone dial` playing 440 Hz; each records the other's tone.
func TestPhoneAnswerAndDial(t *testing.T) {
	checkPhoneGoroutines(t)
	dir := t.TempDir()
	port := peers.FreeSIPPort(t)
	var wg sync.WaitGroup
	var ansCode int
	var ansOut string
	wg.Go(func() {
		ansCode, ansOut = phoneRun(t, "phone", "answer", "--listen", fmt.Sprintf("127.0.0.1:%d", port),
			"--play", "tone:700", "--record", filepath.Join(dir, "answer.wav"), "--duration", "20s")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := peers.WaitUDPListening(ctx, port); err != nil {
		t.Fatal(err)
	}
	code, out := phoneRun(t, "phone", "dial", fmt.Sprintf("sip:bob@127.0.0.1:%d", port),
		"--play", "tone:440", "--record", filepath.Join(dir, "dial.wav"), "--duration", "3s")
	wg.Wait()
	if code != 0 || ansCode != 0 {
		t.Fatalf("exit %d (dial), %d (answer), want 0 and 0", code, ansCode)
	}
	if !strings.Contains(ansOut, "incoming call from sip:phone@127.0.0.1") || !strings.Contains(ansOut, "(remote hang-up)") {
		t.Errorf("answer's output does not report the call and its hang-up")
	}
	if !strings.Contains(out, "(local hang-up)") {
		t.Errorf("dial's output does not report its hang-up")
	}
	checkHeard(t, filepath.Join(dir, "dial.wav"), 700)
	checkHeard(t, filepath.Join(dir, "answer.wav"), 440)
}

// TestPhoneTransfer: `phone dial --transfer` asks a test phone to call
// another; the second phone's call is the proof, and the dialler reports
// the success and exits 0.
func TestPhoneTransfer(t *testing.T) {
	checkPhoneGoroutines(t)
	bob, carol := sbt.NewPhone(t, "bob"), sbt.NewPhone(t, "carol")
	code, out := phoneRun(t, "phone", "dial", bob.URI(), "--transfer", carol.URI(), "--duration", "5s")
	if code != 0 || !strings.Contains(out, "\ntransfer succeeded\n") {
		t.Fatalf("exit %d, want 0 and \"transfer succeeded\"", code)
	}
	bob.NextCall(t)             // the call the phone made
	carol.NextCall(t).Hangup(t) // the call bob made on the REFER
}

// TestPhoneREADMETour runs the tour's `switchboard phone` command lines
// verbatim, against a server on a free port instead of 5060, so that the
// README cannot promise a flag or a call that does not work.
func TestPhoneREADMETour(t *testing.T) {
	checkPhoneGoroutines(t)
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	tour, _, _ := strings.Cut(string(readme[bytes.Index(readme, []byte("## A five-minute tour")):]), "\n## ")
	const prefix = "go run ./cmd/switchboard "
	var lines []string
	for l := range strings.SplitSeq(tour, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, prefix+"phone ") {
			lines = append(lines, l)
		}
	}
	if len(lines) < 3 {
		t.Fatalf("the tour shows %d phone command lines, want the echo, hello and IVR calls:\n%q", len(lines), lines)
	}
	_, port := startServer(t, nil)
	t.Chdir(t.TempDir()) // the tour records into the current directory
	for _, l := range lines {
		l = strings.ReplaceAll(l, "127.0.0.1:5060", fmt.Sprintf("127.0.0.1:%d", port))
		args := strings.Fields(strings.TrimPrefix(l, prefix))
		if code, _ := phoneRun(t, args...); code != 0 {
			t.Errorf("%s: exit %d, want 0", l, code)
		}
	}
	checkHeard(t, "echo.wav", 440)
	if wav := sbt.ReadRecording(t, "hello.wav"); wav.Duration() < time.Second {
		t.Errorf("hello.wav holds %v of audio", wav.Duration())
	}
	// Digit 1 took the IVR to the echo: the last 2 s hold the tone.
	ivr := sbt.ReadRecording(t, "ivr.wav")
	pcm := ivr.Channel(t, 0)
	if tail := pcm[max(len(pcm)-2*ivr.SampleRate, 0):]; sbt.ToneLevel(tail, ivr.SampleRate, 440) < -25 {
		t.Errorf("ivr.wav: no 440 Hz echoed in its last 2 s (%.1f dB): did the DTMF reach the menu?", sbt.ToneLevel(tail, ivr.SampleRate, 440))
	}
}
