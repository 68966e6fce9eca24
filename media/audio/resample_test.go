package audio

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/media/dsp"
)

// resampleAll runs src through a new Resampler and flushes it.
func resampleAll(t testing.TB, src []int16, from, to int) []int16 {
	t.Helper()
	r, err := NewResampler(from, to)
	if err != nil {
		t.Fatal(err)
	}
	return r.Flush(r.Process(nil, src))
}

// trimEdges drops the first and last 10% of samples, where the filter sees
// the silence before and after the signal.
func trimEdges(s []int16) []int16 {
	n := len(s) / 10
	return s[n : len(s)-n]
}

func TestResamplerTonePassband(t *testing.T) {
	pairs := []struct{ from, to int }{
		{8000, 8000}, {16000, 8000}, {22050, 8000}, {24000, 8000}, {44100, 8000}, {48000, 8000},
		{11025, 8000}, {32000, 8000}, {96000, 8000},
		{8000, 16000}, {8000, 44100}, {8000, 48000}, {16000, 48000}, {44100, 48000}, {48000, 44100},
		{44100, 8001}, // reduces to a ratio with more phases than are stored
	}
	for _, p := range pairs {
		t.Run(fmt.Sprintf("%d-%d", p.from, p.to), func(t *testing.T) {
			for _, freq := range []float64{300, 1000, 3000} {
				in := dsp.Sine(p.from, freq, time.Second, 0.5) // one second
				out := resampleAll(t, in, p.from, p.to)
				if want := p.to; len(out) != want {
					t.Fatalf("%v Hz: %d output samples, want %d", freq, len(out), want)
				}
				inDB := dsp.LevelDB(trimEdges(in), p.from, freq)
				outDB := dsp.LevelDB(trimEdges(out), p.to, freq)
				if math.Abs(outDB-inDB) > 0.2 {
					t.Errorf("%v Hz: level %.2f dB after resampling, %.2f dB before", freq, outDB, inDB)
				}
			}
		})
	}
}

func TestResamplerAntiAliasing(t *testing.T) {
	// The acceptance criteria: 1 kHz at 44.1 kHz → 8 kHz keeps its level
	// within 1 dB; 5 kHz (which would alias to 3 kHz) ends up at least
	// 40 dB below the 1 kHz case.
	const from, to = 44100, 8000
	ref := trimEdges(resampleAll(t, dsp.Sine(from, 1000, time.Second, 0.5), from, to))
	refDB := dsp.LevelDB(ref, to, 1000)
	if want := 20 * math.Log10(0.5); math.Abs(refDB-want) > 1 {
		t.Errorf("1 kHz at %.2f dB, want %.2f ± 1", refDB, want)
	}
	refRMS := dsp.RMS(ref)
	tests := []struct {
		freq, alias float64
		minDown     float64
	}{
		{5000, 3000, 40},
		{4100, 3900, 40}, // just past the stopband edge
		{6000, 2000, 60},
		{9000, 1000, 60},
		{15000, 1000, 60},
		{20000, 4000, 60},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.freq), func(t *testing.T) {
			out := trimEdges(resampleAll(t, dsp.Sine(from, tc.freq, time.Second, 0.5), from, to))
			aliasDB := dsp.LevelDB(out, to, tc.alias)
			if down := refDB - aliasDB; down < tc.minDown {
				t.Errorf("alias at %v Hz only %.1f dB below the 1 kHz case, want ≥ %v", tc.alias, down, tc.minDown)
			}
			if down := 20 * math.Log10(refRMS/max(dsp.RMS(out), 1e-12)); down < tc.minDown {
				t.Errorf("output RMS only %.1f dB below the 1 kHz case, want ≥ %v", down, tc.minDown)
			}
		})
	}
}

func TestResamplerNoImaging(t *testing.T) {
	// Upsampling 3 kHz from 8 kHz to 16 kHz must not create its image at
	// 5 kHz.
	out := trimEdges(resampleAll(t, dsp.Sine(8000, 3000, time.Second, 0.5), 8000, 16000))
	tone, image := dsp.LevelDB(out, 16000, 3000), dsp.LevelDB(out, 16000, 5000)
	if tone-image < 60 {
		t.Errorf("image at 5 kHz only %.1f dB below the tone", tone-image)
	}
}

