//go:build opus

package media

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/media/dsp"
)

// Opus RTP against FFmpeg, whose native Opus decoder and (CELT-only)
// encoder are implementations independent of libopus. Like every interop
// test here it fails rather than skips without ffmpeg; scripts/test
// installs it.

func opusFFmpeg(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatalf("ffmpeg not found (install the Debian package ffmpeg; scripts/test does): %v", err)
	}
	return path
}

// freeUDPPort returns a loopback UDP port that was free a moment ago, for
// ffmpeg, which binds the port its SDP names itself.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	port := c.LocalAddr().(*net.UDPAddr).Port
	c.Close()
	return port
}

// TestOpusToFFmpeg: a session sends a 6 kHz tone as Opus RTP (payload type
// 96, 48 kHz timestamps); FFmpeg reads the stream from an SDP with
// opus/48000/2, decodes it with its own Opus decoder and writes 16 kHz
// WAV, which holds the tone.
func TestOpusToFFmpeg(t *testing.T) {
	ffmpeg := opusFFmpeg(t)
	dir := t.TempDir()
	port := freeUDPPort(t)
	sdpPath, wav := filepath.Join(dir, "in.sdp"), filepath.Join(dir, "out.wav")
	sdp := fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 96\r\na=rtpmap:96 opus/48000/2\r\n", port)
	if err := os.WriteFile(sdpPath, []byte(sdp), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
		"-protocol_whitelist", "file,udp,rtp", "-c:a", "opus", "-i", sdpPath,
		"-t", "1.5", "-ar", "16000", "-ac", "1", wav)
	out := &syncWriter{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	s, _ := ptimeReceiver(t)
	s.SetCodec(opusCodec(), 0)
	s.SetRemote(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	played := make(chan error, 1)
	go func() { played <- Play(ctx, s, dsp.Sine(16000, 6000, 15*time.Second, 0.3)) }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("ffmpeg: %v\n%s", err, out.String())
		}
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		t.Fatalf("ffmpeg did not finish: %s", out.String())
	}
	cancel()
	<-played
	f, err := os.Open(wav)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	clip, err := audio.ReadWAV(f)
	if err != nil {
		t.Fatal(err)
	}
	if clip.SampleRate != 16000 || len(clip.Samples) < 16000 {
		t.Fatalf("ffmpeg wrote %d samples at %d Hz, want 1.5 s at 16 kHz", len(clip.Samples), clip.SampleRate)
	}
	if f := dsp.ToneFraction(clip.Samples[1600:], 16000, 6000); f < 0.9 {
		t.Fatalf("ffmpeg's decoder hears 6 kHz in %.0f%% of %d samples", f*100, len(clip.Samples))
	}
}

// TestOpusFromFFmpeg: FFmpeg's own Opus encoder (CELT only, unlike our
// SILK-mode libopus encoder) streams a 1 kHz and then a 5 kHz tone as RTP
// on payload type 96 to a session, which decodes both at 16 kHz through
// its jitter buffer, measuring the 20 ms packets by their TOC.
func TestOpusFromFFmpeg(t *testing.T) {
	ffmpeg := opusFFmpeg(t)
	s, _ := ptimeReceiver(t)
	s.SetCodec(opusCodec(), 0)
	var mu sync.Mutex
	var got []int16
	release, err := s.TakeAudio("test", audio.SinkFunc(func(pcm []int16) {
		mu.Lock()
		got = append(got, pcm...)
		mu.Unlock()
	}), AudioOptions{Jitter: &JitterConfig{}})
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	url := "rtp://127.0.0.1:" + strconv.Itoa(int(s.LocalAddr().Port()))
	cmd := exec.Command(ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-re",
		// One source (two concatenated ones are paced by -re only for
		// the first: the second arrives in a burst).
		"-f", "lavfi", "-i", `aevalsrc=0.3*sin(2*PI*if(lt(t\,1)\,1000\,5000)*t):s=48000:d=2`,
		"-c:a", "opus", "-strict", "-2", "-ac", "1", "-b:a", "64k",
		"-payload_type", "96", "-f", "rtp", url)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 32000 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	pcm := append([]int16(nil), got...)
	mu.Unlock()
	// FFmpeg's -re paces in bursts (frames of 1024 samples into packets
	// of 960): the jitter buffer drops a few frames to keep its delay.
	if len(pcm) < 24000 {
		t.Fatalf("received %d samples of 2 s at 16 kHz; jitter %+v, session %+v", len(pcm), s.JitterStats(), s.Stats())
	}
	first, second := pcm[3200:12800], pcm[len(pcm)-11200:len(pcm)-1600]
	if f := dsp.ToneFraction(first, 16000, 1000); f < 0.9 {
		t.Errorf("1 kHz in %.0f%% of the first second", f*100)
	}
	if f := dsp.ToneFraction(second, 16000, 5000); f < 0.9 {
		t.Errorf("5 kHz in %.0f%% of the second second", f*100)
	}
	if js := s.JitterStats(); js.Played < 75 || js.Late != 0 {
		t.Errorf("jitter buffer %+v: want at least 75 packets of 100 played, none late", js)
	}
}

// syncWriter collects a process's output for the failure message.
type syncWriter struct {
	mu  sync.Mutex
	buf []byte
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	return len(p), nil
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf)
}
