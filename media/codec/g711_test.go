package codec

import (
	"math"
	"testing"
)

// The reference implementation below follows the G.711 recommendation's
// description of the laws as tables of decision intervals: it builds the
// list of intervals for each law and quantises a sample by searching that
// list. It shares no code with the table-driven implementation.

// refInterval is one quantisation interval [lo, hi) of a companding law on
// the law's native magnitude scale, with the code (before sign and
// inversion) and the decoded value on the 16-bit scale.
type refInterval struct {
	lo, hi int
	code   int
	value  int
}

// refULawIntervals lists the 128 µ-law magnitude intervals on the 14-bit
// scale. Segment s spans [32·2^s − 33, 64·2^s − 33) in sixteen steps of
// 2^(s+1); the decoded value is the interval midpoint.
func refULawIntervals() []refInterval {
	var out []refInterval
	for s := range 8 {
		start := 32<<s - 33
		width := 2 << s
		for j := range 16 {
			lo := start + j*width
			mid := lo + width/2
			out = append(out, refInterval{lo: max(lo, 0), hi: lo + width, code: s<<4 | j, value: 4 * mid})
		}
	}
	return out
}

// refALawIntervals lists the 128 A-law magnitude intervals on the 12-bit
// scale. Segment 0 spans [0, 16) in steps of 1; segment s ≥ 1 spans
// [16·2^(s−1), 32·2^(s−1)) in steps of 2^(s−1). Decoded values are
// interval midpoints.
func refALawIntervals() []refInterval {
	var out []refInterval
	for s := range 8 {
		start, width := 0, 1
		if s > 0 {
			start, width = 16<<(s-1), 1<<(s-1)
		}
		for j := range 16 {
			lo := start + j*width
			// Midpoint ×16 (16-bit scale) = 16·lo + 8·width.
			out = append(out, refInterval{lo: lo, hi: lo + width, code: s<<4 | j, value: 16*lo + 8*width})
		}
	}
	return out
}

func refSearch(iv []refInterval, m int) refInterval {
	for _, r := range iv {
		if m >= r.lo && m < r.hi {
			return r
		}
	}
	return iv[len(iv)-1] // beyond the last decision level: clip
}

func refOnesComplementMag(x int16, bitsKept int) int {
	v := int(x)
	if v < 0 {
		v = -v - 1
	}
	return v / (1 << (16 - bitsKept))
}

func refULawEncode(iv []refInterval, x int16) byte {
	r := refSearch(iv, refOnesComplementMag(x, 14))
	code := byte(r.code) ^ 0x7f
	if x >= 0 {
		code |= 0x80
	}
	return code
}

func refALawEncode(iv []refInterval, x int16) byte {
	r := refSearch(iv, refOnesComplementMag(x, 12))
	code := byte(r.code)
	if x >= 0 {
		code |= 0x80
	}
	return code ^ 0x55
}

func refDecode(iv []refInterval, code byte, ulaw bool) int16 {
	var c int
	var positive bool
	if ulaw {
		c = int(^code & 0x7f)
		positive = code&0x80 != 0
	} else {
		c = int((code ^ 0x55) & 0x7f)
		positive = (code^0x55)&0x80 != 0
	}
	for _, r := range iv {
		if r.code == c {
			if positive {
				return int16(r.value)
			}
			return int16(-r.value)
		}
	}
	panic("unreachable")
}

func TestG711MatchesReference(t *testing.T) {
	uiv, aiv := refULawIntervals(), refALawIntervals()
	tests := []struct {
		name   string
		codec  Codec
		encode func(int16) byte
		decode func(byte) int16
	}{
		{"PCMU", PCMU(), func(x int16) byte { return refULawEncode(uiv, x) }, func(b byte) int16 { return refDecode(uiv, b, true) }},
		{"PCMA", PCMA(), func(x int16) byte { return refALawEncode(aiv, x) }, func(b byte) int16 { return refDecode(aiv, b, false) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for x := math.MinInt16; x <= math.MaxInt16; x++ {
				got := tc.codec.Encode(nil, []int16{int16(x)})[0]
				if want := tc.encode(int16(x)); got != want {
					t.Fatalf("Encode(%d) = %#02x, reference %#02x", x, got, want)
				}
			}
			for b := range 256 {
				got := tc.codec.Decode(nil, []byte{byte(b)})[0]
				if want := tc.decode(byte(b)); got != want {
					t.Fatalf("Decode(%#02x) = %d, reference %d", b, got, want)
				}
			}
		})
	}
}

