package codec

import (
	"bytes"
	"testing"
)

// The TOC arithmetic is pure Go and tested in every build; opus_test.go
// (opus build tag) checks it against libopus's own packets.

func TestOpusPacketSamples48(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    []byte
		want int
	}{
		{"empty", nil, 0},
		{"SILK WB 20 ms code 0", []byte{9 << 3, 1, 2}, 960},
		{"SILK NB 60 ms code 0", []byte{3 << 3, 1}, 2880},
		{"hybrid FB 10 ms code 0", []byte{14 << 3}, 480},
		{"CELT FB 2.5 ms code 0", []byte{28 << 3}, 120},
		{"SILK WB 20 ms code 1", []byte{9<<3 | 1, 1, 2}, 1920},
		{"code 1 odd length", []byte{9<<3 | 1, 1}, 0},
		{"code 2", []byte{9<<3 | 2, 1, 5}, 1920},
		{"code 2 cut short", []byte{9<<3 | 2}, 0},
		{"code 3, 3 frames of 10 ms", []byte{8<<3 | 3, 0x83, 1, 2}, 1440},
		{"code 3, no frames", []byte{8<<3 | 3, 0x80}, 0},
		{"code 3 over 120 ms", []byte{9<<3 | 3, 7}, 0},
		{"code 3 cut short", []byte{9<<3 | 3}, 0},
	} {
		if got := opusPacketSamples48(tc.p); got != tc.want {
			t.Errorf("%s: %d samples, want %d", tc.name, got, tc.want)
		}
	}
}

func TestOpusJoin(t *testing.T) {
	toc := byte(8 << 3) // SILK WB 10 ms, mono, code 0
	short := append([]byte{toc}, bytes.Repeat([]byte{7}, 40)...)
	long := append([]byte{toc}, bytes.Repeat([]byte{9}, 300)...)
	got, ok := opusJoin([]byte{0xee}, [][]byte{short, long, short})
	if !ok {
		t.Fatal("opusJoin refused three frames of one configuration")
	}
	// Kept prefix, TOC with code 3, VBR count 3, lengths 40 and 300 (two
	// bytes: 252+0, (300-252)/4 = 12), then the three frames.
	want := []byte{0xee, toc | 3, 0x83, 40, 252, 12}
	want = append(want, short[1:]...)
	want = append(want, long[1:]...)
	want = append(want, short[1:]...)
	if !bytes.Equal(got, want) {
		t.Fatalf("joined packet\n got %x\nwant %x", got[:12], want[:12])
	}
	if n := opusPacketSamples48(got[1:]); n != 1440 {
		t.Fatalf("joined packet lasts %d samples, want 1440", n)
	}
	for name, packets := range map[string][][]byte{
		"none":             nil,
		"other config":     {short, {9 << 3, 1}},
		"not code 0":       {short, {toc | 1, 1, 1}},
		"empty frame":      {short, {}},
		"over 120 ms":      bytes.Fields(bytes.Repeat([]byte{3 << 3, ' '}, 3)),
		"frame over 1275":  {append([]byte{toc}, make([]byte, 1276)...)},
		"more than 48 fr.": bytes.Fields(bytes.Repeat([]byte{28 << 3, 1, ' '}, 49)),
	} {
		if out, ok := opusJoin(nil, packets); ok || len(out) != 0 {
			t.Errorf("%s: joined (%x)", name, out)
		}
	}
}

func FuzzOpusPacketSamples(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{9 << 3, 1, 2})
	f.Add([]byte{8<<3 | 3, 0x83, 1, 2})
	f.Fuzz(func(t *testing.T, p []byte) {
		n := opusPacketSamples48(p)
		if n < 0 || n > opusMaxSamples48 || n%120 != 0 {
			t.Fatalf("%x: %d samples", p, n)
		}
	})
}
