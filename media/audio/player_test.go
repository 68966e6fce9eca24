package audio

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/rtp"
	"github.com/switchboard-sip/switchboard/media/codec"
	"github.com/switchboard-sip/switchboard/media/dsp"
)

// checkPlayerGoroutines fails the test if it ends with more goroutines than
// it started with. Call it first, so that its cleanup runs last.
func checkPlayerGoroutines(t *testing.T) {
	t.Helper()
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= base {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutine leak: %d goroutines, %d at start\n%s", n, base, buf)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// rtpOutput is an Output that sends RTP to a UDP address, as a call's
// session does: the player's tests need no transport package.
type rtpOutput struct {
	conn  *net.UDPConn
	to    netip.AddrPort
	codec codec.Codec

	mu  sync.Mutex
	seq uint16
	ts  uint32
}

func (o *rtpOutput) Codec() codec.Codec { return o.codec }

func (o *rtpOutput) WriteRTPPayload(pt uint8, samples int, payload []byte, marker bool) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seq++
	p := rtp.Packet{Header: rtp.Header{Version: 2, Marker: marker, PayloadType: pt, SequenceNumber: o.seq, Timestamp: o.ts, SSRC: 1}, Payload: payload}
	o.ts += uint32(samples)
	b, err := p.Marshal()
	if err != nil {
		return err
	}
	_, err = o.conn.WriteToUDPAddrPort(b, o.to)
	return err
}

func (o *rtpOutput) Close() error { return o.conn.Close() }

// newRTPOutput returns an Output of codec sending from a loopback socket
// to to.
func newRTPOutput(t testing.TB, c codec.Codec, to netip.AddrPort) *rtpOutput {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	o := &rtpOutput{conn: conn, to: to, codec: c}
	t.Cleanup(func() { o.Close() })
	return o
}

// musicSession returns an Output using codec whose RTP goes to a plain UDP
// socket the test reads.
func musicSession(t testing.TB, c codec.Codec) (*rtpOutput, *net.UDPConn) {
	t.Helper()
	peer, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	return newRTPOutput(t, c, peer.LocalAddr().(*net.UDPAddr).AddrPort()), peer
}

type capturedPacket struct {
	at      time.Time
	pt      uint8
	marker  bool
	payload []byte
}

// rtpCapture reads RTP packets from a peer socket on its own goroutine.
type rtpCapture struct {
	done chan struct{}
	pkts []capturedPacket // written by the reader until done is closed
}

// captureRTP reads up to n packets from peer, stopping early after 10 s.
func captureRTP(t testing.TB, peer *net.UDPConn, n int) *rtpCapture {
	c := &rtpCapture{done: make(chan struct{})}
	peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	go func() {
		defer close(c.done)
		buf := make([]byte, 1500)
		for len(c.pkts) < n {
			k, err := peer.Read(buf)
			if err != nil {
				return
			}
			at := time.Now()
			var p rtp.Packet
			if err := p.Unmarshal(buf[:k]); err != nil {
				continue
			}
			c.pkts = append(c.pkts, capturedPacket{at: at, pt: p.PayloadType, marker: p.Marker, payload: slices.Clone(p.Payload)})
		}
	}()
	t.Cleanup(func() { <-c.done })
	return c
}

// readPackets reads the packets already sent to peer.
func readPackets(t testing.TB, peer *net.UDPConn) []capturedPacket {
	t.Helper()
	c := captureRTP(t, peer, math.MaxInt)
	peer.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	<-c.done
	return c.pkts
}

// pcmRecorder is an Sink that keeps every frame.
type pcmRecorder struct {
	mu     sync.Mutex
	frames [][]int16
}

func (r *pcmRecorder) WriteAudio(pcm []int16) {
	r.mu.Lock()
	r.frames = append(r.frames, slices.Clone(pcm))
	r.mu.Unlock()
}

func (r *pcmRecorder) Frames() [][]int16 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.frames)
}

func (r *pcmRecorder) Samples() []int16 {
	return slices.Concat(r.Frames()...)
}

// countingSource counts the samples read from a Source.
type countingSource struct {
	Source
	samples atomic.Int64
}

func (c *countingSource) ReadPCM(dst []int16) (int, error) {
	n, err := c.Source.ReadPCM(dst)
	c.samples.Add(int64(n))
	return n, err
}

// driveFrames runs up to n frames of p on the calling goroutine, exactly as
// the clock goroutine does every 20 ms, and reports whether the play ended.
// It makes audio tests independent of timing.
func driveFrames(p *Player, n int) (ended bool) {
	p.mu.Lock()
	p.started = true
	p.mu.Unlock()
	for range n {
		if p.tick() {
			return true
		}
	}
	return false
}

// playToPCM plays src through a Player into a sink, for at most maxFrames
// frames, and returns the 8 kHz PCM.
func playToPCM(t testing.TB, src Source, loop bool, maxFrames int) []int16 {
	t.Helper()
	p, err := NewPlayer(src, PlayerConfig{Loop: loop})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var rec pcmRecorder
	p.AddSink(&rec)
	driveFrames(p, maxFrames)
	if err := p.Err(); err != nil {
		t.Fatal(err)
	}
	return rec.Samples()
}

// writeTestWAV writes 16-bit PCM to a temporary WAV file.
func writeTestWAV(t testing.TB, rate, channels int, samples []int16) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.wav")
	w, err := CreateWAV(path, rate, channels)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(samples); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// stereo interleaves mono into identical left and right channels.