func TestG711RoundTripError(t *testing.T) {
	tests := []struct {
		name  string
		codec Codec
		// maxValue is the largest decodable magnitude; inputs beyond it clip.
		maxValue int
		// halfStep returns half the quantisation step, on the 16-bit scale,
		// in force around the decoded value v.
		halfStep func(v int) int
		// slack covers the low bits G.711 drops before quantising.
		slack int
	}{
		{"PCMU", PCMU(), 32124, func(v int) int {
			for s := range 8 {
				if v < 4*(64<<s-33) {
					return 4 << s
				}
			}
			return 4 << 7
		}, 4},
		{"PCMA", PCMA(), 32256, func(v int) int {
			if v < 512 {
				return 8
			}
			for s := 2; s < 8; s++ {
				if v < 256<<s {
					return 8 << (s - 1)
				}
			}
			return 8 << 6
		}, 16},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var worstRel float64
			for x := math.MinInt16; x <= math.MaxInt16; x++ {
				y := int(tc.codec.Decode(nil, tc.codec.Encode(nil, []int16{int16(x)}))[0])
				ax, ay := g711Abs(x), g711Abs(y)
				if ax > tc.maxValue {
					if ay != tc.maxValue {
						t.Fatalf("%d decodes to %d, want clip to ±%d", x, y, tc.maxValue)
					}
					continue
				}
				if x != 0 && y != 0 && (x < 0) != (y < 0) {
					t.Fatalf("%d decodes to %d: sign flipped", x, y)
				}
				err := g711Abs(x - y)
				if limit := tc.halfStep(ay) + tc.slack; err > limit {
					t.Fatalf("%d decodes to %d: error %d exceeds %d", x, y, err, limit)
				}
				if ax >= 1024 {
					worstRel = max(worstRel, float64(err)/float64(ax))
				}
			}
			// Logarithmic companding keeps the relative error near 2^-5
			// above the linear segments.
			if worstRel > 0.035 {
				t.Errorf("worst relative error %.4f above 1024, want ≤ 0.035", worstRel)
			}
		})
	}
}

func g711Abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func TestG711KnownValues(t *testing.T) {
	tests := []struct {
		name  string
		codec Codec
		pcm   int16
		code  byte
		// decoded is what code decodes to.
		decoded int16
	}{
		{"PCMU silence", PCMU(), 0, 0xff, 0},
		{"PCMU negative zero", PCMU(), -1, 0x7f, 0},
		{"PCMU max", PCMU(), math.MaxInt16, 0x80, 32124},
		{"PCMU min", PCMU(), math.MinInt16, 0x00, -32124},
		{"PCMU small", PCMU(), 100, 0xf2, 104},
		{"PCMA silence", PCMA(), 0, 0xd5, 8},
		{"PCMA negative zero", PCMA(), -1, 0x55, -8},
		{"PCMA max", PCMA(), math.MaxInt16, 0xaa, 32256},
		{"PCMA min", PCMA(), math.MinInt16, 0x2a, -32256},
		{"PCMA 1000", PCMA(), 1000, 0xfa, 1008},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.codec.Encode(nil, []int16{tc.pcm})[0]; got != tc.code {
				t.Errorf("Encode(%d) = %#02x, want %#02x", tc.pcm, got, tc.code)
			}
			if got := tc.codec.Decode(nil, []byte{tc.code})[0]; got != tc.decoded {
				t.Errorf("Decode(%#02x) = %d, want %d", tc.code, got, tc.decoded)
			}
		})
	}
}

func TestG711SilenceFrame(t *testing.T) {
	tests := []struct {
		codec Codec
		fill  byte
	}{
		{PCMU(), 0xff},
		{PCMA(), 0xd5},
	}
	for _, tc := range tests {
		t.Run(tc.codec.Name(), func(t *testing.T) {
			frame := tc.codec.Encode(nil, make([]int16, 160))
			if len(frame) != 160 {
				t.Fatalf("len = %d, want 160", len(frame))
			}
			for i, b := range frame {
				if b != tc.fill {
					t.Fatalf("byte %d = %#02x, want %#02x", i, b, tc.fill)
				}
			}
			for i, s := range tc.codec.Decode(nil, frame) {
				if s < -8 || s > 8 {
					t.Fatalf("sample %d = %d, want near zero", i, s)
				}
			}
		})
	}
}