func TestResamplerChunkedEqualsOneShot(t *testing.T) {
	rates := []int{8000, 16000, 22050, 24000, 44100, 48000}
	rng := rand.New(rand.NewPCG(1, 2))
	in := make([]int16, 9000)
	for i := range in {
		in[i] = int16(rng.IntN(40000) - 20000)
	}
	for _, from := range rates {
		for _, to := range []int{8000, 16000, 48000} {
			t.Run(fmt.Sprintf("%d-%d", from, to), func(t *testing.T) {
				want := resampleAll(t, in, from, to)
				r, err := NewResampler(from, to)
				if err != nil {
					t.Fatal(err)
				}
				var got []int16
				for rest := in; len(rest) > 0; {
					n := min(len(rest), rng.IntN(700))
					got = r.Process(got, rest[:n])
					rest = rest[n:]
				}
				got = r.Flush(got)
				if !slices.Equal(got, want) {
					t.Fatalf("chunked output (%d samples) differs from one-shot (%d samples)", len(got), len(want))
				}
				// After Flush the Resampler starts a fresh stream.
				if again := r.Flush(r.Process(nil, in)); !slices.Equal(again, want) {
					t.Fatal("second stream after Flush differs")
				}
			})
		}
	}
}

func TestResamplerOutputLength(t *testing.T) {
	tests := []struct{ from, to, n, want int }{
		{44100, 8000, 441, 80},
		{44100, 8000, 1, 1},
		{44100, 8000, 442, 81},
		{48000, 8000, 7, 2},
		{8000, 16000, 3, 6},
		{8000, 44100, 80, 441},
		{8000, 8000, 5, 5},
		{16000, 8000, 0, 0},
	}
	for _, tc := range tests {
		got := resampleAll(t, make([]int16, tc.n), tc.from, tc.to)
		if len(got) != tc.want {
			t.Errorf("%d→%d of %d samples gave %d, want %d", tc.from, tc.to, tc.n, len(got), tc.want)
		}
	}
}

func TestResamplerDCAndAlignment(t *testing.T) {
	// A constant is reproduced exactly once the filter is past the edges,
	// and a step stays where it was in time (the filter adds no delay): the
	// output crosses half the step height where the input jumped.
	for _, p := range []struct{ from, to int }{{44100, 8000}, {8000, 48000}, {22050, 8000}, {16000, 8000}} {
		in := make([]int16, p.from)
		for i := p.from / 2; i < len(in); i++ {
			in[i] = 10000
		}
		out := resampleAll(t, in, p.from, p.to)
		for i := len(out)/2 + p.to/50; i < len(out)-p.to/50; i++ {
			if out[i] != 10000 {
				t.Fatalf("%d→%d: sample %d = %d, want 10000", p.from, p.to, i, out[i])
			}
		}
		// The input edge lies halfway between samples from/2-1 and from/2.
		edge := (float64(p.from/2) - 0.5) / float64(p.from)
		i := slices.IndexFunc(out, func(v int16) bool { return v >= 5000 })
		frac := float64(5000-out[i-1]) / float64(out[i]-out[i-1])
		crossing := (float64(i-1) + frac) / float64(p.to)
		if d := math.Abs(crossing-edge) * float64(p.to); d > 0.25 {
			t.Errorf("%d→%d: step crosses half height %.2f output samples from the input edge", p.from, p.to, d)
		}
	}
}

func TestResamplerPassthrough(t *testing.T) {
	r, err := NewResampler(16000, 16000)
	if err != nil {
		t.Fatal(err)
	}
	in := []int16{1, -2, 3}
	if got := r.Flush(r.Process([]int16{9}, in)); !slices.Equal(got, []int16{9, 1, -2, 3}) {
		t.Errorf("passthrough = %v", got)
	}
}

