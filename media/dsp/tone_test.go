package dsp

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func mix(parts ...[]int16) []int16 {
	out := make([]int16, len(parts[0]))
	for i := range out {
		var s int
		for _, p := range parts {
			s += int(p[i])
		}
		out[i] = int16(max(min(s, math.MaxInt16), math.MinInt16))
	}
	return out
}

func noise(n int, amplitude float64, seed uint64) []int16 {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(amplitude * fullScale * (2*rng.Float64() - 1))
	}
	return out
}

func TestSine(t *testing.T) {
	s := Sine(8000, 1000, time.Millisecond, 1)
	want := []int16{0, 23170, 32767, 23170, 0, -23170, -32767, -23170}
	if !slices.Equal(s, want) {
		t.Errorf("Sine = %v, want %v", s, want)
	}
	if got := Sine(8000, 1000, 0, 1); len(got) != 0 {
		t.Errorf("Sine(0 s) = %v", got)
	}
	if got := Sine(8000, 1000, -time.Second, 1); len(got) != 0 {
		t.Errorf("Sine(-1 s) = %v", got)
	}
	clipped := Sine(8000, 440, 12500*time.Microsecond, 2)
	if lo, hi := slices.Min(clipped), slices.Max(clipped); lo != -32767 || hi != 32767 {
		t.Errorf("clipped sine spans [%d, %d], want [-32767, 32767]", lo, hi)
	}
}

func TestOscillatorStreamsLikeSine(t *testing.T) {
	want := Sine(8000, 440, time.Second, 0.5)
	o := NewOscillator(8000, 440, 0.5)
	var got []int16
	for _, n := range []int{1, 159, 160, 3000, 4680} {
		buf := make([]int16, n)
		o.Read(buf)
		got = append(got, buf...)
	}
	if !slices.Equal(got, want) {
		t.Error("chunked Oscillator output differs from Sine")
	}
	silent := make([]int16, 10)
	NewOscillator(0, 440, 1).Read(silent)
	for _, v := range silent {
		if v != 0 {
			t.Fatalf("zero sample rate produced %v", silent)
		}
	}
}

func TestGoertzelLevels(t *testing.T) {
	tests := []struct {
		name    string
		samples []int16
		rate    int
		freq    float64
		wantDB  float64
		tolDB   float64
	}{
		{"full scale on frequency", Sine(8000, 1000, time.Second, 1), 8000, 1000, 0, 0.05},
		{"half scale", Sine(8000, 1000, time.Second, 0.5), 8000, 1000, -6.02, 0.05},
		{"tenth scale, odd length", Sine(8000, 697, 154250*time.Microsecond, 0.1), 8000, 697, -20, 0.1},
		{"short window off bin", Sine(8000, 1013, 20*time.Millisecond, 0.5), 8000, 1013, -6.02, 0.1},
		{"48 kHz", Sine(48000, 1000, 20*time.Millisecond, 0.25), 48000, 1000, -12.04, 0.1},
		{"other frequency", Sine(8000, 1000, time.Second, 1), 8000, 1400, -200, 120},
		{"silence", make([]int16, 160), 8000, 1000, -200, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := LevelDB(tc.samples, tc.rate, tc.freq)
			if math.Abs(got-tc.wantDB) > tc.tolDB {
				t.Errorf("LevelDB = %.3f dB, want %.2f ± %.2f", got, tc.wantDB, tc.tolDB)
			}
		})
	}
	if got := LevelDB(Sine(8000, 1000, time.Second, 1), 8000, 1400); got > -80 {
		t.Errorf("leakage to 1400 Hz = %.1f dB, want below -80", got)
	}
}

