package recorder

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/media/codec"
	"github.com/switchboard-sip/switchboard/media/dsp"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestG711RoundTrip: decoding and re-encoding gives back every code but
// µ-law's negative zero (0x7F, which decodes to 0 like 0xFF): what Native
// relies on to write the wire's bytes from decoded PCM.
func TestG711RoundTrip(t *testing.T) {
	for _, c := range []codec.Codec{codec.PCMU(), codec.PCMA()} {
		for b := range 256 {
			in := []byte{byte(b)}
			out := c.Encode(nil, c.Decode(nil, in))
			if out[0] != in[0] && !(c.Name() == "PCMU" && b == 0x7F) {
				t.Errorf("%s: %#02x decodes and encodes to %#02x", c.Name(), b, out[0])
			}
		}
	}
}

// memFile is a File in memory.
type memFile struct {
	buf    []byte
	off    int
	syncs  int
	closed bool
}

func (f *memFile) Write(b []byte) (int, error) {
	n, _ := f.WriteAt(b, int64(f.off))
	f.off += n
	return n, nil
}

func (f *memFile) WriteAt(b []byte, off int64) (int, error) {
	if end := int(off) + len(b); end > len(f.buf) {
		f.buf = append(f.buf, make([]byte, end-len(f.buf))...)
	}
	return copy(f.buf[off:], b), nil
}

func (f *memFile) Sync() error  { f.syncs++; return nil }
func (f *memFile) Close() error { f.closed = true; return nil }

// TestWAVWriterCheckpoints: at every moment the bytes of a file being
// written form a valid WAV (a fresh header says 0 bytes; each checkpoint
// describes exactly what was synced, with buffered audio after it
// ignored), for PCM16 stereo and G.711 with its fact chunk; the final
// file holds every sample, and decodes back to the tone.
func TestWAVWriterCheckpoints(t *testing.T) {
	for _, enc := range []Encoding{PCM16, PCMU, PCMA} {
		f := &memFile{}
		w, err := newWAVWriter(f, "x.wav", enc, 2, 8000, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if r, err := sbt.ParseRecording(f.buf); err != nil || len(r.Channels[0]) != 0 {
			t.Fatalf("%v: empty file: %v", enc, err)
		}
		tone := dsp.Sine(8000, 440, time.Second, 0.3)
		frame := make([]int16, 320)
		for i := 0; i < 50; i++ {
			for k := range 160 {
				frame[2*k], frame[2*k+1] = tone[i*160+k], 0
			}
			w.writeFrame(frame)
			if i == 24 {
				if err := w.checkpoint(); err != nil {
					t.Fatal(err)
				}
			}
			if i == 30 {
				_ = w.flush() // written but not yet described
				r, err := sbt.ParseRecording(f.buf)
				if err != nil {
					t.Fatalf("%v: mid-recording: %v", enc, err)
				}
				if got := len(r.Channels[0]); got != 25*160 {
					t.Errorf("%v: after a checkpoint at 25 frames the header describes %d samples", enc, got)
				}
			}
		}
		if err := w.close(); err != nil {
			t.Fatal(err)
		}
		r, err := sbt.ParseRecording(f.buf)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Channels) != 2 || len(r.Channels[0]) != 8000 || !f.closed || f.syncs < 2 {
			t.Fatalf("%v: %d channels of %d samples, closed %v, %d syncs", enc, len(r.Channels), len(r.Channels[0]), f.closed, f.syncs)
		}
		if l := sbt.ToneLevel(r.Channels[0], 8000, 440); l < -12 {
			t.Errorf("%v: 440 Hz at %.1f dB", enc, l)
		}
		if enc != PCM16 && (r.Format != map[Encoding]int{PCMU: 7, PCMA: 6}[enc]) {
			t.Errorf("%v: format tag %d", enc, r.Format)
		}
		if sox, err := exec.LookPath("sox"); err == nil {
			p := filepath.Join(t.TempDir(), "x.wav")
			_ = os.WriteFile(p, f.buf, 0o600)
			out, err := exec.Command(sox, "--i", "-s", p).CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != "8000" {
				t.Errorf("%v: sox --i -s: %s %v", enc, out, err)
			}
		}
	}
}

// TestWAVSizeLimit: a file that would pass 4 GiB stops with an error.
func TestWAVSizeLimit(t *testing.T) {
	w, err := newWAVWriter(&memFile{}, "x.wav", PCM16, 1, 8000, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	w.written = maxWAVData - 100
	w.writeFrame(make([]int16, 160))
	if !errors.Is(w.err, errWAVFull) {
		t.Errorf("past 4 GiB: %v", w.err)
	}
}

// discard is a Storage that keeps nothing.
type discard struct{}

func (discard) Create(string) (File, error) { return &nullFile{}, nil }

type nullFile struct{}

func (*nullFile) Write(b []byte) (int, error)            { return len(b), nil }
func (*nullFile) WriteAt(b []byte, _ int64) (int, error) { return len(b), nil }
func (*nullFile) Sync() error                            { return nil }
func (*nullFile) Close() error                           { return nil }

// BenchmarkFrame measures the recorder's per-frame work for a stereo
// recording: placing a 20 ms chunk on each of two tracks (what the
// observers do per packet) and one clock frame (pull, voice activity,
// interleave, encode, with a checkpoint each second). It must not
// allocate.
func BenchmarkFrame(b *testing.B) {
	for _, enc := range []Encoding{PCM16, PCMU} {
		b.Run(enc.String(), func(b *testing.B) {
			r, err := New(Config{Layout: Stereo, Encoding: enc}, WithStorage(discard{}))
			if err != nil {
				b.Fatal(err)
			}
			r.t0 = time.Now()
			a := newTrack(r, srcMix, nil, "a", "", r.ringSamples)
			c := newTrack(r, srcMix, nil, "b", "", r.ringSamples)
			r.tracks = []*track{a, c}
			r.base = "bench"
			if err := r.createFiles(); err != nil {
				b.Fatal(err)
			}
			pcm := dsp.Sine(8000, 440, 20*time.Millisecond, 0.3)
			var pos int64
			b.ReportAllocs()
			for b.Loop() {
				pos += 160
				for _, t := range r.tracks {
					t.mu.Lock()
					t.place(pcm, 160, pos+160, 0)
					t.mu.Unlock()
				}
				if err := r.frame(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestFrameAllocs: steady-state frames allocate nothing.
func TestFrameAllocs(t *testing.T) {
	r, err := New(Config{Layout: Stereo}, WithStorage(discard{}))
	if err != nil {
		t.Fatal(err)
	}
	r.t0 = time.Now()
	r.tracks = []*track{newTrack(r, srcMix, nil, "a", "", r.ringSamples), newTrack(r, srcMix, nil, "b", "", r.ringSamples)}
	r.base = "x"
	if err := r.createFiles(); err != nil {
		t.Fatal(err)
	}
	pcm := dsp.Sine(8000, 440, 20*time.Millisecond, 0.3)
	var pos int64
	step := func() {
		pos += 160
		for _, t := range r.tracks {
			t.mu.Lock()
			t.place(pcm, 160, pos+160, 0)
			t.mu.Unlock()
		}
		_ = r.frame()
	}
	for range 200 {
		step()
	}
	if n := testing.AllocsPerRun(500, step); n != 0 {
		t.Errorf("%.2f allocations per frame", n)
	}
}
