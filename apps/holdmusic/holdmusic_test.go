package holdmusic

import (
	"context"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/media/dsp"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// writeTone writes a WAV file of a sine tone of freq Hz lasting d.
func writeTone(t testing.TB, path string, rate, channels int, freq float64, d time.Duration) {
	t.Helper()
	mono := dsp.Sine(rate, freq, d, 0.3)
	pcm := mono
	if channels == 2 {
		pcm = make([]int16, 0, 2*len(mono))
		for _, v := range mono {
			pcm = append(pcm, v, v)
		}
	}
	w, err := audio.CreateWAV(path, rate, channels)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(pcm); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// readPass reads src to its end.
func readPass(t testing.TB, src audio.Source) []int16 {
	t.Helper()
	var out []int16
	buf := make([]int16, 4096)
	for {
		n, err := src.ReadPCM(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// to8k converts mono PCM at rate to 8 kHz.
func to8k(t testing.TB, pcm []int16, rate int) []int16 {
	t.Helper()
	rs, err := audio.NewResampler(rate, 8000)
	if err != nil {
		t.Fatal(err)
	}
	return rs.Flush(rs.Process(nil, pcm))
}

// waitFor polls cond for up to 5 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// newService starts a Service registered on a new test server.
func newService(t testing.TB, cfg Config) (*sbt.Server, *Service) {
	t.Helper()
	srv := sbt.NewServer(t)
	svc, err := New(srv.Platform, cfg, WithLogger(sbt.Logger(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	return srv, svc
}

func TestDefaultMusic(t *testing.T) {
	src, err := audio.NewMP3Source(defaultMP3)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	info := src.Info()
	if !info.LAMETag || info.SampleRate != 44100 || info.Channels != 1 {
		t.Fatalf("info = %+v, want a mono 44.1 kHz file with a LAME tag", info)
	}
	const loop = 8 * 44100
	if info.Samples != loop {
		t.Fatalf("one pass is %d samples, want %d (8 s)", info.Samples, loop)
	}
	if len(defaultMP3) > 100<<10 {
		t.Errorf("default.mp3 is %d bytes, want < 100 KB", len(defaultMP3))
	}
	first := readPass(t, src)
	if err := src.Rewind(); err != nil {
		t.Fatal(err)
	}
	// Half a second of the second pass is enough to judge the loop point.
	second := make([]int16, 44100/2)
	if n, err := src.ReadPCM(second); n != len(second) || err != nil {
		t.Fatalf("second pass: %d samples, %v", n, err)
	}
	if len(first) != loop {
		t.Fatalf("first pass of %d samples, want %d", len(first), loop)
	}

	// The whole loop carries the marker at 8 kHz, the rate calls hear.
	f := dsp.ToneFraction(to8k(t, first, 44100), 8000, DefaultMarkerHz)
	t.Logf("marker in %.1f%% of 20 ms windows", 100*f)
	if f < 0.8 {
		t.Errorf("marker in %.0f%% of 20 ms windows, want >= 80%%", 100*f)
	}
	// Across the loop point (the middle of 200 ms around it): the marker
	// in every window and no gap.
	around := append(first[loop-44100/2:], second[:44100/2]...)
	pcm8k := to8k(t, around, 44100)
	seam := pcm8k[len(pcm8k)/2-800 : len(pcm8k)/2+800]
	if f := dsp.ToneFraction(seam, 8000, DefaultMarkerHz); f < 1 {
		t.Errorf("marker in %.0f%% of the windows around the loop point, want all", 100*f)
	}
	for i := 0; i+40 <= len(seam); i += 40 { // 5 ms windows
		if db := 20 * math.Log10(max(dsp.RMS(seam[i:i+40]), 1e-10)); db < -30 {
			t.Fatalf("gap at the loop point: %.0f dB at %d ms", db, (i-800)/8)
		}
	}
	// No click: the step across the loop point is no larger than the
	// steepest step inside the loop.
	var steepest int
	for i := 1; i < loop; i++ {
		steepest = max(steepest, abs(int(first[i])-int(first[i-1])))
	}
	if step := abs(int(second[0]) - int(first[loop-1])); step > steepest {
		t.Errorf("step of %d across the loop point, steepest inside is %d", step, steepest)
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// TestSharedPlayer dials the default music from two phones at different
// times: both hear it from one player, which decodes once per 20 ms.
func TestSharedPlayer(t *testing.T) {
	sbt.CheckGoroutines(t)
	srv, svc := newService(t, Config{})
	if got := svc.Names(); len(got) != 1 || got[0] != DefaultSource {
		t.Fatalf("Names() = %v, want [default]", got)
	}
	p, ok := svc.Player("")
	if !ok {
		t.Fatal("no default player")
	}

	alice := sbt.NewPhone(t, "alice").Dial(t, srv.URI("moh"))
	waitFor(t, "alice attached", func() bool { return p.Stats().Sessions == 1 })
	s0, t0 := p.Stats(), time.Now()
	time.Sleep(400 * time.Millisecond)
	s1, t1 := p.Stats(), time.Now()
	checkRate(t, "one listener", s1.Frames-s0.Frames, t1.Sub(t0))

	bob := sbt.NewPhone(t, "bob").Dial(t, srv.URI("moh"))
	waitFor(t, "bob attached", func() bool { return p.Stats().Sessions == 2 })
	alice.ResetRecording()
	bob.ResetRecording()
	s2, t2 := p.Stats(), time.Now()
	// 500 ms each; waiting on the recordings rather than sleeping keeps
	// the test right on a loaded machine, where the phones lag.
	waitFor(t, "500 ms of music", func() bool {
		return len(alice.Recording()) >= 4000 && len(bob.Recording()) >= 4000
	})
	s3, t3 := p.Stats(), time.Now()
	frames := s3.Frames - s2.Frames
	checkRate(t, "two listeners", frames, t3.Sub(t2))
	if s3.Sessions != 2 {
		t.Errorf("Sessions = %d, want 2", s3.Sessions)
	}
	if enc := s3.Encodes - s2.Encodes; enc > frames+1 {
		t.Errorf("%d encodings for %d frames, want one per frame (both calls use one codec)", enc, frames)
	}
	if pk := s3.Packets - s2.Packets; pk+4 < 2*frames || pk > 2*frames+4 {
		t.Errorf("%d packets for %d frames, want two per frame", pk, frames)
	}
	if s3.Frames < s1.Frames {
		t.Errorf("the player restarted when bob joined")
	}
	for name, pc := range map[string]*sbt.PhoneCall{"alice": alice, "bob": bob} {
		rec := pc.Recording()
		f := dsp.ToneFraction(rec, 8000, DefaultMarkerHz)
		t.Logf("%s: marker in %.1f%% of 20 ms windows", name, 100*f)
		if f < 0.8 {
			t.Errorf("%s heard %d samples with the marker in %.0f%% of windows, want >= 80%%", name, len(rec), 100*f)
		}
	}

	bob.Hangup(t)
	waitFor(t, "bob detached", func() bool { return p.Stats().Sessions == 1 })

	// A bot serving the handler on its own endpoint.
	own, err := endpoint.NewApplication(srv.Platform, endpoint.Settings{OwnerURI: "sip:mymoh@127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	own.HandleCalls(svc.Handler())

	// Close hangs up alice, takes sip:moh@ off the dial plan (404) and
	// makes the handler decline new callers (503).
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	alice.WaitTerminated(t, 5*time.Second)
	if err := svc.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = sbt.NewPhone(t, "carol").DialContext(ctx, srv.URI("moh"), endpoint.EstablishOptions{})
	checkCode(t, err, 404)
	_, err = sbt.NewPhone(t, "dave").DialContext(ctx, srv.URI("mymoh"), endpoint.EstablishOptions{})
	checkCode(t, err, 503)
}

// checkRate checks that frames were produced once per 20 ms over d, not
// once per listener. The lower bound is loose: on a loaded machine the
// player's ticker drops ticks.
func checkRate(t testing.TB, what string, frames uint64, d time.Duration) {
	t.Helper()
	want := float64(d) / float64(20*time.Millisecond)
	if f := float64(frames); f < 0.5*want || f > 1.2*want+1 {
		t.Errorf("%s: %d frames in %v, want about %.0f (one per 20 ms)", what, frames, d, want)
	}
}

func checkCode(t testing.TB, err error, code int) {
	t.Helper()
	var re *endpoint.ResponseError
	if !errors.As(err, &re) || re.Code != code {
		t.Errorf("dial: %v, want a %d response", err, code)
	}
}

func TestNamedSource(t *testing.T) {
	sbt.CheckGoroutines(t)
	path := filepath.Join(t.TempDir(), "beep.wav")
	writeTone(t, path, 16000, 1, 1000, time.Second)
	srv, svc := newService(t, Config{Sources: map[string]SourceConfig{"beep": {File: path}}})
	if got := strings.Join(svc.Names(), ","); got != "beep,default" {
		t.Fatalf("Names() = %s, want beep,default", got)
	}
	phone := sbt.NewPhone(t, "alice")
	call := phone.Dial(t, srv.URI("moh-beep"))
	p, _ := svc.Player("beep")
	waitFor(t, "attached", func() bool { return p.Stats().Sessions == 1 })
	waitFor(t, "400 ms of music", func() bool { return len(call.Recording()) >= 3200 })
	rec := call.Recording()
	if f := dsp.ToneFraction(rec, 8000, 1000); f < 0.9 {
		t.Errorf("1 kHz in %.0f%% of windows of %d samples, want >= 90%%", 100*f, len(rec))
	}
	if dsp.HasTone(rec, 8000, DefaultMarkerHz) {
		t.Error("moh-beep played the default music")
	}
	if def, _ := svc.Player(""); def.Stats().Frames != 0 {
		t.Error("the default player ran without listeners")
	}
	call.Hangup(t)

	for _, user := range []string{"moh-nope", "moh-"} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := phone.DialContext(ctx, srv.URI(user), endpoint.EstablishOptions{})
		cancel()
		checkCode(t, err, 404)
	}
}

// writePlaylist writes a 700 Hz track at 16 kHz mono and a 1300 Hz track
// at 44.1 kHz stereo, each lasting d, plus a file that is not audio.
func writePlaylist(t testing.TB, d time.Duration) string {
	t.Helper()
	dir := t.TempDir()
	writeTone(t, filepath.Join(dir, "1-low.wav"), 16000, 1, 700, d)
	writeTone(t, filepath.Join(dir, "2-high.WAV"), 44100, 2, 1300, d)
	if err := os.WriteFile(filepath.Join(dir, "README.txt"), []byte("not music"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestPlaylistSource(t *testing.T) {
	dir := writePlaylist(t, 500*time.Millisecond)
	src, err := openPlaylist(dir, false, MaxPlaylist)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if src.SampleRate() != 8000 || src.Channels() != 1 {
		t.Fatalf("%d Hz, %d channels, want 8 kHz mono", src.SampleRate(), src.Channels())
	}
	for pass := range 2 {
		pcm := readPass(t, src)
		if len(pcm) < 7900 || len(pcm) > 8100 {
			t.Fatalf("pass %d: %d samples, want about 8000", pass, len(pcm))
		}
		low, high := pcm[160:3840], pcm[4160:7840]
		if dsp.ToneFraction(low, 8000, 700) < 1 || dsp.HasTone(low, 8000, 1300) {
			t.Errorf("pass %d: first half is not the 700 Hz track", pass)
		}
		if dsp.ToneFraction(high, 8000, 1300) < 1 || dsp.HasTone(high, 8000, 700) {
			t.Errorf("pass %d: second half is not the 1300 Hz track", pass)
		}
		if err := src.Rewind(); err != nil {
			t.Fatal(err)
		}
	}

	sh, err := openPlaylist(dir, true, MaxPlaylist)
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	for pass := range 4 {
		pcm := readPass(t, sh)
		a, b := pcm[160:3840], pcm[4160:7840]
		if !(dsp.HasTone(a, 8000, 700) && dsp.HasTone(b, 8000, 1300)) &&
			!(dsp.HasTone(a, 8000, 1300) && dsp.HasTone(b, 8000, 700)) {
			t.Errorf("shuffled pass %d does not play each track once", pass)
		}
		_ = sh.Rewind()
	}

	if _, err := openPlaylist(dir, false, 900*time.Millisecond); err == nil || !strings.Contains(err.Error(), "more than 900ms") {
		t.Errorf("over the limit: %v, want a 'more than 900ms' error", err)
	}
}

// TestPlaylistCall plays a directory to a caller: both tracks, in order.
func TestPlaylistCall(t *testing.T) {
	sbt.CheckGoroutines(t)
	dir := writePlaylist(t, 300*time.Millisecond)
	srv, svc := newService(t, Config{Sources: map[string]SourceConfig{"list": {Dir: dir}}})
	call := sbt.NewPhone(t, "alice").Dial(t, srv.URI("moh-list"))
	waitFor(t, "900 ms of music", func() bool { return len(call.Recording()) >= 7200 })
	rec := call.Recording()
	call.Hangup(t)
	first := func(freq float64) int {
		for i := 0; i+160 <= len(rec); i += 160 {
			if dsp.HasTone(rec[i:i+160], 8000, freq) {
				return i / 160
			}
		}
		return -1
	}
	low, high := first(700), first(1300)
	if low < 0 || high < 0 || low > high {
		t.Errorf("first 700 Hz window %d, first 1300 Hz window %d: want both, 700 Hz first", low, high)
	}
	p, _ := svc.Player("list")
	if p.Stats().Loops == 0 {
		t.Error("the playlist did not loop")
	}
}

func TestBadConfig(t *testing.T) {
	sbt.CheckGoroutines(t)
	dir := t.TempDir()
	badMP3 := filepath.Join(dir, "bad.mp3")
	badWAV := filepath.Join(dir, "bad.wav")
	if err := os.WriteFile(badMP3, []byte(strings.Repeat("not an mp3 ", 100)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(badWAV, []byte("RIFF\x10\x00\x00\x00WAVEjunkjunk"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	badDir := t.TempDir()
	writeTone(t, filepath.Join(badDir, "a.wav"), 8000, 1, 440, 100*time.Millisecond)
	if err := os.WriteFile(filepath.Join(badDir, "b.mp3"), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.mp3")
	srv := sbt.NewServer(t)
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string
	}{
		{"missing file", Config{Sources: map[string]SourceConfig{"x": {File: missing}}}, []string{`source "x"`, missing}},
		{"corrupt mp3", Config{Sources: map[string]SourceConfig{"x": {File: badMP3}}}, []string{`source "x"`, badMP3, "not an MPEG audio file"}},
		{"corrupt wav", Config{Sources: map[string]SourceConfig{"x": {File: badWAV}}}, []string{`source "x"`, badWAV}},
		{"other type", Config{Sources: map[string]SourceConfig{"x": {File: "a.ogg"}}}, []string{`source "x"`, "a.ogg", "not an .mp3 or .wav"}},
		{"empty dir", Config{Sources: map[string]SourceConfig{"x": {Dir: empty}}}, []string{`source "x"`, empty, "no .mp3 or .wav"}},
		{"missing dir", Config{Sources: map[string]SourceConfig{"x": {Dir: missing}}}, []string{`source "x"`, missing}},
		{"corrupt file in dir", Config{Sources: map[string]SourceConfig{"x": {Dir: badDir}}}, []string{`source "x"`, filepath.Join(badDir, "b.mp3")}},
		{"file and dir", Config{Sources: map[string]SourceConfig{"x": {File: badMP3, Dir: empty}}}, []string{`source "x"`, "not both"}},
		{"shuffle a file", Config{Sources: map[string]SourceConfig{"x": {File: badMP3, Shuffle: true}}}, []string{`source "x"`, "shuffle needs dir"}},
		{"bad name", Config{Sources: map[string]SourceConfig{"a b": {}}}, []string{`"a b"`}},
		{"unknown default", Config{Default: "jazz"}, []string{`default source "jazz"`}},
		// A bad source after a good one closes the good one's player.
		{"bad after good", Config{Sources: map[string]SourceConfig{"a": {}, "z": {File: missing}}}, []string{`source "z"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, err := New(srv.Platform, tc.cfg)
			if err == nil {
				svc.Close()
				t.Fatal("New succeeded")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "holdmusic: ") {
				t.Errorf("error %q lacks the holdmusic: prefix", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
		})
	}
}

// TestClose checks that Close stops every player's goroutine, detaches
// listeners and is idempotent.
func TestClose(t *testing.T) {
	sbt.CheckGoroutines(t)
	path := filepath.Join(t.TempDir(), "beep.wav")
	writeTone(t, path, 8000, 1, 1000, 200*time.Millisecond)
	srv := sbt.NewServer(t)
	svc, err := New(srv.Platform, Config{Sources: map[string]SourceConfig{"beep": {File: path}, "default": {}}})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := svc.Player("beep")
	heard := make(chan struct{}, 1)
	p.AddSink(audio.SinkFunc(func(pcm []int16) {
		if dsp.HasTone(pcm, 8000, 1000) {
			select {
			case heard <- struct{}{}:
			default:
			}
		}
	}))
	select {
	case <-heard:
	case <-time.After(5 * time.Second):
		t.Fatal("the beep source played nothing")
	}
	for range 2 {
		if err := svc.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if st := p.Stats(); st.Sinks != 0 {
		t.Errorf("%d sinks after Close", st.Sinks)
	}
	if err := p.Start(); !errors.Is(err, audio.ErrPlayerClosed) {
		t.Errorf("Start after Close: %v, want ErrPlayerClosed", err)
	}
}