func TestResamplerReset(t *testing.T) {
	in := dsp.Sine(44100, 1000, 100*time.Millisecond, 0.5)
	want := resampleAll(t, in, 44100, 8000)
	r, _ := NewResampler(44100, 8000)
	r.Process(nil, dsp.Sine(44100, 3000, 1000*time.Second/44100, 0.9))
	r.Reset()
	if got := r.Flush(r.Process(nil, in)); !slices.Equal(got, want) {
		t.Error("output after Reset differs from a fresh Resampler")
	}
}

func TestResamplerClips(t *testing.T) {
	// A full-scale square wave overshoots through the filter; output must
	// saturate, not wrap. Away from the edges it must sit on the plateaus.
	const half = 441 // 10 ms at 44.1 kHz
	in := make([]int16, 20*half)
	for i := range in {
		in[i] = math.MaxInt16
		if (i/half)%2 == 1 {
			in[i] = math.MinInt16
		}
	}
	out := resampleAll(t, in, 44100, 8000)
	if slices.Max(out) != math.MaxInt16 || slices.Min(out) != math.MinInt16 {
		t.Errorf("output spans [%d, %d], want saturation at both limits", slices.Min(out), slices.Max(out))
	}
	for i, v := range out {
		pos := i * 44100 / 8000 // input index at this output
		if d := pos % half; d < 44 || d > half-44 {
			continue // within 1 ms of an edge
		}
		want := math.MaxInt16
		if (pos/half)%2 == 1 {
			want = math.MinInt16
		}
		if diff := int(v) - want; diff > 1000 || diff < -1000 {
			t.Fatalf("sample %d = %d, want near %d", i, v, want)
		}
	}
}

func TestNewResamplerErrors(t *testing.T) {
	for _, p := range []struct{ from, to int }{{0, 8000}, {8000, 0}, {-1, 8000}, {8000, 1 << 25}} {
		if _, err := NewResampler(p.from, p.to); err == nil {
			t.Errorf("NewResampler(%d, %d) succeeded", p.from, p.to)
		} else if err.Error() != fmt.Sprintf("audio: resample: unsupported rates %d Hz to %d Hz", p.from, p.to) {
			t.Errorf("error = %q", err)
		}
	}
	// Extreme ratios are accepted with a bounded filter.
	for _, p := range []struct{ from, to int }{{192000, 1000}, {1, 48000}, {48000, 1}, {44100, 44101}} {
		r, err := NewResampler(p.from, p.to)
		if err != nil {
			t.Fatalf("NewResampler(%d, %d): %v", p.from, p.to, err)
		}
		if len(r.coef) > resampleMaxCoefs {
			t.Errorf("NewResampler(%d, %d): %d coefficients", p.from, p.to, len(r.coef))
		}
		n := min(p.from, 1000) // at most one second of input
		out := r.Flush(r.Process(nil, make([]int16, n)))
		if want := int(math.Ceil(float64(n) * float64(p.to) / float64(p.from))); len(out) != want {
			t.Errorf("%d→%d: %d samples, want %d", p.from, p.to, len(out), want)
		}
	}
}