func TestG711Appends(t *testing.T) {
	c := PCMU()
	dst := []byte{1, 2}
	dst = c.Encode(dst, []int16{0, 0})
	if want := []byte{1, 2, 0xff, 0xff}; string(dst) != string(want) {
		t.Errorf("Encode appended %x, want %x", dst, want)
	}
	pcm := c.Decode([]int16{7}, []byte{0xff, 0x80})
	if len(pcm) != 3 || pcm[0] != 7 || pcm[1] != 0 || pcm[2] != 32124 {
		t.Errorf("Decode appended %v", pcm)
	}
	if got := c.Encode(nil, nil); len(got) != 0 {
		t.Errorf("Encode(nil, nil) = %v, want empty", got)
	}
}

func TestCodecMetadata(t *testing.T) {
	tests := []struct {
		lookup     string
		name       string
		pt         uint8
		clock, pcm int
	}{
		{"PCMU", "PCMU", 0, 8000, 8000},
		{"pcmu", "PCMU", 0, 8000, 8000},
		{"PCMA", "PCMA", 8, 8000, 8000},
		{"pCmA", "PCMA", 8, 8000, 8000},
	}
	for _, tc := range tests {
		t.Run(tc.lookup, func(t *testing.T) {
			c, ok := ByName(tc.lookup)
			if !ok {
				t.Fatalf("ByName(%q) not found", tc.lookup)
			}
			if c.Name() != tc.name || c.PayloadType() != tc.pt || c.ClockRate() != tc.clock || c.SampleRate() != tc.pcm {
				t.Errorf("got %s/%d/%d/%d, want %s/%d/%d/%d", c.Name(), c.PayloadType(), c.ClockRate(), c.SampleRate(), tc.name, tc.pt, tc.clock, tc.pcm)
			}
			if NewEncoder(c) != Encoder(c) || NewDecoder(c) != Decoder(c) {
				t.Errorf("NewEncoder/NewDecoder of a stateless codec should return the codec itself")
			}
		})
	}
	for _, name := range []string{"", "G.722", "G7221", "PCM"} { // G722: TestG722Metadata; opus: opus_test.go, noopus_test.go
		if _, ok := ByName(name); ok {
			t.Errorf("ByName(%q) found a codec", name)
		}
	}
}

func TestCodecNoAllocs(t *testing.T) {
	pcm := make([]int16, 160)
	buf := make([]byte, 0, 160)
	out := make([]int16, 0, 160)
	allocs := testing.AllocsPerRun(100, func() {
		c := PCMA()
		buf = c.Encode(buf[:0], pcm)
		out = c.Decode(out[:0], buf)
	})
	if allocs != 0 {
		t.Errorf("allocs per frame = %v, want 0", allocs)
	}
}

func benchFrame() []int16 {
	pcm := make([]int16, 160)
	for i := range pcm {
		pcm[i] = int16(12000 * math.Sin(2*math.Pi*1000*float64(i)/8000))
	}
	return pcm
}

func benchmarkEncode(b *testing.B, c Codec) {
	pcm := benchFrame()
	buf := make([]byte, 0, len(pcm))
	b.ReportAllocs()
	b.SetBytes(int64(len(pcm)) * 2)
	for b.Loop() {
		buf = c.Encode(buf[:0], pcm)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(pcm)), "ns/sample")
}

func benchmarkDecode(b *testing.B, c Codec) {
	payload := c.Encode(nil, benchFrame())
	out := make([]int16, 0, len(payload))
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		out = c.Decode(out[:0], payload)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(payload)), "ns/sample")
}

func BenchmarkPCMUEncode(b *testing.B) { benchmarkEncode(b, PCMU()) }
func BenchmarkPCMUDecode(b *testing.B) { benchmarkDecode(b, PCMU()) }
func BenchmarkPCMAEncode(b *testing.B) { benchmarkEncode(b, PCMA()) }
func BenchmarkPCMADecode(b *testing.B) { benchmarkDecode(b, PCMA()) }
