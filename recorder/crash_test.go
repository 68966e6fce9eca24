package recorder_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/media"
	"github.com/switchboard-sip/switchboard/media/codec"
	"github.com/switchboard-sip/switchboard/media/dsp"
	"github.com/switchboard-sip/switchboard/recorder"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestKill9: a process recording a call (stereo, 700 Hz heard) is killed
// with SIGKILL 5 s into the recording. sox reads the file it left and
// finds at least 4 s of audio, and so does the test kit's strict reader,
// which also finds the tone.
func TestKill9(t *testing.T) {
	sox, err := exec.LookPath("sox")
	if err != nil {
		t.Fatalf("sox not found (%v): run scripts/test, which installs it", err)
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9Child$", "-test.v")
	cmd.Env = append(os.Environ(), "RECORDER_CRASH_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = cmd.Process.Kill()
		}
		_ = cmd.Wait()
	})
	started := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if name, ok := strings.CutPrefix(sc.Text(), "recording "); ok {
				started <- name
			}
		}
		close(started)
	}()
	var name string
	select {
	case name = <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("the child did not start recording")
	}
	if name == "" {
		t.Fatal("the child exited before recording")
	}
	time.Sleep(5 * time.Second) // the recording's length, not a readiness wait
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed = true
	_ = cmd.Wait()

	path := filepath.Join(dir, name)
	res, err := exec.Command(sox, "--i", "-D", path).CombinedOutput()
	if err != nil {
		t.Fatalf("sox --i -D: %v: %s", err, res)
	}
	soxDur, err := strconv.ParseFloat(strings.TrimSpace(string(res)), 64)
	if err != nil {
		t.Fatalf("sox said %q", res)
	}
	if res, err := exec.Command(sox, path, "-n", "stat").CombinedOutput(); err != nil {
		t.Errorf("sox cannot decode the file: %v: %s", err, res)
	}
	wav := sbt.ReadRecording(t, path)
	t.Logf("after kill -9 at 5 s: sox reads %.2f s, the kit %v", soxDur, wav.Duration())
	if soxDur < 4 || wav.Duration() < 4*time.Second {
		t.Errorf("sox reads %.2f s, the kit %v: want at least 4 s", soxDur, wav.Duration())
	}
	if l := sbt.ToneLevel(wav.Channel(t, 0)[8000:], 8000, 700); l < -20 {
		t.Errorf("700 Hz at %.1f dB in the crashed recording", l)
	}
}

// TestKill9Child is the process TestKill9 kills: it records until then.
func TestKill9Child(t *testing.T) {
	dir := os.Getenv("RECORDER_CRASH_DIR")
	if dir == "" {
		t.Skip("run by TestKill9")
	}
	listen := func() *net.UDPConn {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// ours only listens: the phone must not stop sending to a silent peer.
	phone := media.NewSession(listen(), media.SessionConfig{Codec: codec.PCMU(), SilentPeerGrace: -1})
	ours := media.NewSession(listen(), media.SessionConfig{Codec: codec.PCMU()})
	phone.SetRemote(ours.LocalAddr())
	ours.SetRemote(phone.LocalAddr())
	rec, err := recorder.New(recorder.Config{Dir: dir, Layout: recorder.Stereo})
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.AddFlow(media.NewFlow(ours), recorder.Both, recorder.TrackOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := rec.Start(); err != nil {
		t.Fatal(err)
	}
	fmt.Println("recording", rec.Files()[0])
	_ = media.NewFlow(phone).Play(context.Background(), dsp.Sine(8000, 700, time.Minute, 0.3))
}