func TestDownmixStereo(t *testing.T) {
	tests := []struct {
		name string
		dst  []int16
		in   []int16
		want []int16
	}{
		{"empty", nil, nil, nil},
		{"pairs", nil, []int16{100, 200, -100, -300, 32767, 32767, -32768, -32768}, []int16{150, -200, 32767, -32768}},
		{"opposite", nil, []int16{32767, -32768, 1, -1}, []int16{0, 0}},
		{"appends", []int16{7}, []int16{2, 4}, []int16{7, 3}},
		{"odd trailing sample ignored", nil, []int16{2, 4, 9}, []int16{3}},
	}
	for _, tc := range tests {
		if got := DownmixStereo(tc.dst, tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("%s: DownmixStereo = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func FuzzResampler(f *testing.F) {
	rates := []int{8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 8001}
	f.Add(uint8(6), uint8(0), uint16(100), []byte{1, 2, 3, 4, 5, 6, 7, 8})
	f.Add(uint8(0), uint8(2), uint16(1), []byte{0xff, 0x7f, 0x00, 0x80})
	f.Add(uint8(8), uint8(7), uint16(3), make([]byte, 200))
	f.Fuzz(func(t *testing.T, fi, ti uint8, chunk uint16, data []byte) {
		from, to := rates[int(fi)%len(rates)], rates[int(ti)%len(rates)]
		in := make([]int16, len(data)/2)
		for i := range in {
			in[i] = int16(uint16(data[2*i]) | uint16(data[2*i+1])<<8)
		}
		want := resampleAll(t, in, from, to)
		if n := int(math.Ceil(float64(len(in)) * float64(to) / float64(from))); len(want) != n {
			t.Fatalf("%d→%d of %d samples: %d out, want %d", from, to, len(in), len(want), n)
		}
		r, _ := NewResampler(from, to)
		var got []int16
		step := int(chunk)%64 + 1
		for rest := in; len(rest) > 0; {
			n := min(step, len(rest))
			got = r.Process(got, rest[:n])
			rest = rest[n:]
		}
		if got = r.Flush(got); !slices.Equal(got, want) {
			t.Fatal("chunked output differs from one-shot")
		}
	})
}

func BenchmarkResample(b *testing.B) {
	pairs := []struct{ from, to int }{{44100, 8000}, {48000, 8000}, {16000, 8000}, {8000, 16000}}
	for _, p := range pairs {
		b.Run(fmt.Sprintf("%d-%d", p.from, p.to), func(b *testing.B) {
			r, err := NewResampler(p.from, p.to)
			if err != nil {
				b.Fatal(err)
			}
			in := dsp.Sine(p.from, 1000, 20*time.Millisecond, 0.5) // 20 ms
			out := make([]int16, 0, p.to/50+2)
			b.ReportAllocs()
			for b.Loop() {
				out = r.Process(out[:0], in)
			}
			b.ReportMetric(float64(b.N)*0.02/b.Elapsed().Seconds(), "x-realtime")
		})
	}
}

// BenchmarkResampleStereo44100To8000 measures the prompt-loading path:
// 44.1 kHz stereo downmixed and resampled to 8 kHz, in 20 ms chunks.
func BenchmarkResampleStereo44100To8000(b *testing.B) {
	r, err := NewResampler(44100, 8000)
	if err != nil {
		b.Fatal(err)
	}
	left := dsp.Sine(44100, 1000, 20*time.Millisecond, 0.5)
	right := dsp.Sine(44100, 1500, 20*time.Millisecond, 0.5)
	stereo := make([]int16, 0, 2*len(left))
	for i := range left {
		stereo = append(stereo, left[i], right[i])
	}
	mono := make([]int16, 0, len(left))
	out := make([]int16, 0, 170)
	b.ReportAllocs()
	b.SetBytes(int64(2 * len(stereo)))
	for b.Loop() {
		mono = DownmixStereo(mono[:0], stereo)
		out = r.Process(out[:0], mono)
	}
	b.ReportMetric(float64(b.N)*0.02/b.Elapsed().Seconds(), "x-realtime")
}

// TestFrameResamplerCopyFrom: a FrameResampler that takes another's state
// mid-stream produces exactly the frames the other would have.
func TestFrameResamplerCopyFrom(t *testing.T) {
	in := dsp.Sine(16000, 1000, 200*time.Millisecond, 0.5)
	a, _ := NewFrameResampler(16000, 8000)
	b, _ := NewFrameResampler(16000, 8000)
	for i := range 5 {
		a.Frame(in[i*320 : (i+1)*320])
	}
	if !b.CopyFrom(a) {
		t.Fatal("CopyFrom refused equal rates")
	}
	for i := 5; i < 10; i++ {
		want := slices.Clone(a.Frame(in[i*320 : (i+1)*320]))
		if got := b.Frame(in[i*320 : (i+1)*320]); !slices.Equal(got, want) {
			t.Fatalf("frame %d differs after CopyFrom", i)
		}
	}
	c, _ := NewFrameResampler(8000, 16000)
	if c.CopyFrom(a) {
		t.Error("CopyFrom took the state of another rate pair")
	}
}