func stereo(mono []int16) []int16 {
	out := make([]int16, 2*len(mono))
	for i, s := range mono {
		out[2*i], out[2*i+1] = s, s
	}
	return out
}

func TestPlayerSendsEachFrameOnceToAllSessionsInSync(t *testing.T) {
	checkPlayerGoroutines(t)
	// A 437 Hz tone advances 0.74 cycles per 20 ms frame, so consecutive
	// frames differ and a listener one frame out of step would show.
	path := writeTestWAV(t, 44100, 2, stereo(dsp.Sine(44100, 437, 2*time.Second, 0.5)))
	wav, err := OpenWAVSource(path)
	if err != nil {
		t.Fatal(err)
	}
	src := &countingSource{Source: wav}
	p, err := NewPlayer(src, PlayerConfig{Mode: PlayerManual, Loop: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var rec pcmRecorder
	p.AddSink(&rec)

	const frames = 40
	codecs := []codec.Codec{codec.PCMU(), codec.PCMA(), codec.PCMU()}
	caps := make([]*rtpCapture, len(codecs))
	for i, c := range codecs {
		s, peer := musicSession(t, c)
		p.Attach(s)
		caps[i] = captureRTP(t, peer, frames)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	for _, c := range caps {
		<-c.done
	}
	p.Stop()
	st := p.Stats()
	sent := rec.Frames()

	// Produced once per frame, encoded once per codec per frame.
	if len(sent) != int(st.Frames) || st.Frames < frames {
		t.Fatalf("sink got %d frames, player produced %d, want >= %d", len(sent), st.Frames, frames)
	}
	if st.Packets != 3*st.Frames || st.Encodes != 2*st.Frames {
		t.Errorf("stats %+v: want 3 packets and 2 encodes (PCMU, PCMA) per frame", st)
	}
	// Each frame read 20 ms of the source, once: 882 stereo samples at
	// 44.1 kHz, plus the resampler's lookahead (under one chunk).
	perFrame := int64(2 * 44100 / 50)
	if got, want := src.samples.Load(), int64(st.Frames)*perFrame; got < want || got > want+2*perFrame {
		t.Errorf("read %d source samples for %d frames, want %d to %d", got, st.Frames, want, want+2*perFrame)
	}

	var worstSpread time.Duration
	for k := range frames {
		first, last := caps[0].pkts[k].at, caps[0].pkts[k].at
		for i, c := range caps {
			if len(c.pkts) < frames {
				t.Fatalf("listener %d got %d packets, want %d", i, len(c.pkts), frames)
			}
			pkt := c.pkts[k]
			if pkt.pt != codecs[i].PayloadType() {
				t.Fatalf("listener %d packet %d: payload type %d, want %d", i, k, pkt.pt, codecs[i].PayloadType())
			}
			if pkt.marker != (k == 0) {
				t.Errorf("listener %d packet %d: marker %v", i, k, pkt.marker)
			}
			// Same audio at the same frame: the payload is exactly the
			// frame the sink got, encoded with this listener's codec.
			if want := codecs[i].Encode(nil, sent[k]); !slices.Equal(pkt.payload, want) {
				t.Fatalf("listener %d packet %d is not frame %d", i, k, k)
			}
			if pkt.at.Before(first) {
				first = pkt.at
			}
			if pkt.at.After(last) {
				last = pkt.at
			}
		}
		worstSpread = max(worstSpread, last.Sub(first))
	}
	// All listeners get a frame within one tick: a spread of half a frame
	// would already be a listener out of step.
	if worstSpread > framePeriod/2 {
		t.Errorf("a frame reached the listeners %v apart", worstSpread)
	}
	t.Logf("worst arrival spread of one frame across 3 listeners: %v", worstSpread)
	for i, c := range caps {
		var pcm []int16
		for _, pkt := range c.pkts {
			pcm = codecs[i].Decode(pcm, pkt.payload)
		}
		if f := dsp.ToneFraction(pcm, 8000, 437); f < 0.95 {
			t.Errorf("listener %d (%s): 437 Hz in %.0f%% of windows", i, codecs[i].Name(), 100*f)
		}
	}
}

func TestPlayerMP3ToneResampledWithoutAliasing(t *testing.T) {
	level := func(name string) (pcm []int16, rms float64) {
		src, err := OpenMP3("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if info := src.Info(); info.SampleRate != 44100 || info.Channels != 2 {
			t.Fatalf("%s: %+v, want 44.1 kHz stereo", name, info)
		}
		pcm = playToPCM(t, src, false, 100)
		return pcm, dsp.RMS(pcm)
	}
	pcm1k, rms1k := level("tone1k_44100_stereo.mp3")
	// One second at 44.1 kHz is exactly 50 frames at 8 kHz.
	if len(pcm1k) != 8000 {
		t.Errorf("1 kHz file played %d samples, want 8000", len(pcm1k))
	}
	if f := dsp.ToneFraction(pcm1k, 8000, 1000); f < 0.95 {
		t.Errorf("1 kHz tone in %.0f%% of windows", 100*f)
	}
	if l := dsp.LevelDB(pcm1k, 8000, 1000); math.Abs(l+6) > 1 {
		t.Errorf("1 kHz tone at %.1f dB, want -6 (half scale)", l)
	}
	pcm5k, rms5k := level("tone5k_44100_stereo.mp3")
	// 5 kHz is above the 4 kHz Nyquist frequency; without filtering it
	// would alias to 3 kHz at full level. Over the whole file what remains
	// is mostly the broadband click of the tone starting and stopping
	// abruptly at the file's edges; in steady state (100 ms in from each
	// edge) it is the resampler's stopband.
	whole := 20 * math.Log10(rms5k/rms1k)
	steady := 20 * math.Log10(dsp.RMS(pcm5k[800:7200])/dsp.RMS(pcm1k[800:7200]))
	alias := dsp.LevelDB(pcm5k, 8000, 3000)
	t.Logf("5 kHz tone comes out %.1f dB below the 1 kHz tone (%.1f dB in steady state; %.1f dB at the 3 kHz alias)", -whole, -steady, alias)
	if whole > -40 || steady > -40 || alias > -46 {
		t.Errorf("5 kHz tone only %.1f dB (steady %.1f dB, alias %.1f dB) below the 1 kHz tone, want 40 (aliasing)", -whole, -steady, alias)
	}
}

// wrapReport measures a looping tone around its loop points.
type wrapReport struct {
	dropDB    float64 // lowest 20 ms RMS across a wrap, relative to steady state
	stepRatio float64 // largest sample-to-sample step at a wrap / in steady state
	residDB   float64 // largest sine prediction error at a wrap, relative to the tone's peak
}

// measureWraps measures pcm, a looping tone of freq Hz at 8 kHz, around
// the loop points at wraps, against the middle of each pass.
func measureWraps(pcm []int16, freq float64, wraps []int) wrapReport {
	x := func(i int) float64 { return float64(pcm[i]) }
	c := 2 * math.Cos(2*math.Pi*freq/8000)
	// A pure sine satisfies x[n+1] = 2cos(ω)x[n] - x[n-1]. What remains is
	// coding and rounding noise, and any gap, slip or phase jump.
	resid := func(i int) float64 { return math.Abs(x(i+1) - c*x(i) + x(i-1)) }
	step := func(i int) float64 { return math.Abs(x(i) - x(i-1)) }
	var steadyRMS, steadyStep, peak float64
	var n int
	for k := range len(wraps) - 1 {
		for i := wraps[k] + 2000; i < wraps[k+1]-2000; i++ {
			steadyRMS += x(i) * x(i)
			n++
			steadyStep = max(steadyStep, step(i))
			peak = max(peak, math.Abs(x(i)))
		}
	}
	steadyRMS = math.Sqrt(steadyRMS / float64(n))
	var r wrapReport
	var worstResid float64
	for _, w := range wraps {
		for s := w - 240; s <= w+80; s += 4 {
			r.dropDB = min(r.dropDB, 20*math.Log10(dsp.RMS(pcm[s:s+(playerRate/50)])*32767/steadyRMS))
		}
		for i := w - 80; i < w+80; i++ {
			r.stepRatio = max(r.stepRatio, step(i)/steadyStep)
			worstResid = max(worstResid, resid(i))
		}
	}
	r.residDB = 20 * math.Log10(worstResid/peak)
	return r
}

func TestPlayerMP3LoopIsGapless(t *testing.T) {
	// Each file is one second of a 250 Hz sine at half scale: 250 whole
	// cycles, so the loop is phase-continuous if nothing is added or lost.
	//
	// Thresholds, at 8 kHz:
	//   - No 20 ms window across a wrap may be 3 dB quieter than the
	//     steady tone. Untrimmed, LAME's delay and padding (1105 + 875
	//     samples at 44.1 kHz) would leave a 45 ms hole.
	//   - No sample-to-sample step may exceed 1.25 times the steady tone's
	//     largest (2·A·sin(π·250/8000) plus noise); a gap to silence or a
	//     phase flip would reach 2 to 5 times.
	//   - The sine prediction error x[n+1] − 2cos(ω)x[n] + x[n−1] is about
	//     -75 dB (rounding) in steady state. A slip of one 8 kHz sample
	//     makes it about -14 dB, of one 44.1 kHz sample -29 dB. With the
	//     LAME tag the trim is exact and only MP3 coding error at the file
	//     edges remains (measured -46 dB): the limit is -40 dB. Without a
	//     tag the silence trim can be off by a sample or so (measured
	//     -31.5 dB): the limit is -30 dB, still below an audible click on
	//     a tone.
	for _, tc := range []struct {
		file    string
		lameTag bool
		residDB float64
	}{
		{"loop250_44100_stereo.mp3", true, -40},
		{"loop250_22050_mono.mp3", true, -40},
		{"loop250_44100_notag.mp3", false, -30},
	} {
		t.Run(tc.file, func(t *testing.T) {
			src, err := OpenMP3("testdata/" + tc.file)
			if err != nil {
				t.Fatal(err)
			}
			info := src.Info()
			if info.LAMETag != tc.lameTag {
				t.Fatalf("LAMETag = %v, want %v", info.LAMETag, tc.lameTag)
			}
			const passes = 4
			pcm := playToPCM(t, src, true, passes*50+5)
			pass := float64(info.Samples) * 8000 / float64(info.SampleRate)
			var wraps []int
			for k := 1; k < passes; k++ {
				wraps = append(wraps, int(math.Round(float64(k)*pass)))
			}
			r := measureWraps(pcm, 250, wraps)
			t.Logf("%d samples per pass (trim %d+%d); at the wraps: 20 ms RMS %+.2f dB, step %.2f× steady, prediction error %.1f dB re peak",
				info.Samples, info.LeadingTrim, info.TrailingTrim, r.dropDB, r.stepRatio, r.residDB)
			if r.dropDB < -3 {
				t.Errorf("RMS drops %.2f dB at the loop point (gap)", r.dropDB)
			}
			if r.stepRatio > 1.25 {
				t.Errorf("sample step at the loop point %.2f× the tone's own (click)", r.stepRatio)
			}
			if r.residDB > tc.residDB {
				t.Errorf("sine prediction error at the loop point %.1f dB, want below %.0f dB (click)", r.residDB, tc.residDB)
			}
			if f := dsp.ToneFraction(pcm, 8000, 250); f < 0.95 {
				t.Errorf("250 Hz in %.0f%% of windows", 100*f)
			}
		})
	}
}

func TestPlayerSessionJoiningMidStreamHearsCurrentPosition(t *testing.T) {
	checkPlayerGoroutines(t)
	// 0.5 s of 500 Hz, then 0.5 s of 1500 Hz.
	pcm := slices.Concat(dsp.Sine(8000, 500, 500*time.Millisecond, 0.5), dsp.Sine(8000, 1500, 500*time.Millisecond, 0.5))
	src, err := NewClipSource(&Clip{SampleRate: 8000, Channels: 1, Samples: pcm})
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlayer(src, PlayerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	early, earlyPeer := musicSession(t, codec.PCMU())
	late, latePeer := musicSession(t, codec.PCMU())
	p.Attach(early)
	driveFrames(p, 30) // 0.6 s: into the 1500 Hz half
	p.Attach(late)
	driveFrames(p, 10)

	a, b := readPackets(t, earlyPeer), readPackets(t, latePeer)
	if len(a) != 40 || len(b) != 10 {
		t.Fatalf("got %d and %d packets, want 40 and 10", len(a), len(b))
	}
	if !b[0].marker {
		t.Error("first packet of the late session lacks the marker bit")
	}
	for k := range b {
		if !slices.Equal(b[k].payload, a[30+k].payload) {
			t.Fatalf("late packet %d differs from early packet %d", k, 30+k)
		}
	}
	// (HasTone would find µ-law distortion at 500 Hz: 1500 Hz repeats every
	// 16 samples, so its quantisation error has 500 Hz harmonics.)
	first := codec.PCMU().Decode(nil, b[0].payload)
	if l1500, l500 := dsp.LevelDB(first, 8000, 1500), dsp.LevelDB(first, 8000, 500); l1500 < -10 || l500 > -30 {
		t.Errorf("the late session's first frame: 1500 Hz at %.0f dB, 500 Hz at %.0f dB: not the 1500 Hz part (played from the top?)", l1500, l500)
	}
}

func TestPlayerAutomaticModePlaysOnlyWithListeners(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src, err := NewToneSource(400, 0, 0.5)
		if err != nil {
			t.Fatal(err)
		}
		p, err := NewPlayer(src, PlayerConfig{Mode: PlayerAutomatic})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		if f := p.Stats().Frames; f != 0 {
			t.Fatalf("%d frames with no listener", f)
		}
		var rec pcmRecorder
		remove := p.AddSink(&rec)
		time.Sleep(time.Second + time.Millisecond)
		if f := p.Stats().Frames; f != 50 {
			t.Fatalf("%d frames in 1 s with a listener, want 50", f)
		}
		remove()
		time.Sleep(time.Second)
		if f := p.Stats().Frames; f != 50 {
			t.Fatalf("%d frames after the listener left, want still 50", f)
		}
		p.AddSink(&rec)
		time.Sleep(200*time.Millisecond + time.Millisecond)
		if f := p.Stats().Frames; f != 60 {
			t.Fatalf("%d frames, want 60", f)
		}
		// The pause held the position: the tone continues where it left
		// off, without a gap or a jump.
		if got, want := rec.Samples(), dsp.Sine(8000, 400, 1200*time.Millisecond, 0.5); !slices.Equal(got, want) {
			t.Error("audio across the automatic pause is not the continuous tone")
		}
	})
}

func TestPlayerManualModeRunsWithoutListeners(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src, err := NewToneSource(400, 0, 0.5)
		if err != nil {
			t.Fatal(err)
		}
		p, err := NewPlayer(src, PlayerConfig{Mode: PlayerManual})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second + time.Millisecond)
		if f := p.Stats().Frames; f != 50 {
			t.Fatalf("%d frames in 1 s with no listener, want 50", f)
		}
		var rec pcmRecorder
		p.AddSink(&rec)
		time.Sleep(100 * time.Millisecond)
		// A listener joining after 1 s hears the tone from 1 s on.
		tone := dsp.Sine(8000, 400, 1100*time.Millisecond, 0.5)
		if got := rec.Samples(); len(got) != 5*(playerRate/50) || !slices.Equal(got, tone[50*(playerRate/50):]) {
			t.Errorf("late sink got %d samples, not the tone from 1 s on", len(got))
		}
	})
}

func TestPlayerPauseResumeStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src, err := NewToneSource(400, 0, 0.5)
		if err != nil {
			t.Fatal(err)
		}
		p, err := NewPlayer(src, PlayerConfig{Mode: PlayerManual})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		var rec pcmRecorder
		p.AddSink(&rec)
		tone := dsp.Sine(8000, 400, 2*time.Second, 0.5)

		p.Start()
		time.Sleep(500*time.Millisecond + time.Millisecond)
		p.Pause()
		if f := p.Stats().Frames; f != 25 {
			t.Fatalf("%d frames before Pause, want 25", f)
		}
		time.Sleep(time.Second)
		if f := p.Stats().Frames; f != 25 {
			t.Fatalf("%d frames while paused, want 25", f)
		}
		p.Resume()
		time.Sleep(500*time.Millisecond + time.Millisecond)
		if got := rec.Samples(); !slices.Equal(got, tone[:50*(playerRate/50)]) {
			t.Errorf("pause/resume: got %d samples, not the continuous tone", len(got))
		}

		p.Stop()
		time.Sleep(time.Second)
		if f := p.Stats().Frames; f != 50 {
			t.Fatalf("%d frames after Stop, want 50", f)
		}
		// Start after Stop plays from the top.
		p.Start()
		time.Sleep(200*time.Millisecond + time.Millisecond)
		if got := rec.Samples()[50*(playerRate/50):]; !slices.Equal(got, tone[:10*(playerRate/50)]) {
			t.Errorf("after Stop and Start: got %d samples, not the tone from the top", len(got))
		}
	})
}

