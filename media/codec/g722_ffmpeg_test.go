package codec

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Interop with FFmpeg's G.722 encoder and decoder (libavcodec g722enc.c and
// g722dec.c, an independent implementation that follows the ITU reference
// coder; its default encoder does no trellis search). Like every interop
// test in this repository it fails, rather than skips, when the peer is
// missing; scripts/test installs ffmpeg.

// g722FFmpeg runs ffmpeg quietly with args and fails the test on error.
func g722FFmpeg(t *testing.T, args ...string) {
	t.Helper()
	path, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatalf("ffmpeg not found (install the Debian package ffmpeg; scripts/test does): %v", err)
	}
	cmd := exec.Command(path, append([]string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
	}
}

// g722InteropSignal is 2 s of 16 kHz audio: a chirp across the whole band,
// then 1 kHz and 6 kHz tones, so that both sub-bands and the scale factor
// adaptation are exercised.
func g722InteropSignal() []int16 {
	in := g722Chirp(16000)
	in = append(in, g722Tone(1000, 8000, 10000)...)
	return append(in, g722Tone(6000, 8000, 10000)...)
}

// g722StressSignal is 1 s of 16 kHz audio that drives the coder's
// saturations and the scale factors' limits: full-scale square waves,
// white noise at full scale and at a low level, silence, and a sudden
// loud burst. Its SNR means little; it is for the bit-exactness checks.
func g722StressSignal() []int16 {
	out := make([]int16, 16000)
	x := uint32(1)
	noise := func() int16 { x = x*1664525 + 1013904223; return int16(x >> 16) }
	for i := range out {
		switch {
		case i < 2000:
			out[i] = [2]int16{math.MaxInt16, math.MinInt16}[(i/5)%2]
		case i < 6000:
			out[i] = noise()
		case i < 9000:
			out[i] = noise() / 256
		case i < 11000:
			out[i] = 0
		case i < 11010:
			out[i] = math.MinInt16
		default:
			out[i] = noise() / 4
		}
	}
	return out
}

func writeS16LE(t *testing.T, path string, pcm []int16) {
	t.Helper()
	buf := make([]byte, 2*len(pcm))
	for i, s := range pcm {
		binary.LittleEndian.PutUint16(buf[2*i:], uint16(s))
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readS16LE(t *testing.T, path string) []int16 {
	t.Helper()
	buf, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pcm := make([]int16, len(buf)/2)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(buf[2*i:]))
	}
	return pcm
}

// Interop SNR floor against the original signal. Both coders follow the
// same recommendation, so the figure equals our own round trip's on this
// mix (measured 23.9 dB, the chirp's 2-bit higher band dominating); 20 dB
// is the chirp round trip's floor. A misread bit order or a band swap
// gives about 0 dB.
const g722InteropMinSNR = 20

// Our encoder's octets, decoded by FFmpeg: FFmpeg's decoder must produce
// exactly the samples ours does (bit-exact), and so the original to within
// the codec's SNR.
func TestG722InteropFFmpegDecodesOurs(t *testing.T) {
	dir := t.TempDir()
	in := g722InteropSignal()
	c := G722()
	ours := NewEncoder(c).Encode(nil, in)
	g722Path, rawPath := filepath.Join(dir, "ours.g722"), filepath.Join(dir, "ffmpeg.raw")
	if err := os.WriteFile(g722Path, ours, 0o644); err != nil {
		t.Fatal(err)
	}
	g722FFmpeg(t, "-f", "g722", "-i", g722Path, "-f", "s16le", "-acodec", "pcm_s16le", "-ar", "16000", "-ac", "1", rawPath)
	ff := readS16LE(t, rawPath)
	if len(ff) != len(in) {
		t.Fatalf("ffmpeg decoded %d octets to %d samples, want %d", len(ours), len(ff), len(in))
	}
	snr := g722SNR(in, ff, g722QMFDelay, 1600)
	t.Logf("ffmpeg decoding our stream: SNR %.1f dB against the original", snr)
	if snr < g722InteropMinSNR {
		t.Errorf("ffmpeg decoding our stream: SNR %.1f dB, want at least %v", snr, g722InteropMinSNR)
	}
	mine := NewDecoder(c).Decode(nil, ours)
	if i := firstDiff(mine, ff); i >= 0 {
		t.Errorf("our decoder and ffmpeg's differ first at sample %d of %d (ours %d, ffmpeg %d)", i, len(ff), mine[i], ff[i])
	} else {
		t.Logf("ffmpeg's decoding of our %d octets is bit-exact with ours", len(ours))
	}

	// Arbitrary octets, as a damaged or hostile stream would carry, and
	// the encoding of the stress signal: the decoders still agree.
	for name, payload := range map[string][]byte{
		"stress":  NewEncoder(c).Encode(nil, g722StressSignal()),
		"garbage": g722Garbage(8000),
	} {
		p := filepath.Join(dir, name+".g722")
		if err := os.WriteFile(p, payload, 0o644); err != nil {
			t.Fatal(err)
		}
		raw := filepath.Join(dir, name+".raw")
		g722FFmpeg(t, "-f", "g722", "-i", p, "-f", "s16le", "-acodec", "pcm_s16le", "-ar", "16000", "-ac", "1", raw)
		ff := readS16LE(t, raw)
		mine := NewDecoder(c).Decode(nil, payload)
		if i := firstDiff(mine, ff); i >= 0 {
			t.Errorf("%s: our decoder and ffmpeg's differ first at sample %d of %d", name, i, len(mine))
		} else {
			t.Logf("%s: ffmpeg's decoding of %d octets is bit-exact with ours", name, len(payload))
		}
	}
}

