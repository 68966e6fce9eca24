package media

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"testing"

	mp3 "github.com/hajimehoshi/go-mp3"
)

func TestScratchEnvelope(t *testing.T) {
	b, _ := os.ReadFile("testdata/loop250_44100_notag.mp3")
	d, _ := mp3.NewDecoder(bytes.NewReader(b))
	raw, _ := io.ReadAll(d)
	var l []int
	for i := 0; i+4 <= len(raw); i += 4 {
		l = append(l, int(int16(binary.LittleEndian.Uint16(raw[i:]))))
	}
	for i := 0; i < 1400; i += 50 {
		mx := 0
		for _, v := range l[i : i+50] {
			mx = max(mx, v, -v)
		}
		t.Logf("%5d %6d", i, mx)
	}
	n := len(l)
	for i := n - 1500; i < n; i += 50 {
		mx := 0
		for _, v := range l[i:min(i+50, n)] {
			mx = max(mx, v, -v)
		}
		t.Logf("end %5d %6d", i-n, mx)
	}
}