func TestPlayerOnCompletedOncePerPlay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src, err := NewToneSource(400, 210*time.Millisecond, 0.5) // 10.5 frames
		if err != nil {
			t.Fatal(err)
		}
		p, err := NewPlayer(src, PlayerConfig{Mode: PlayerManual})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		var completed, second, removed atomic.Int32
		p.OnCompleted(func() { completed.Add(1) })
		p.OnCompleted(func() { removed.Add(1) })()
		removeSecond := p.OnCompleted(func() { second.Add(1) })
		var rec pcmRecorder
		p.AddSink(&rec)

		p.Start()
		time.Sleep(time.Second)
		if n := completed.Load(); n != 1 {
			t.Fatalf("OnCompleted ran %d times, want 1", n)
		}
		if n, r := second.Load(), removed.Load(); n != 1 || r != 0 {
			t.Errorf("second handler ran %d times, removed one %d; want 1 and 0", n, r)
		}
		removeSecond()
		got := rec.Samples()
		want := append(dsp.Sine(8000, 400, 210*time.Millisecond, 0.5), make([]int16, 80)...) // last frame padded
		if !slices.Equal(got, want) {
			t.Errorf("played %d samples, want the 1680-sample tone and 80 of padding", len(got))
		}
		p.Start()
		time.Sleep(time.Second)
		if n, f := completed.Load(), p.Stats().Frames; n != 2 || f != 22 {
			t.Fatalf("second play: OnCompleted ran %d times, %d frames; want 2 and 22", n, f)
		}
		if n := second.Load(); n != 1 {
			t.Errorf("removed second handler ran again (%d times)", n)
		}
	})
}

