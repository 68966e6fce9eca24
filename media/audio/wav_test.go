package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// wavSpec describes a WAV file for buildWAV.
type wavSpec struct {
	tag        uint16
	channels   int
	rate       int
	bits       int
	extensible bool
	guidSuffix string // overrides wavSubFormatSuffix when extensible
	data       []byte
	dataSize   uint32 // 0 means len(data)
	before     [][2]string
	after      [][2]string
}

func riffChunk(id string, body []byte) []byte {
	b := binary.LittleEndian.AppendUint32([]byte(id), uint32(len(body)))
	b = append(b, body...)
	if len(body)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

func buildWAV(s wavSpec) []byte {
	le := binary.LittleEndian
	blockAlign := s.channels * s.bits / 8
	var fmtBody []byte
	tag := s.tag
	if s.extensible {
		tag = wavFormatExtensible
	}
	fmtBody = le.AppendUint16(fmtBody, tag)
	fmtBody = le.AppendUint16(fmtBody, uint16(s.channels))
	fmtBody = le.AppendUint32(fmtBody, uint32(s.rate))
	fmtBody = le.AppendUint32(fmtBody, uint32(s.rate*blockAlign))
	fmtBody = le.AppendUint16(fmtBody, uint16(blockAlign))
	fmtBody = le.AppendUint16(fmtBody, uint16(s.bits))
	if s.extensible {
		suffix := wavSubFormatSuffix
		if s.guidSuffix != "" {
			suffix = s.guidSuffix
		}
		fmtBody = le.AppendUint16(fmtBody, 22)
		fmtBody = le.AppendUint16(fmtBody, uint16(s.bits))
		fmtBody = le.AppendUint32(fmtBody, 0)
		fmtBody = le.AppendUint16(fmtBody, s.tag)
		fmtBody = append(fmtBody, suffix...)
	} else if s.tag != wavFormatPCM {
		fmtBody = le.AppendUint16(fmtBody, 0) // cbSize
	}
	var body []byte
	body = append(body, "WAVE"...)
	for _, c := range s.before {
		body = append(body, riffChunk(c[0], []byte(c[1]))...)
	}
	body = append(body, riffChunk("fmt ", fmtBody)...)
	data := riffChunk("data", s.data)
	if s.dataSize != 0 {
		le.PutUint32(data[4:8], s.dataSize)
	}
	body = append(body, data...)
	for _, c := range s.after {
		body = append(body, riffChunk(c[0], []byte(c[1]))...)
	}
	return append(le.AppendUint32([]byte("RIFF"), uint32(len(body))), body...)
}

func le16(samples ...int16) []byte {
	var b []byte
	for _, s := range samples {
		b = binary.LittleEndian.AppendUint16(b, uint16(s))
	}
	return b
}

func TestReadWAVFormats(t *testing.T) {
	f32 := func(vs ...float32) []byte {
		var b []byte
		for _, v := range vs {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
		return b
	}
	tests := []struct {
		name     string
		spec     wavSpec
		channels int
		want     []int16
	}{
		{"pcm16 mono", wavSpec{tag: wavFormatPCM, channels: 1, rate: 8000, bits: 16, data: le16(0, 1, -1, 32767, -32768)}, 1, []int16{0, 1, -1, 32767, -32768}},
		{"pcm16 stereo", wavSpec{tag: wavFormatPCM, channels: 2, rate: 44100, bits: 16, data: le16(100, -100, 200, -200)}, 2, []int16{100, -100, 200, -200}},
		{"pcm8", wavSpec{tag: wavFormatPCM, channels: 1, rate: 11025, bits: 8, data: []byte{0x80, 0xff, 0x00, 0x81}}, 1, []int16{0, 32512, -32768, 256}},
		{"pcm24", wavSpec{tag: wavFormatPCM, channels: 1, rate: 48000, bits: 24, data: []byte{0xff, 0x34, 0x12, 0x00, 0x00, 0x80}}, 1, []int16{0x1234, -32768}},
		{"pcm32", wavSpec{tag: wavFormatPCM, channels: 1, rate: 48000, bits: 32, data: []byte{0xff, 0xff, 0x34, 0x12, 0, 0, 0xff, 0xff}}, 1, []int16{0x1234, -1}},
		{"float32", wavSpec{tag: wavFormatFloat, channels: 1, rate: 16000, bits: 32, data: f32(0, 0.5, -1, 2, float32(math.NaN()))}, 1, []int16{0, 16384, -32768, 32767, 0}},
		{"mulaw", wavSpec{tag: wavFormatMuLaw, channels: 1, rate: 8000, bits: 8, data: []byte{0xff, 0x80, 0x00, 0x7f}}, 1, []int16{0, 32124, -32124, 0}},
		{"alaw", wavSpec{tag: wavFormatALaw, channels: 1, rate: 8000, bits: 8, data: []byte{0xd5, 0x55, 0xaa}}, 1, []int16{8, -8, 32256}},
		{"alaw stereo odd size", wavSpec{tag: wavFormatALaw, channels: 2, rate: 8000, bits: 8, data: []byte{0xd5, 0x55, 0xaa}}, 2, []int16{8, -8}},
		{"extensible pcm16", wavSpec{tag: wavFormatPCM, extensible: true, channels: 2, rate: 48000, bits: 16, data: le16(1, 2, 3, 4)}, 2, []int16{1, 2, 3, 4}},
		{"extensible mulaw", wavSpec{tag: wavFormatMuLaw, extensible: true, channels: 1, rate: 8000, bits: 8, data: []byte{0xff}}, 1, []int16{0}},
		{"extra chunks", wavSpec{
			tag: wavFormatPCM, channels: 1, rate: 8000, bits: 16, data: le16(5, 6),
			before: [][2]string{{"LIST", "odd"}, {"junk", ""}},
			after:  [][2]string{{"LIST", "ignored after data"}},
		}, 1, []int16{5, 6}},
		{"empty data", wavSpec{tag: wavFormatPCM, channels: 1, rate: 8000, bits: 16}, 1, nil},
		{"unknown size runs to EOF", wavSpec{tag: wavFormatPCM, channels: 1, rate: 8000, bits: 16, data: le16(7, 8, 9), dataSize: wavUnknownSize}, 1, []int16{7, 8, 9}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ReadWAV(bytes.NewReader(buildWAV(tc.spec)))
			if err != nil {
				t.Fatal(err)
			}
			if a.SampleRate != tc.spec.rate || a.Channels != tc.channels {
				t.Errorf("rate/channels = %d/%d, want %d/%d", a.SampleRate, a.Channels, tc.spec.rate, tc.channels)
			}
			if !slices.Equal(a.Samples, tc.want) {
				t.Errorf("samples = %v, want %v", a.Samples, tc.want)
			}
		})
	}
}

func TestReadWAVErrors(t *testing.T) {
	valid := buildWAV(wavSpec{tag: wavFormatPCM, channels: 1, rate: 8000, bits: 16, data: le16(1, 2, 3, 4)})
	pcm := func(mod func(*wavSpec)) []byte {
		s := wavSpec{tag: wavFormatPCM, channels: 1, rate: 8000, bits: 16, data: le16(1, 2)}
		mod(&s)
		return buildWAV(s)
	}
	withFmtSize := func(size uint32) []byte {
		b := slices.Clone(valid)
		binary.LittleEndian.PutUint32(b[16:20], size)
		return b
	}
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "audio: wav: truncated RIFF header"},
		{"short header", []byte("RIFF\x00\x00"), "audio: wav: truncated RIFF header"},
		{"not riff", []byte("RIFX\x00\x00\x00\x00WAVE"), "audio: wav: not a RIFF/WAVE file"},
		{"not wave", []byte("RIFF\x00\x00\x00\x00AVI "), "audio: wav: not a RIFF/WAVE file"},
		{"no chunks", []byte("RIFF\x04\x00\x00\x00WAVE"), "audio: wav: no fmt chunk"},
		{"no data", valid[:36], "audio: wav: no data chunk"},
		{"truncated chunk header", valid[:40], "audio: wav: truncated chunk header"},
		{"truncated data", valid[:len(valid)-1], "audio: wav: truncated data chunk (7 of 8 bytes)"},
		{"data before fmt", append([]byte("RIFF\x00\x00\x00\x00WAVE"), riffChunk("data", le16(1))...), "audio: wav: data chunk before fmt chunk"},
		{"fmt too short", withFmtSize(14), "audio: wav: fmt chunk too short (14 bytes)"},
		{"fmt truncated", valid[:30], "audio: wav: truncated fmt chunk"},
		{"fmt size lies", withFmtSize(0x7ffffff0), "audio: wav: truncated fmt chunk"},
		{"truncated skipped chunk", append([]byte("RIFF\x00\x00\x00\x00WAVELIST\x10\x00\x00\x00"), "abc"...), `audio: wav: truncated "LIST" chunk`},
		{"binary chunk id", append([]byte("RIFF\x00\x00\x00\x00WAVE\x01\x02\x03\x04\x10\x00\x00\x00"), "abc"...), `audio: wav: truncated "????" chunk`},
		{"mp3 tag", pcm(func(s *wavSpec) { s.tag = 0x55 }), "audio: wav: unsupported format (tag 0x0055, 16 bits per sample)"},
		{"12-bit pcm", pcm(func(s *wavSpec) { s.bits = 12 }), "audio: wav: unsupported format (tag 0x0001, 12 bits per sample)"},
		{"16-bit mulaw", pcm(func(s *wavSpec) { s.tag = wavFormatMuLaw }), "audio: wav: unsupported format (tag 0x0007, 16 bits per sample)"},
		{"zero channels", pcm(func(s *wavSpec) { s.channels = 0 }), "audio: wav: unsupported channel count 0"},
		{"three channels", pcm(func(s *wavSpec) { s.channels = 3 }), "audio: wav: unsupported channel count 3"},
		{"zero rate", pcm(func(s *wavSpec) { s.rate = 0 }), "audio: wav: sample rate is zero"},
		{"extensible bad guid", pcm(func(s *wavSpec) { s.extensible = true; s.guidSuffix = strings.Repeat("\x01", 14) }), "audio: wav: unsupported WAVE_FORMAT_EXTENSIBLE sub-format"},
		{"extensible short", func() []byte {
			b := pcm(func(s *wavSpec) { s.tag = wavFormatExtensible })
			return b
		}(), "audio: wav: WAVE_FORMAT_EXTENSIBLE fmt chunk too short"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ReadWAV(bytes.NewReader(tc.in))
			if err == nil {
				t.Fatalf("ReadWAV succeeded: %+v", a)
			}
			if err.Error() != tc.want {
				t.Errorf("error = %q, want %q", err, tc.want)
			}
		})
	}
}

