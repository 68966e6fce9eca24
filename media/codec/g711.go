package codec

import (
	"math/bits"
	"slices"
)

// g711 is a G.711 companding law. It is an integer type so that storing it
// in a Codec interface value does not allocate.
type g711 uint8

const (
	lawMu g711 = iota // µ-law, PCMU
	lawA              // A-law, PCMA
)

// G.711 works on 14-bit (µ-law) or 13-bit (A-law) linear samples; the
// 16-bit samples this package uses are reduced by dropping low bits. Every
// bit that influences the code is therefore among the top 14 bits, so one
// 16384-entry table indexed by uint16(sample)>>2 serves both laws. The
// tables below are computed once at package initialisation and never
// written afterwards.
var (
	ulawEncodeTable = buildEncodeTable(ulawEncode)
	alawEncodeTable = buildEncodeTable(alawEncode)
	ulawDecodeTable = buildDecodeTable(ulawDecode)
	alawDecodeTable = buildDecodeTable(alawDecode)
)

// PCMU returns the G.711 µ-law codec (static payload type 0).
func PCMU() Codec { return lawMu }

// PCMA returns the G.711 A-law codec (static payload type 8).
func PCMA() Codec { return lawA }

// Name returns "PCMU" or "PCMA".
func (c g711) Name() string {
	if c == lawA {
		return "PCMA"
	}
	return "PCMU"
}

// PayloadType returns 0 for PCMU and 8 for PCMA.
func (c g711) PayloadType() uint8 {
	if c == lawA {
		return 8
	}
	return 0
}

// ClockRate returns 8000.
func (g711) ClockRate() int { return 8000 }

// SampleRate returns 8000.
func (g711) SampleRate() int { return 8000 }

// Encode appends one G.711 byte per PCM sample to dst.
func (c g711) Encode(dst []byte, pcm []int16) []byte {
	tab := &ulawEncodeTable
	if c == lawA {
		tab = &alawEncodeTable
	}
	n := len(dst)
	dst = slices.Grow(dst, len(pcm))[:n+len(pcm)]
	out := dst[n:]
	out = out[:len(pcm)]
	for i, s := range pcm {
		out[i] = tab[uint16(s)>>2]
	}
	return dst
}

// Decode appends one PCM sample per G.711 byte to dst.
func (c g711) Decode(dst []int16, payload []byte) []int16 {
	tab := &ulawDecodeTable
	if c == lawA {
		tab = &alawDecodeTable
	}
	n := len(dst)
	dst = slices.Grow(dst, len(payload))[:n+len(payload)]
	out := dst[n:]
	out = out[:len(payload)]
	for i, b := range payload {
		out[i] = tab[b]
	}
	return dst
}

func buildEncodeTable(enc func(int16) byte) (t [1 << 14]byte) {
	for i := range t {
		t[i] = enc(int16(uint16(i) << 2))
	}
	return t
}

func buildDecodeTable(dec func(byte) int16) (t [256]int16) {
	for i := range t {
		t[i] = dec(byte(i))
	}
	return t
}

// g711Magnitude returns the magnitude of x with its lowest drop bits
// discarded. Negative values use the one's complement, as G.711 does, so
// that the quantiser is symmetric around -0.5 rather than around 0.
func g711Magnitude(x int16, drop uint) int {
	if x < 0 {
		x = ^x
	}
	return int(x) >> drop
}

// ulawEncode compresses one sample with the µ-law rule: the 14-bit
// magnitude m is biased by 33, the segment is the position of the leading
// one of the biased value (5 through 12 give segments 0 through 7) and the
// four bits below that position are the step within the segment. Code bits
// are transmitted inverted; bit 7 set means non-negative.
func ulawEncode(x int16) byte {
	biased := min(g711Magnitude(x, 2)+33, 0x1fff)
	seg := bits.Len(uint(biased)) - 6
	step := (biased >> (seg + 1)) & 0x0f
	code := byte(0x7f ^ (seg<<4 | step))
	if x >= 0 {
		code |= 0x80
	}
	return code
}

// ulawDecode expands one µ-law byte to the midpoint of its interval, scaled
// to 16 bits.
func ulawDecode(code byte) int16 {
	v := ^code
	seg := uint(v>>4) & 7
	step := int(v & 0x0f)
	mag := ((2*step + 33) << seg) - 33
	if code&0x80 == 0 {
		return int16(-4 * mag)
	}
	return int16(4 * mag)
}

// alawEncode compresses one sample with the A-law rule: the 12-bit
// magnitude m is coded linearly below 16 (segment 0); above, the segment is
// the position of the leading one less three, and the four bits below the
// leading one are the step. Bit 7 set means non-negative and the even bits
// are inverted for transmission.
func alawEncode(x int16) byte {
	m := g711Magnitude(x, 4)
	var code int
	if m < 16 {
		code = m
	} else {
		seg := bits.Len(uint(m)) - 4
		code = seg<<4 | (m>>(seg-1))&0x0f
	}
	if x >= 0 {
		code |= 0x80
	}
	return byte(code) ^ 0x55
}

// alawDecode expands one A-law byte to the midpoint of its interval, scaled
// to 16 bits.
func alawDecode(code byte) int16 {
	v := code ^ 0x55
	seg := uint(v>>4) & 7
	q := int(v & 0x0f)
	if seg > 0 {
		q += 16
	}
	mag := (2*q + 1) << 3
	if seg > 1 {
		mag <<= seg - 1
	}
	if v&0x80 == 0 {
		return int16(-mag)
	}
	return int16(mag)
}