func TestPlayerLoopDoesNotComplete(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src, err := NewToneSource(400, 200*time.Millisecond, 0.5)
		if err != nil {
			t.Fatal(err)
		}
		p, err := NewPlayer(src, PlayerConfig{Mode: PlayerManual, Loop: true})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		var completed atomic.Int32
		p.OnCompleted(func() { completed.Add(1) })
		p.Start()
		time.Sleep(time.Second + time.Millisecond)
		if n := completed.Load(); n != 0 {
			t.Errorf("OnCompleted ran %d times while looping", n)
		}
		// The fifth restart happens as frame 50 reads the end of pass 5.
		if st := p.Stats(); st.Frames != 50 || st.Loops != 5 {
			t.Errorf("stats %+v, want 50 frames and 5 loops", st)
		}
	})
}

func TestPlayerHandlerMayRestartOrClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src, err := NewToneSource(400, 200*time.Millisecond, 0.5)
		if err != nil {
			t.Fatal(err)
		}
		p, err := NewPlayer(src, PlayerConfig{Mode: PlayerManual})
		if err != nil {
			t.Fatal(err)
		}
		var plays atomic.Int32
		p.OnCompleted(func() {
			if plays.Add(1) < 3 {
				if err := p.Start(); err != nil {
					t.Errorf("Start from the handler: %v", err)
				}
				return
			}
			if err := p.Close(); err != nil {
				t.Errorf("Close from the handler: %v", err)
			}
		})
		p.Start()
		time.Sleep(2 * time.Second)
		if n, f := plays.Load(), p.Stats().Frames; n != 3 || f != 30 {
			t.Errorf("%d plays, %d frames; want 3 and 30", n, f)
		}
		if err := p.Start(); !errors.Is(err, ErrPlayerClosed) {
			t.Errorf("Start after Close = %v, want ErrPlayerClosed", err)
		}
	})
}

// failingSource fails after a number of reads.
type failingSource struct {
	Source
	reads int
}

func (f *failingSource) ReadPCM(dst []int16) (int, error) {
	if f.reads == 0 {
		return 0, errors.New("audio: test: disk on fire")
	}
	f.reads--
	return f.Source.ReadPCM(dst)
}

func TestPlayerSourceErrorEndsPlay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tone, err := NewToneSource(400, 0, 0.5)
		if err != nil {
			t.Fatal(err)
		}
		p, err := NewPlayer(&failingSource{Source: tone, reads: 5}, PlayerConfig{Mode: PlayerManual})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		var completed atomic.Int32
		p.OnCompleted(func() { completed.Add(1) })
		p.Start()
		time.Sleep(time.Second)
		if err := p.Err(); err == nil || !strings.Contains(err.Error(), "disk on fire") {
			t.Errorf("Err = %v, want the source's error", err)
		}
		if n, f := completed.Load(), p.Stats().Frames; n != 1 || f != 5 {
			t.Errorf("OnCompleted ran %d times after %d frames; want 1 and 5", n, f)
		}
	})
}