// g722Garbage returns n pseudo-random octets.
func g722Garbage(n int) []byte {
	out := make([]byte, n)
	x := uint32(7)
	for i := range out {
		x = x*1664525 + 1013904223
		out[i] = byte(x >> 24)
	}
	return out
}

// FFmpeg's encoder's octets, decoded by ours: the bitstream must be
// bit-exact with our encoder's (both follow the ITU reference), and our
// decoding must match the original to within the codec's SNR.
func TestG722InteropWeDecodeFFmpeg(t *testing.T) {
	dir := t.TempDir()
	in := g722InteropSignal()
	rawPath, g722Path := filepath.Join(dir, "in.raw"), filepath.Join(dir, "ffmpeg.g722")
	writeS16LE(t, rawPath, in)
	g722FFmpeg(t, "-f", "s16le", "-ar", "16000", "-ac", "1", "-i", rawPath, "-acodec", "g722", "-f", "g722", g722Path)
	ff, err := os.ReadFile(g722Path)
	if err != nil {
		t.Fatal(err)
	}
	if len(ff) != len(in)/2 {
		t.Fatalf("ffmpeg encoded %d samples to %d octets, want %d", len(in), len(ff), len(in)/2)
	}
	c := G722()
	out := NewDecoder(c).Decode(nil, ff)
	snr := g722SNR(in, out, g722QMFDelay, 1600)
	t.Logf("our decoding of ffmpeg's stream: SNR %.1f dB against the original", snr)
	if snr < g722InteropMinSNR {
		t.Errorf("our decoding of ffmpeg's stream: SNR %.1f dB, want at least %v", snr, g722InteropMinSNR)
	}
	ours := NewEncoder(c).Encode(nil, in)
	if !bytes.Equal(ours, ff) {
		same := 0
		for i := range ff {
			if ff[i] == ours[i] {
				same++
			}
		}
		t.Errorf("our encoder's octets differ from ffmpeg's: first at octet %d, %d of %d equal",
			firstDiff(ours, ff), same, len(ff))
	} else {
		t.Logf("our encoding of %d samples is bit-exact with ffmpeg's", len(in))
	}

	// The stress signal: saturation and scale factor limits.
	stress := g722StressSignal()
	writeS16LE(t, rawPath, stress)
	g722FFmpeg(t, "-f", "s16le", "-ar", "16000", "-ac", "1", "-i", rawPath, "-acodec", "g722", "-f", "g722", g722Path)
	if ff, err = os.ReadFile(g722Path); err != nil {
		t.Fatal(err)
	}
	if ours := NewEncoder(c).Encode(nil, stress); !bytes.Equal(ours, ff) {
		t.Errorf("stress signal: our encoder's octets differ from ffmpeg's first at octet %d of %d", firstDiff(ours, ff), len(ff))
	} else {
		t.Logf("stress signal: our encoding of %d samples is bit-exact with ffmpeg's", len(stress))
	}
}

// firstDiff returns the first index at which a and b differ, or -1 when
// they are equal.
func firstDiff[E comparable](a, b []E) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return n
	}
	return -1
}
