package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/switchboard-sip/switchboard/media/dsp"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readAllPCM reads src to its end.
func readAllPCM(t testing.TB, src Source) []int16 {
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

func TestOpenMP3Info(t *testing.T) {
	for _, tc := range []struct {
		file string
		want MP3Info
	}{
		// LAME 3.100 at 44.1 kHz: Info frame (1152) + delay (576) + decoder
		// delay (529) lead; padding (1404) - 529 trails; 44100 samples
		// remain, exactly the encoded WAV.
		{"tone1k_44100_stereo.mp3", MP3Info{SampleRate: 44100, Channels: 2, Frames: 40, Samples: 44100,
			LAMETag: true, EncoderDelay: 576, Padding: 1404, LeadingTrim: 2257, TrailingTrim: 1404 - 529}},
		// MPEG-2: 576-sample frames.
		{"loop250_22050_mono.mp3", MP3Info{SampleRate: 22050, Channels: 1, Frames: 41, Samples: 22050,
			LAMETag: true, EncoderDelay: 576, Padding: 990, LeadingTrim: 1681, TrailingTrim: 990 - 529}},
		// No tag: near-silence trimmed, found one sample short of exact
		// (the sine's first sample is zero).
		{"loop250_44100_notag.mp3", MP3Info{SampleRate: 44100, Channels: 2, Frames: 40, Samples: 44099,
			LeadingTrim: 1106, TrailingTrim: 875, Verified: true}},
	} {
		m, err := OpenMP3("testdata/" + tc.file)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Info(); got != tc.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.file, got, tc.want)
		}
		pcm := readAllPCM(t, m)
		if int64(len(pcm)) != tc.want.Samples*int64(tc.want.Channels) {
			t.Errorf("%s: read %d samples, want %d", tc.file, len(pcm), tc.want.Samples*int64(tc.want.Channels))
		}
		// The first samples are the start of the sine, not silence: it
		// reaches a tenth of its amplitude within a few samples.
		if abs16(pcm[5*tc.want.Channels]) < 1000 {
			t.Errorf("%s: sample 5 is %d: leading silence left in", tc.file, pcm[5*tc.want.Channels])
		}
		if err := m.Rewind(); err != nil {
			t.Fatal(err)
		}
		if again := readAllPCM(t, m); !slicesEqual(again, pcm) {
			t.Errorf("%s: second pass after Rewind differs", tc.file)
		}
	}
}