func TestGoertzelDegenerate(t *testing.T) {
	s := Sine(8000, 1000, 20*time.Millisecond, 1)
	tests := []struct {
		name    string
		samples []int16
		rate    int
		freq    float64
	}{
		{"nil", nil, 8000, 1000},
		{"one sample", s[:1], 8000, 1000},
		{"zero rate", s, 0, 1000},
		{"zero freq", s, 8000, 0},
		{"negative freq", s, 8000, -5},
		{"nyquist", s, 8000, 4000},
		{"above nyquist", s, 8000, 5000},
	}
	for _, tc := range tests {
		if got := Goertzel(tc.samples, tc.rate, tc.freq); got != 0 {
			t.Errorf("%s: Goertzel = %v, want 0", tc.name, got)
		}
		if HasTone(tc.samples, tc.rate, tc.freq) {
			t.Errorf("%s: HasTone = true", tc.name)
		}
	}
}

func TestRMS(t *testing.T) {
	tests := []struct {
		name    string
		samples []int16
		want    float64
		tol     float64
	}{
		{"empty", nil, 0, 0},
		{"silence", make([]int16, 100), 0, 0},
		{"full-scale sine", Sine(8000, 1000, time.Second, 1), 1 / math.Sqrt2, 1e-4},
		{"half-scale sine", Sine(8000, 1000, time.Second, 0.5), 0.5 / math.Sqrt2, 1e-4},
		{"constant", []int16{16384, -16384}, 16384.0 / 32767, 1e-9},
	}
	for _, tc := range tests {
		if got := RMS(tc.samples); math.Abs(got-tc.want) > tc.tol {
			t.Errorf("%s: RMS = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestHasTone(t *testing.T) {
	const rate = 8000
	second := func(f, a float64) []int16 { return Sine(rate, f, time.Second, a) }
	tests := []struct {
		name    string
		samples []int16
		present []float64
		absent  []float64
	}{
		{"440", second(440, 0.5), []float64{440}, []float64{1000, 1400, 350, 2000}},
		{"1000", second(1000, 0.5), []float64{1000}, []float64{440, 1400, 800, 3000}},
		{"1400", second(1400, 0.5), []float64{1400}, []float64{440, 1000, 1800}},
		{"quiet 1000 at -40 dBFS", second(1000, 0.01), []float64{1000}, []float64{440}},
		{"too quiet at -50 dBFS", second(1000, 0.00316), nil, []float64{1000}},
		{"slightly off nominal", second(1008, 0.5), []float64{1000}, []float64{1400}},
		{"mixture 440+1000", mix(second(440, 0.3), second(1000, 0.3)), []float64{440, 1000}, []float64{1400, 700, 2500}},
		{"mixture 1000+1400", mix(second(1000, 0.3), second(1400, 0.3)), []float64{1000, 1400}, []float64{440}},
		{"DTMF 5 (770+1336)", mix(second(770, 0.3), second(1336, 0.3)), []float64{770, 1336}, []float64{697, 852, 1209, 1477}},
		{"tone in noise", mix(second(1000, 0.3), noise(rate, 0.05, 7)), []float64{1000}, []float64{440, 1400}},
		{"silence", make([]int16, rate), nil, []float64{440, 1000, 1400, 3000}},
		{"white noise", noise(rate, 0.5, 1), nil, []float64{300, 440, 1000, 1400, 2000, 3500}},
		{"20 ms window", Sine(rate, 1000, 20*time.Millisecond, 0.5), []float64{1000}, []float64{440, 1400}},
		{"48 kHz", Sine(48000, 1000, time.Second, 0.5), []float64{1000}, []float64{440, 1400, 15000}},
		{"near nyquist", second(3800, 0.5), []float64{3800}, []float64{3000}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := rate
			if tc.name == "48 kHz" {
				r = 48000
			}
			for _, f := range tc.present {
				if !HasTone(tc.samples, r, f) {
					t.Errorf("HasTone(%v Hz) = false, want true (level %.1f dB)", f, LevelDB(tc.samples, r, f))
				}
			}
			for _, f := range tc.absent {
				if HasTone(tc.samples, r, f) {
					t.Errorf("HasTone(%v Hz) = true, want false (level %.1f dB)", f, LevelDB(tc.samples, r, f))
				}
			}
		})
	}
}

func TestHasToneNoiseNeverTriggers(t *testing.T) {
	// Many short noise windows at several levels: the per-window false
	// positive rate must stay small.
	var trials, hits int
	for seed := range uint64(200) {
		n := noise(160, 0.02+0.002*float64(seed), seed)
		for _, f := range []float64{440, 1000, 1400, 2100} {
			trials++
			if HasTone(n, 8000, f) {
				hits++
			}
		}
	}
	if rate := float64(hits) / float64(trials); rate > 0.02 {
		t.Errorf("noise triggered HasTone in %d of %d windows", hits, trials)
	}
}

func TestToneFraction(t *testing.T) {
	const rate = 8000
	half := rate / 2
	silence := make([]int16, half)
	tests := []struct {
		name    string
		samples []int16
		freq    float64
		want    float64
		tol     float64
	}{
		{"all tone", Sine(rate, 1000, time.Second, 0.5), 1000, 1, 0},
		{"leading silence", slices.Concat(silence, Sine(rate, 1000, time.Second/2, 0.5)), 1000, 1, 0},
		{"leading low noise", slices.Concat(noise(half, 0.0005, 3), Sine(rate, 1000, time.Second/2, 0.5)), 1000, 1, 0},
		{"half another tone", slices.Concat(Sine(rate, 440, time.Second/2, 0.5), Sine(rate, 1000, time.Second/2, 0.5)), 1000, 0.5, 0.03},
		{"wrong tone", Sine(rate, 440, time.Second, 0.5), 1000, 0, 0},
		{"half noise", slices.Concat(noise(half, 0.3, 4), Sine(rate, 1000, time.Second/2, 0.5)), 1000, 0.5, 0.03},
		{"noise only", noise(rate, 0.3, 5), 1000, 0, 0.02},
		{"silence only", make([]int16, rate), 1000, 0, 0},
		{"empty", nil, 1000, 0, 0},
		{"shorter than a window", Sine(rate, 1000, 12500*time.Microsecond, 0.5), 1000, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ToneFraction(tc.samples, rate, tc.freq); math.Abs(got-tc.want) > tc.tol {
				t.Errorf("ToneFraction = %.3f, want %.3f ± %.3f", got, tc.want, tc.tol)
			}
		})
	}
	if got := ToneFraction(Sine(8000, 1000, 12500*time.Microsecond, 1), 0, 1000); got != 0 {
		t.Errorf("zero rate: ToneFraction = %v", got)
	}
}

func ExampleHasTone() {
	const rate = 8000
	// One second of a 440 Hz + 1000 Hz mixture at -10 dBFS each.
	a, b := Sine(rate, 440, time.Second, 0.316), Sine(rate, 1000, time.Second, 0.316)
	for i := range a {
		a[i] += b[i]
	}
	fmt.Println(HasTone(a, rate, 440), HasTone(a, rate, 1000), HasTone(a, rate, 1400))
	fmt.Printf("%.1f dB\n", LevelDB(a, rate, 1000))
	// Output:
	// true true false
	// -10.0 dB
}

func BenchmarkGoertzel(b *testing.B) {
	s := Sine(8000, 1000, 20*time.Millisecond, 0.5)
	b.ReportAllocs()
	for b.Loop() {
		Goertzel(s, 8000, 1000)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(s)), "ns/sample")
}

func BenchmarkToneFraction(b *testing.B) {
	s := Sine(8000, 1000, time.Second, 0.5)
	b.ReportAllocs()
	for b.Loop() {
		ToneFraction(s, 8000, 1000)
	}
	b.ReportMetric(float64(b.N)*float64(len(s))/8000/b.Elapsed().Seconds(), "x-realtime")
}