type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

func TestReadWAVPropagatesReadErrors(t *testing.T) {
	boom := errors.New("boom")
	valid := buildWAV(wavSpec{tag: wavFormatPCM, channels: 1, rate: 8000, bits: 16, data: le16(1, 2, 3, 4)})
	_, err := ReadWAV(&failingReader{r: bytes.NewReader(valid[:50]), err: boom})
	if !errors.Is(err, boom) {
		t.Fatalf("error = %v, want it to wrap %v", err, boom)
	}
	if !strings.HasPrefix(err.Error(), "audio: wav: ") {
		t.Errorf("error %q lacks package prefix", err)
	}
}

func TestReadWAVLyingHeaderBoundedMemory(t *testing.T) {
	// A 4 GiB data chunk claimed by a 60-byte file.
	in := buildWAV(wavSpec{tag: wavFormatPCM, channels: 1, rate: 8000, bits: 16, data: le16(1, 2, 3, 4, 5, 6, 7, 8), dataSize: 0xfffffff0})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := ReadWAV(bytes.NewReader(in))
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "truncated data chunk") {
		t.Fatalf("error = %v, want truncated data chunk", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 4<<20 {
		t.Errorf("allocated %d bytes for a %d-byte input", got, len(in))
	}
}

func TestWAVRoundTrip(t *testing.T) {
	tests := []*Clip{
		{SampleRate: 8000, Channels: 1, Samples: []int16{0, 1, -1, math.MaxInt16, math.MinInt16}},
		{SampleRate: 44100, Channels: 2, Samples: []int16{1, 2, 3, 4}},
		{SampleRate: 16000, Channels: 1, Samples: nil},
		{SampleRate: 8000, Channels: 1, Samples: make([]int16, 5000)}, // spans several write blocks
	}
	for _, a := range tests {
		var buf bytes.Buffer
		if err := WriteWAV(&buf, a); err != nil {
			t.Fatal(err)
		}
		if buf.Len() != 44+2*len(a.Samples) {
			t.Errorf("file is %d bytes, want %d", buf.Len(), 44+2*len(a.Samples))
		}
		got, err := ReadWAV(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if got.SampleRate != a.SampleRate || got.Channels != a.Channels || !slices.Equal(got.Samples, a.Samples) {
			t.Errorf("round trip of %d/%d/%d samples changed the audio", a.SampleRate, a.Channels, len(a.Samples))
		}
	}
}

func TestWriteWAVErrors(t *testing.T) {
	tests := []struct {
		name string
		a    *Clip
		want string
	}{
		{"nil", nil, "audio: wav: nil Clip"},
		{"zero channels", &Clip{SampleRate: 8000}, "audio: wav: unsupported channel count 0"},
		{"zero rate", &Clip{Channels: 1}, "audio: wav: invalid sample rate 0"},
		{"partial frame", &Clip{SampleRate: 8000, Channels: 2, Samples: []int16{1}}, "audio: wav: 1 samples is not a whole number of 2-channel frames"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := WriteWAV(io.Discard, tc.a)
			if err == nil || err.Error() != tc.want {
				t.Errorf("error = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestAudioDuration(t *testing.T) {
	tests := []struct {
		a    Clip
		want time.Duration
	}{
		{Clip{SampleRate: 8000, Channels: 1, Samples: make([]int16, 8000)}, time.Second},
		{Clip{SampleRate: 8000, Channels: 2, Samples: make([]int16, 8000)}, 500 * time.Millisecond},
		{Clip{SampleRate: 44100, Channels: 1, Samples: make([]int16, 441)}, 10 * time.Millisecond},
		{Clip{SampleRate: 0, Channels: 1, Samples: make([]int16, 10)}, 0},
		{Clip{SampleRate: 8000, Channels: 0, Samples: make([]int16, 10)}, 0},
	}
	for _, tc := range tests {
		if got := tc.a.Duration(); got != tc.want {
			t.Errorf("Duration(%d Hz, %d ch, %d samples) = %v, want %v", tc.a.SampleRate, tc.a.Channels, len(tc.a.Samples), got, tc.want)
		}
	}
}

func TestWAVWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rec.wav")
	w, err := CreateWAV(path, 8000, 2)
	if err != nil {
		t.Fatal(err)
	}
	var want []int16
	for i := range 20 {
		chunk := make([]int16, 320)
		for j := range chunk {
			chunk[j] = int16(i*1000 + j)
		}
		if err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
		want = append(want, chunk...)
	}
	// Before Close the header says "unknown size" and the file is still
	// readable up to what has been flushed.
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if err := w.Write([]int16{1}); err == nil {
		t.Error("Write after Close succeeded")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := binary.LittleEndian.Uint32(raw[4:8]), uint32(len(raw)-8); got != want {
		t.Errorf("RIFF size = %d, want %d", got, want)
	}
	if got, want := binary.LittleEndian.Uint32(raw[40:44]), uint32(2*len(want)); got != want {
		t.Errorf("data size = %d, want %d", got, want)
	}
	a, err := OpenWAV(path)
	if err != nil {
		t.Fatal(err)
	}
	if a.SampleRate != 8000 || a.Channels != 2 || !slices.Equal(a.Samples, want) {
		t.Errorf("read back %d/%d/%d samples, want 8000/2/%d", a.SampleRate, a.Channels, len(a.Samples), len(want))
	}
}

func TestWAVWriterUnclosedIsReadable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crash.wav")
	w, err := CreateWAV(path, 16000, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Write([]int16{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	err = w.bw.Flush() // simulate the buffer reaching disk before a crash
	w.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	a, err := OpenWAV(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Samples, []int16{1, 2, 3}) {
		t.Errorf("samples = %v", a.Samples)
	}
}

func TestWAVWriterConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.wav")
	w, err := CreateWAV(path, 8000, 1)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				_ = w.Write(make([]int16, 160))
			}
		})
	}
	wg.Go(func() { _ = w.Close() })
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	a, err := OpenWAV(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Samples)%160 != 0 {
		t.Errorf("read %d samples, want a multiple of 160", len(a.Samples))
	}
}

func TestCreateWAVErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name           string
		path           string
		rate, channels int
		want           string
	}{
		{"channels", filepath.Join(dir, "a.wav"), 8000, 3, "audio: wav: unsupported channel count 3"},
		{"rate", filepath.Join(dir, "b.wav"), -1, 1, "audio: wav: invalid sample rate -1"},
		{"missing dir", filepath.Join(dir, "nope", "c.wav"), 8000, 1, "audio: wav: open "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := CreateWAV(tc.path, tc.rate, tc.channels)
			if err == nil {
				w.Close()
				t.Fatal("CreateWAV succeeded")
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error = %q, want prefix %q", err, tc.want)
			}
		})
	}
}

func TestOpenWAVErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenWAV(filepath.Join(dir, "missing.wav")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: error = %v, want ErrNotExist", err)
	}
	bad := filepath.Join(dir, "bad.wav")
	if err := os.WriteFile(bad, []byte("RIFF"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := OpenWAV(bad)
	if want := "audio: wav: " + bad + ": truncated RIFF header"; err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}

// wavSeeds returns small valid WAVs of every supported format plus
// truncations and header corruptions of them.
func wavSeeds() [][]byte {
	specs := []wavSpec{
		{tag: wavFormatPCM, channels: 1, rate: 8000, bits: 16, data: le16(0, 100, -100, 32767)},
		{tag: wavFormatPCM, channels: 2, rate: 44100, bits: 16, data: le16(1, 2, 3, 4)},
		{tag: wavFormatPCM, channels: 1, rate: 22050, bits: 8, data: []byte{0x80, 0x00, 0xff}},
		{tag: wavFormatPCM, channels: 2, rate: 48000, bits: 24, data: make([]byte, 12)},
		{tag: wavFormatPCM, channels: 1, rate: 96000, bits: 32, data: make([]byte, 8)},
		{tag: wavFormatFloat, channels: 1, rate: 16000, bits: 32, data: make([]byte, 8)},
		{tag: wavFormatMuLaw, channels: 1, rate: 8000, bits: 8, data: []byte{0xff, 0x7f, 0x00}},
		{tag: wavFormatALaw, channels: 2, rate: 8000, bits: 8, data: []byte{0xd5, 0x55}},
		{tag: wavFormatPCM, extensible: true, channels: 2, rate: 48000, bits: 16, data: le16(1, 2)},
		{tag: wavFormatMuLaw, extensible: true, channels: 1, rate: 8000, bits: 8, data: []byte{1}},
		{tag: wavFormatPCM, channels: 1, rate: 8000, bits: 16, data: le16(1), dataSize: wavUnknownSize},
		{tag: wavFormatPCM, channels: 1, rate: 8000, bits: 16, data: le16(1), dataSize: 0x7fffffff},
		{tag: wavFormatPCM, channels: 1, rate: 8000, bits: 16, data: le16(1), before: [][2]string{{"LIST", "abc"}}},
	}
	var seeds [][]byte
	for _, s := range specs {
		b := buildWAV(s)
		seeds = append(seeds, b)
		for _, n := range []int{0, 4, 11, 12, 19, 20, 36, 43, 44, len(b) - 1} {
			if n < len(b) {
				seeds = append(seeds, b[:n])
			}
		}
	}
	return seeds
}

func FuzzReadWAV(f *testing.F) {
	for _, s := range wavSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		a, err := ReadWAV(bytes.NewReader(in))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "audio: wav: ") {
				t.Fatalf("error %q lacks prefix", err)
			}
			return
		}
		if a.Channels != 1 && a.Channels != 2 {
			t.Fatalf("channels = %d", a.Channels)
		}
		if a.SampleRate <= 0 {
			t.Fatalf("sample rate = %d", a.SampleRate)
		}
		if len(a.Samples)%a.Channels != 0 {
			t.Fatalf("%d samples for %d channels", len(a.Samples), a.Channels)
		}
		if len(a.Samples) > len(in) {
			t.Fatalf("%d samples from %d bytes", len(a.Samples), len(in))
		}
		var buf bytes.Buffer
		if err := WriteWAV(&buf, a); err != nil {
			t.Fatalf("WriteWAV of decoded audio: %v", err)
		}
		b, err := ReadWAV(&buf)
		if err != nil {
			t.Fatalf("re-reading written audio: %v", err)
		}
		if b.SampleRate != a.SampleRate || b.Channels != a.Channels || !slices.Equal(a.Samples, b.Samples) {
			t.Fatal("write/read round trip changed the audio")
		}
	})
}

func BenchmarkReadWAV(b *testing.B) {
	samples := make([]int16, 8000*10)
	for i := range samples {
		samples[i] = int16(i)
	}
	var buf bytes.Buffer
	if err := WriteWAV(&buf, &Clip{SampleRate: 8000, Channels: 1, Samples: samples}); err != nil {
		b.Fatal(err)
	}
	in := buf.Bytes()
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := ReadWAV(bytes.NewReader(in)); err != nil {
			b.Fatal(err)
		}
	}
}