func TestMP3TrimIsSampleExact(t *testing.T) {
	// The fixtures were encoded from sox's 250 Hz sine starting at phase
	// zero. The decoded, trimmed audio must line up with that sine with no
	// offset: cross-correlate over lags of ±20 samples.
	for _, name := range []string{"loop250_44100_stereo.mp3", "loop250_22050_mono.mp3"} {
		m, err := OpenMP3("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		ch, rate := m.Channels(), m.SampleRate()
		pcm := readAllPCM(t, m)
		bestLag, best := 0, math.Inf(-1)
		for lag := -20; lag <= 20; lag++ {
			var c float64
			for n := 1000; n < 5000; n++ {
				c += float64(pcm[(n+lag)*ch]) * math.Sin(2*math.Pi*250*float64(n)/float64(rate))
			}
			if c > best {
				bestLag, best = lag, c
			}
		}
		if bestLag != 0 {
			t.Errorf("%s: trimmed audio is %d samples off the original", name, bestLag)
		}
	}
}

func slicesEqual(a, b []int16) bool { return string(int16Bytes(a)) == string(int16Bytes(b)) }

func int16Bytes(s []int16) []byte {
	b := make([]byte, 2*len(s))
	for i, v := range s {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	return b
}

// mp3Frames returns the byte offsets of the frames in an MP3 file without
// ID3 tags.
func mp3Frames(t testing.TB, b []byte) []int {
	t.Helper()
	var offs []int
	for off := 0; off < len(b); {
		h, err := parseMP3Header(b[off:])
		if err != nil {
			t.Fatalf("frame at %d: %v", off, err)
		}
		offs = append(offs, off)
		off += h.size
	}
	return offs
}

func TestOpenMP3RejectsCorruptAndTruncatedFiles(t *testing.T) {
	good := readFixture(t, "tone1k_44100_stereo.mp3")
	notag := readFixture(t, "loop250_44100_notag.mp3")
	frames := mp3Frames(t, good)
	mod := func(b []byte, f func(b []byte) []byte) []byte { return f(bytes.Clone(b)) }
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "no MPEG audio frames"},
		{"wav", []byte("RIFF\x24\x00\x00\x00WAVEfmt "), "not an MPEG audio file"},
		{"truncated mid-frame", good[:len(good)-100], "truncated: the frame at byte"},
		{"truncated at a frame boundary", good[:frames[len(frames)-3]], "truncated: the Xing header counts"},
		{"truncated by one frame", good[:frames[len(frames)-1]], "truncated: the LAME tag counts"},
		{"truncated header", good[:frames[5]+2], "truncated frame header"},
		{"untagged truncated mid-frame", notag[:len(notag)-7], "truncated"},
		{"only the Info frame", good[:frames[1]], "truncated"},
		{"sync lost", mod(good, func(b []byte) []byte { b[frames[10]] = 0; return b }), "corrupt frame at byte"},
		{"sample rate change", mod(good, func(b []byte) []byte { b[frames[10]+2] ^= 0x04; return b }), "sample rate changes"},
		{"layer II frame", mod(good, func(b []byte) []byte { b[frames[3]+1] = 0xfd; return b }), "only Layer III"},
		{"MPEG-2.5", mod(good, func(b []byte) []byte { b[1] &^= 0x18; return b }), "MPEG-2.5"},
		{"junk after the audio", append(bytes.Clone(good), "garbage!"...), "corrupt frame at byte"},
		{"truncated ID3v2", []byte("ID3\x04\x00\x00\x00\x00\x10\x00abc"), "truncated ID3v2 tag"},
	}
	for _, tc := range cases {
		_, err := NewMP3Source(tc.data)
		if err == nil {
			t.Errorf("%s: opened", tc.name)
			continue
		}
		if !strings.HasPrefix(err.Error(), "audio: mp3: ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q, want one containing %q", tc.name, err, tc.want)
		}
	}
	// A file with its path in the error.
	path := t.TempDir() + "/cut.mp3"
	if err := os.WriteFile(path, good[:len(good)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenMP3(path); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("OpenMP3 of a cut file: %v", err)
	}
	if _, err := OpenMP3(path + ".missing"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenMP3 of a missing file: %v", err)
	}
}

func TestOpenMP3AcceptsTags(t *testing.T) {
	good := readFixture(t, "tone1k_44100_stereo.mp3")
	id3v2 := append([]byte("ID3\x04\x00\x00\x00\x00\x00\x05hello"), good...)
	id3v1 := append(bytes.Clone(id3v2), append([]byte("TAG"), make([]byte, 125)...)...)
	ape := append(bytes.Clone(good), apeFooter(16)...)
	for name, b := range map[string][]byte{"ID3v2": id3v2, "ID3v1": id3v1, "APEv2": ape} {
		m, err := NewMP3Source(b)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if info := m.Info(); !info.LAMETag || info.Samples != 44100 {
			t.Errorf("%s: %+v", name, info)
		}
	}
}

// apeFooter returns an APEv2 tag of n item bytes with a footer and no
// header.
func apeFooter(n int) []byte {
	b := make([]byte, n+32)
	f := b[n:]
	copy(f, "APETAGEX")
	binary.LittleEndian.PutUint32(f[8:], 2000)
	binary.LittleEndian.PutUint32(f[12:], uint32(n+32))
	return b
}