func TestPlayerDetachAndClosedSessions(t *testing.T) {
	checkPlayerGoroutines(t)
	src, err := NewToneSource(1000, 0, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlayer(src, PlayerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	a, aPeer := musicSession(t, codec.PCMU())
	b, _ := musicSession(t, codec.PCMA())
	p.Attach(a)
	p.Attach(a) // twice: still one listener
	p.Attach(b)
	driveFrames(p, 5)
	p.Detach(a)
	b.Close()
	driveFrames(p, 5)
	if got := readPackets(t, aPeer); len(got) != 5 {
		t.Errorf("detached session got %d packets, want 5", len(got))
	}
	st := p.Stats()
	if st.Sessions != 0 || st.SendErrors != 1 {
		t.Errorf("stats %+v: want the closed session dropped after one failed send", st)
	}
	// With no listener left, an automatic player does not produce.
	if driveFrames(p, 5); p.Stats().Frames != st.Frames {
		t.Error("automatic player produced frames with no listener")
	}
}

func TestPlayerCloseLeavesNoGoroutines(t *testing.T) {
	checkPlayerGoroutines(t)
	src, err := OpenMP3("testdata/tone1k_44100_stereo.mp3")
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlayer(src, PlayerConfig{Loop: true})
	if err != nil {
		t.Fatal(err)
	}
	s, peer := musicSession(t, codec.PCMA())
	c := captureRTP(t, peer, 5)
	p.Attach(s)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	<-c.done
	if len(c.pkts) != 5 {
		t.Fatalf("got %d packets, want 5", len(c.pkts))
	}
	if got := codec.PCMA().Decode(nil, c.pkts[4].payload); !dsp.HasTone(got, 8000, 1000) {
		t.Error("no 1 kHz tone in the fifth packet")
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := p.Start(); !errors.Is(err, ErrPlayerClosed) {
		t.Errorf("Start after Close = %v", err)
	}
	p.Attach(s) // does nothing
	if st := p.Stats(); st.Sessions != 0 {
		t.Errorf("%d sessions attached after Close", st.Sessions)
	}
	if _, err := src.ReadPCM(make([]int16, 10)); !errors.Is(err, ErrSourceClosed) {
		t.Errorf("source read after the player's Close = %v, want ErrSourceClosed", err)
	}
}

// g711WAV returns a WAV file of 8-bit G.711 data (tag 6 or 7), mono.
func g711WAV(tag uint16, rate int, data []byte) []byte {
	h := wavHeader(rate, 1, uint32(len(data)))
	h[20], h[21] = byte(tag), byte(tag>>8)
	h[28], h[29], h[30], h[31] = byte(rate), byte(rate>>8), byte(rate>>16), 0 // byte rate
	h[32], h[34] = 1, 8                                                       // block align, bits
	return append(h[:], data...)
}

func TestPlayerWAVFormats(t *testing.T) {
	dir := t.TempDir()
	tone8k := dsp.Sine(8000, 1000, time.Second, 0.5)
	files := map[string]string{
		"pcm16 48 kHz stereo": writeTestWAV(t, 48000, 2, stereo(dsp.Sine(48000, 1000, time.Second, 0.5))),
		"pcm16 16 kHz mono":   writeTestWAV(t, 16000, 1, dsp.Sine(16000, 1000, time.Second, 0.5)),
	}
	for name, b := range map[string][]byte{
		"mu-law 8 kHz": g711WAV(wavFormatMuLaw, 8000, codec.PCMU().Encode(nil, tone8k)),
		"a-law 8 kHz":  g711WAV(wavFormatALaw, 8000, codec.PCMA().Encode(nil, tone8k)),
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".wav")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		files[name] = path
	}
	for name, path := range files {
		src, err := OpenWAVSource(path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		pcm := playToPCM(t, src, false, 100)
		if len(pcm) != 8000 {
			t.Errorf("%s: %d samples, want 8000 (one second)", name, len(pcm))
		}
		if f := dsp.ToneFraction(pcm, 8000, 1000); f < 0.95 {
			t.Errorf("%s: 1 kHz tone in %.0f%% of windows", name, 100*f)
		}
		if l := dsp.LevelDB(pcm, 8000, 1000); math.Abs(l+6) > 1 {
			t.Errorf("%s: tone at %.1f dB, want -6", name, l)
		}
	}
}

func TestOpenWAVSourceErrors(t *testing.T) {
	dir := t.TempDir()
	good := writeTestWAV(t, 8000, 1, dsp.Sine(8000, 1000, 100*time.Millisecond, 0.5))
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	empty := writeTestWAV(t, 8000, 1, nil)
	cases := map[string]struct {
		data []byte
		want string
	}{
		"truncated data":   {b[:len(b)-100], "truncated data chunk"},
		"truncated header": {b[:30], "truncated fmt chunk"},
		"not a wav":        {[]byte("ID3\x03\x00\x00\x00\x00\x00\x00 this is an mp3"), "not a RIFF/WAVE file"},
		"corrupt format":   {append(append([]byte{}, b[:20]...), append([]byte{0x55, 0}, b[22:]...)...), "unsupported format"},
	}
	for name, tc := range cases {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".wav")
		if err := os.WriteFile(path, tc.data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := OpenWAVSource(path)
		if err == nil || !strings.HasPrefix(err.Error(), "audio: wav: ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, tc.want)
		}
	}
	if _, err := OpenWAVSource(empty); err == nil || !strings.Contains(err.Error(), "no audio samples") {
		t.Errorf("empty WAV: error %v", err)
	}
	if _, err := NewClipSource(&Clip{SampleRate: 8000, Channels: 3, Samples: make([]int16, 3)}); err == nil {
		t.Error("three channels accepted")
	}
}

func TestToneAndSilenceSources(t *testing.T) {
	if _, err := NewToneSource(4000, 0, 0.5); err == nil {
		t.Error("4 kHz tone accepted at 8 kHz")
	}
	tone, err := NewToneSource(1000, 100*time.Millisecond, 0.25)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]int16, 1000)
	n, err := tone.ReadPCM(buf)
	if n != 800 || err != io.EOF {
		t.Fatalf("ReadPCM = %d, %v; want 800, EOF", n, err)
	}
	if !slices.Equal(buf[:n], dsp.Sine(8000, 1000, 100*time.Millisecond, 0.25)) {
		t.Error("tone source differs from dsp.Sine")
	}
	if err := tone.Rewind(); err != nil {
		t.Fatal(err)
	}
	if n, _ := tone.ReadPCM(buf[:10]); !slices.Equal(buf[:n], dsp.Sine(8000, 1000, 1250*time.Microsecond, 0.25)) {
		t.Error("Rewind does not restart the tone at phase zero")
	}
	silence := NewSilenceSource(0)
	buf[0] = 1
	if n, err := silence.ReadPCM(buf); n != len(buf) || err != nil || dsp.RMS(buf) != 0 {
		t.Errorf("endless silence: %d, %v, RMS %g", n, err, dsp.RMS(buf))
	}
	tone.Close()
	if _, err := tone.ReadPCM(buf); !errors.Is(err, ErrSourceClosed) {
		t.Errorf("read after Close = %v", err)
	}
}

// benchPlayer returns a looping player of src with n PCMU sessions, all
// sending to one peer socket that discards.
func benchPlayer(b *testing.B, src Source, sessions int) *Player {
	p, err := NewPlayer(src, PlayerConfig{Loop: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sink.Close() })
	to := sink.LocalAddr().(*net.UDPAddr).AddrPort()
	for range sessions {
		p.Attach(newRTPOutput(b, codec.PCMU(), to))
	}
	return p
}

// benchSources returns the sources BenchmarkPlayerFrame plays: the
// 44.1 kHz stereo MP3 fixture, and the same tone as a 44.1 kHz stereo WAV,
// whose decoding is free, to show the player's own cost.
func benchSources(b *testing.B) map[string]func() Source {
	return map[string]func() Source{
		"mp3": func() Source {
			src, err := OpenMP3("testdata/tone1k_44100_stereo.mp3")
			if err != nil {
				b.Fatal(err)
			}
			return src
		},
		"wav": func() Source {
			src, err := NewClipSource(&Clip{SampleRate: 44100, Channels: 2, Samples: stereo(dsp.Sine(44100, 1000, time.Second, 0.5))})
			if err != nil {
				b.Fatal(err)
			}
			return src
		},
	}
}

// BenchmarkPlayerFrame measures one 20 ms frame (one clock tick) of a
// player: reading and decoding the source, downmixing and resampling once,
// one PCMU encoding, and a send per session. decode-ns/frame is the part
// before sending, which must not grow with the number of sessions.
func BenchmarkPlayerFrame(b *testing.B) {
	for _, kind := range []string{"mp3", "wav"} {
		for _, n := range []int{1, 10, 100} {
			b.Run(fmt.Sprintf("%s/sessions=%d", kind, n), func(b *testing.B) {
				p := benchPlayer(b, benchSources(b)[kind](), n)
				driveFrames(p, 50) // warm up: buffers at their steady size
				var produce time.Duration
				b.ReportAllocs()
				for b.Loop() {
					p.tickMu.Lock()
					p.mu.Lock()
					p.sendTo = p.sendTo[:0]
					for _, ls := range p.sessions {
						p.sendTo = append(p.sendTo, playerSend{s: ls.s})
					}
					p.mu.Unlock()
					start := time.Now()
					p.produceLocked()
					produce += time.Since(start)
					p.sendLocked()
					p.tickMu.Unlock()
				}
				st := p.Stats()
				b.ReportMetric(float64(produce.Nanoseconds())/float64(b.N), "decode-ns/frame")
				b.ReportMetric(float64(st.Encodes)/float64(st.Frames), "encodes/frame")
				b.ReportMetric(float64(st.Packets)/float64(st.Frames), "packets/frame")
			})
		}
	}
}

// TestPlayerG722Session: a G.722 session gets 20 ms packets of 160 octets
// (320 samples at 16 kHz) whose timestamps advance by 160 (RFC 3551's 8 kHz
// clock), and they decode, in one stream, to the player's tone at 16 kHz.
func TestPlayerG722Session(t *testing.T) {
	checkPlayerGoroutines(t)
	src, err := NewToneSource(700, 2*time.Second, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlayer(src, PlayerConfig{Mode: PlayerManual})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	s, peer := musicSession(t, codec.G722())
	p.Attach(s)
	const frames = 25
	c := captureRTP(t, peer, frames)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	<-c.done
	p.Stop()
	if len(c.pkts) < frames {
		t.Fatalf("got %d packets, want %d (stats %+v)", len(c.pkts), frames, p.Stats())
	}
	dec := codec.NewDecoder(codec.G722())
	var pcm []int16
	for i, pkt := range c.pkts {
		if pkt.pt != 9 || len(pkt.payload) != 160 {
			t.Fatalf("packet %d: pt %d, %d octets; want 9, 160", i, pkt.pt, len(pkt.payload))
		}
		pcm = dec.Decode(pcm, pkt.payload)
	}
	if s.ts != uint32(160*len(c.pkts)) {
		t.Errorf("timestamp advanced %d over %d packets, want 160 each", s.ts, len(c.pkts))
	}
	if f := dsp.ToneFraction(pcm[1600:], 16000, 700); f < 0.95 {
		t.Fatalf("700 Hz in %.0f%% of the decoded 16 kHz audio", f*100)
	}
	if st := p.Stats(); st.Skipped != 0 {
		t.Errorf("skipped %d frames", st.Skipped)
	}
}

// TestPlayer16kHz: a 16 kHz player (PlayerConfig.SampleRate) gives its
// sinks 320-sample frames that keep a 6 kHz tone, sends G.722 outputs the
// frame as is and PCMU outputs the frame resampled to 8 kHz once: they
// hear the 1 kHz tone and not the 6 kHz one, nor its alias at 2 kHz.
func TestPlayer16kHz(t *testing.T) {
	mixed := dsp.Sine(16000, 1000, time.Second, 0.2)
	for i, v := range dsp.Sine(16000, 6000, time.Second, 0.2) {
		mixed[i] += v
	}
	src, err := NewClipSource(&Clip{SampleRate: 16000, Channels: 1, Samples: mixed})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewPlayer(src, PlayerConfig{SampleRate: 44100}); err == nil {
		t.Error("a 44.1 kHz player was accepted")
	}
	p, err := NewPlayer(src, PlayerConfig{Mode: PlayerManual, SampleRate: 16000})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	rec := &pcmRecorder{}
	p.AddSink(rec)
	wide, widePeer := musicSession(t, codec.G722())
	narrow, narrowPeer := musicSession(t, codec.PCMU())
	p.Attach(wide)
	p.Attach(narrow)
	done := make(chan struct{})
	p.OnCompleted(func() { close(done) })
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	<-done
	frames := rec.Frames()
	if len(frames) != 50 || len(frames[0]) != 320 {
		t.Fatalf("sink got %d frames of %d samples, want 50 of 320", len(frames), len(frames[0]))
	}
	if fr := dsp.ToneFraction(rec.Samples(), 16000, 6000); fr < 0.95 {
		t.Errorf("sink hears 6 kHz in %.0f%%", fr*100)
	}
	dec := codec.NewDecoder(codec.G722())
	var w []int16
	for _, pk := range readPackets(t, widePeer) {
		w = dec.Decode(w, pk.payload)
	}
	if fr := dsp.ToneFraction(w[3200:], 16000, 6000); fr < 0.9 {
		t.Errorf("G.722 output hears 6 kHz in %.0f%%", fr*100)
	}
	var n []int16
	for _, pk := range readPackets(t, narrowPeer) {
		n = codec.PCMU().Decode(n, pk.payload)
	}
	if len(n) != 8000 {
		t.Fatalf("PCMU output got %d samples, want 8000", len(n))
	}
	if fr := dsp.ToneFraction(n, 8000, 1000); fr < 0.95 {
		t.Errorf("PCMU output hears 1 kHz in %.0f%%", fr*100)
	}
	if l := dsp.LevelDB(n, 8000, 2000); l > -50 {
		t.Errorf("PCMU output: 2 kHz (the 6 kHz alias) at %.1f dB", l)
	}
}

// stallingOutput takes 70 ms, longer than three ticks, to write its
// tenth packet, as a descheduled clock goroutine would.
type stallingOutput struct{ n int }

func (o *stallingOutput) Codec() codec.Codec { return codec.PCMU() }
func (o *stallingOutput) WriteRTPPayload(pt uint8, samples int, payload []byte, marker bool) error {
	if o.n++; o.n == 10 {
		time.Sleep(70 * time.Millisecond)
	}
	return nil
}

// TestPlayerCatchesUpLateTicks: a clock goroutine late by three ticks
// sends the frames it missed at once, so every listener still gets 50
// frames a second (a time.Ticker alone would drop two of them), and
// counts them in Stats.CaughtUp.
func TestPlayerCatchesUpLateTicks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src, err := NewToneSource(400, 0, 0.5)
		if err != nil {
			t.Fatal(err)
		}
		p, err := NewPlayer(src, PlayerConfig{Mode: PlayerAutomatic})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		o := &stallingOutput{}
		p.Attach(o)
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second + time.Millisecond)
		synctest.Wait()
		st := p.Stats()
		if st.Frames != 50 || o.n != 50 {
			t.Errorf("in 1 s with a 70 ms stall: %d frames, %d packets; want 50 and 50", st.Frames, o.n)
		}
		// The stall spans the ticks of frames 11–13, sent together at
		// 270 ms: the first of them counts as the tick's own frame.
		if st.CaughtUp != 2 || st.Late != 0 {
			t.Errorf("CaughtUp %d, Late %d; want 2 and 0", st.CaughtUp, st.Late)
		}
	})
}