func TestOpenMP3DamagedAudioIsVerified(t *testing.T) {
	// Damage inside a frame's audio data (not a header) breaks the LAME
	// music CRC, so the file is decoded in full at open. go-mp3 tolerates
	// this damage, so the file opens, verified, and still plays the tone.
	b := readFixture(t, "tone1k_44100_stereo.mp3")
	frames := mp3Frames(t, b)
	b[frames[20]+200] ^= 0x5a
	m, err := NewMP3Source(b)
	if err != nil {
		t.Fatalf("damaged main data: %v", err)
	}
	if info := m.Info(); !info.Verified || !info.LAMETag {
		t.Errorf("info %+v: want verified at open, trimmed by the LAME tag", info)
	}
	pcm := readAllPCM(t, m)
	mono := make([]int16, len(pcm)/2)
	for i := range mono {
		mono[i] = pcm[2*i]
	}
	if f := dsp.ToneFraction(mono, 44100, 1000); f < 0.9 {
		t.Errorf("1 kHz in %.0f%% of windows", 100*f)
	}
}

// mp3Seeds returns the fixtures and damaged versions of them.
func mp3Seeds(t testing.TB) [][]byte {
	var seeds [][]byte
	for _, name := range []string{"tone1k_44100_stereo.mp3", "loop250_22050_mono.mp3", "loop250_44100_notag.mp3"} {
		b := readFixture(t, name)
		// Keep seeds small: the Info frame and a few audio frames.
		offs := mp3Frames(t, b)
		short := b[:offs[4]]
		seeds = append(seeds, short, short[:len(short)-1], short[:40], b[:offs[1]])
		flipped := bytes.Clone(short)
		flipped[offs[2]+50] ^= 0xff
		seeds = append(seeds, flipped)
	}
	return seeds
}

func FuzzOpenMP3(f *testing.F) {
	for _, s := range mp3Seeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := NewMP3Source(in)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "audio: mp3: ") {
				t.Fatalf("error %q lacks prefix", err)
			}
			return
		}
		info := m.Info()
		if info.Samples <= 0 || info.Channels < 1 || info.Channels > 2 || info.SampleRate < 16000 {
			t.Fatalf("info %+v", info)
		}
		// Playing never panics, and a file that opened either plays its
		// announced length or fails with a prefixed error.
		for range 2 {
			var n int64
			buf := make([]int16, 1000)
			for {
				k, err := m.ReadPCM(buf)
				n += int64(k)
				if err == io.EOF {
					break
				}
				if err != nil {
					if !strings.HasPrefix(err.Error(), "audio: mp3: ") {
						t.Fatalf("read error %q lacks prefix", err)
					}
					return
				}
			}
			if n > info.Samples*int64(info.Channels) {
				t.Fatalf("read %d samples, info says %d", n, info.Samples*int64(info.Channels))
			}
			if err := m.Rewind(); err != nil {
				return
			}
		}
	})
}

// BenchmarkMP3Decode decodes a one-second 44.1 kHz stereo 128 kb/s file and
// reports the speed as a multiple of real time.
func BenchmarkMP3Decode(b *testing.B) {
	m, err := OpenMP3("testdata/tone1k_44100_stereo.mp3")
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]int16, 2*882)
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Rewind(); err != nil {
			b.Fatal(err)
		}
		for {
			_, err := m.ReadPCM(buf)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	seconds := float64(m.Info().Samples) / float64(m.Info().SampleRate)
	b.ReportMetric(seconds*float64(b.N)/b.Elapsed().Seconds(), "x-realtime")
}

// BenchmarkOpenMP3 measures validating a file at open (LAME tag and CRC,
// no trial decode).
func BenchmarkOpenMP3(b *testing.B) {
	data := readFixture(b, "tone1k_44100_stereo.mp3")
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := NewMP3Source(data); err != nil {
			b.Fatal(err)
		}
	}
}
