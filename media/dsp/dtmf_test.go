package dsp

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

const ms = time.Millisecond

// detect runs pcm through a new detector in chunks of the given size and
// returns the keys found.
func detect(pcm []int16, sampleRate, chunk int) string {
	d := NewDTMFDetector(sampleRate)
	var keys []rune
	for len(pcm) > 0 {
		n := min(chunk, len(pcm))
		keys = append(keys, d.Write(pcm[:n])...)
		pcm = pcm[n:]
	}
	return string(keys)
}

// twoTone returns d of a low and a high tone with their own peak
// amplitudes (fractions of full scale).
func twoTone(sampleRate int, lo, hi float64, d time.Duration, ampLo, ampHi float64) []int16 {
	return mix(Sine(sampleRate, lo, d, ampLo), Sine(sampleRate, hi, d, ampHi))
}

func silence(d time.Duration, sampleRate int) []int16 {
	return make([]int16, int(d.Seconds()*float64(sampleRate)))
}

func TestDTMFDetectsAllKeys(t *testing.T) {
	const keys = "0123456789*#ABCD"
	for _, rate := range []int{8000, 16000} {
		pcm := GenerateDTMF(rate, keys, 50*ms, 50*ms, 0.25)
		for _, chunk := range []int{rate / 50, 1, 37, len(pcm)} {
			if got := detect(pcm, rate, chunk); got != keys {
				t.Errorf("%d Hz, chunks of %d: detected %q, want %q", rate, chunk, got, keys)
			}
		}
	}
}

func TestDTMFInNoise(t *testing.T) {
	const keys = "0123456789*#ABCD"
	const amp = 0.25
	pcm := GenerateDTMF(8000, keys, 50*ms, 50*ms, amp)
	// White noise 20 dB below the keys (SNR +20 dB; the "-20 dB" of the
	// requirement read as the noise level) and 10 dB below. The two tones
	// have an RMS of amp; uniform noise of peak a has an RMS of a/√3.
	for _, snr := range []float64{20, 10} {
		for seed := range uint64(5) {
			a := math.Sqrt(3) * amp * math.Pow(10, -snr/20)
			noisy := mix(pcm, noise(len(pcm), a, seed))
			if got := detect(noisy, 8000, 160); got != keys {
				t.Errorf("SNR %g dB, seed %d: detected %q, want %q", snr, seed, got, keys)
			}
		}
	}
}

func TestDTMFOneEventPerPress(t *testing.T) {
	for _, tc := range []struct {
		name string
		pcm  []int16
		want string
	}{
		{"repeated key", GenerateDTMF(8000, "1111", 50*ms, 50*ms, 0.25), "1111"},
		{"long press", GenerateDTMF(8000, "5", 500*ms, 50*ms, 0.25), "5"},
		{"40 ms tones and gaps", GenerateDTMF(8000, "99#9", 40*ms, 40*ms, 0.25), "99#9"},
		{"20 ms dropout in a press", concat(GenerateDTMF(8000, "7", 100*ms, 20*ms, 0.25), GenerateDTMF(8000, "7", 100*ms, 0, 0.25)), "7"},
		{"key change without a gap", concat(GenerateDTMF(8000, "3", 60*ms, 0, 0.25), GenerateDTMF(8000, "6", 60*ms, 0, 0.25)), "36"},
		{"20 ms tone", GenerateDTMF(8000, "4", 20*ms, 100*ms, 0.25), ""},
	} {
		// Every alignment of the input to the analysis windows.
		for offset := range 60 {
			pcm := concat(silence(time.Duration(offset)*time.Second/8000, 8000), tc.pcm)
			if got := detect(pcm, 8000, 160); got != tc.want {
				t.Errorf("%s, offset %d: detected %q, want %q", tc.name, offset, got, tc.want)
				break
			}
		}
	}
}

func concat(parts ...[]int16) []int16 {
	var out []int16
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestDTMFLevelsAndTwist(t *testing.T) {
	for _, tc := range []struct {
		name         string
		ampLo, ampHi float64
		want         string
	}{
		{"high group 6 dB weaker", 0.3, 0.15, "1"},
		{"low group 6 dB weaker", 0.15, 0.3, "1"},
		{"quiet: -30 dB per tone", 0.0316, 0.0316, "1"},
		{"twist 12 dB", 0.4, 0.1, ""},
		{"too quiet: -40 dB per tone", 0.01, 0.01, ""},
	} {
		pcm := concat(twoTone(8000, 697, 1209, 100*ms, tc.ampLo, tc.ampHi), silence(100*ms, 8000))
		if got := detect(pcm, 8000, 160); got != tc.want {
			t.Errorf("%s: detected %q, want %q", tc.name, got, tc.want)
		}
	}
	// Frequencies 1.5% off nominal (Q.24's tolerance) are still keys.
	off := concat(twoTone(8000, 852*1.015, 1477*0.985, 100*ms, 0.25, 0.25), silence(100*ms, 8000))
	if got := detect(off, 8000, 160); got != "9" {
		t.Errorf("1.5%% off nominal: detected %q, want \"9\"", got)
	}
}

func TestDTMFIgnoresOtherSounds(t *testing.T) {
	const rate = 8000
	for _, tc := range []struct {
		name string
		pcm  []int16
	}{
		{"1 kHz tone", Sine(rate, 1000, 2*time.Second, 0.5)},
		{"697 Hz only", Sine(rate, 697, 2*time.Second, 0.5)},
		{"1209 Hz only", Sine(rate, 1209, 2*time.Second, 0.5)},
		{"697 Hz and 770 Hz (same group)", twoTone(rate, 697, 770, 2*time.Second, 0.25, 0.25)},
		{"white noise", noise(2*rate, 0.5, 1)},
		{"speech-like", speechLike(20*rate, rate, 1)},
		{"music-like", musicLike(10*rate, rate)},
		{"dial tone 350+440 Hz", twoTone(rate, 350, 440, 2*time.Second, 0.25, 0.25)},
	} {
		if got := detect(tc.pcm, rate, 160); got != "" {
			t.Errorf("%s: detected %q", tc.name, got)
		}
	}
}

// speechLike returns n samples of a crude speech imitation: syllables of
// 100–300 ms, voiced ones made of the harmonics of a gliding 90–250 Hz
// pitch shaped by two moving formants, unvoiced ones of noise, with pauses.
func speechLike(n, sampleRate int, seed uint64) []int16 {
	rng := rand.New(rand.NewPCG(seed, 2))
	out := make([]int16, 0, n)
	var phases [40]float64
	for len(out) < n {
		dur := int((0.1 + 0.2*rng.Float64()) * float64(sampleRate))
		voiced := rng.Float64() < 0.75
		f0a, f0b := 90+160*rng.Float64(), 90+160*rng.Float64()
		f1a, f1b := 300+600*rng.Float64(), 300+600*rng.Float64()
		f2a, f2b := 900+1600*rng.Float64(), 900+1600*rng.Float64()
		for i := range dur {
			x := float64(i) / float64(dur)
			env := math.Sin(math.Pi * x)
			var v float64
			if voiced {
				f0 := f0a + (f0b-f0a)*x
				f1 := f1a + (f1b-f1a)*x
				f2 := f2a + (f2b-f2a)*x
				for k := 1; k <= len(phases) && float64(k)*f0 < 3500; k++ {
					f := float64(k) * f0
					g := 1/(1+sq((f-f1)/90)) + 0.5/(1+sq((f-f2)/120)) + 0.02
					phases[k-1] += 2 * math.Pi * f / float64(sampleRate)
					v += g / math.Sqrt(float64(k)) * math.Sin(phases[k-1])
				}
				v *= 0.15
			} else {
				v = 0.1 * (2*rng.Float64() - 1)
			}
			out = append(out, int16(math.Round(fullScale*env*v)))
		}
		out = append(out, make([]int16, int(0.05*rng.Float64()*float64(sampleRate)))...)
	}
	return out[:n]
}

func sq(x float64) float64 { return x * x }

// musicLike returns n samples of chords of harmonic-rich notes, changing
// every 250 ms, with notes near DTMF frequencies among them.
func musicLike(n, sampleRate int) []int16 {
	chords := [][]float64{
		{220, 277.2, 329.6}, {349.2, 440, 523.3}, {392, 493.9, 587.3}, {698.5, 880, 1046.5},
		{659.3, 830.6, 987.8}, {293.7, 370, 440}, {784, 987.8, 1174.7}, {932.3, 1174.7, 1396.9},
	}
	out := make([]int16, n)
	seg := sampleRate / 4
	for i := range out {
		c := chords[(i/seg)%len(chords)]
		t := float64(i) / float64(sampleRate)
		attack := math.Exp(-float64(i%seg) / float64(sampleRate) * 4)
		var v float64
		for _, f := range c {
			for h := 1; h <= 4 && float64(h)*f < float64(sampleRate)/2; h++ {
				v += math.Sin(2*math.Pi*f*float64(h)*t) / float64(h*h)
			}
		}
		out[i] = int16(math.Round(fullScale * 0.15 * attack * v))
	}
	return out
}

func TestGenerateDTMF(t *testing.T) {
	pcm := GenerateDTMF(8000, "1,d", 50*ms, 30*ms, 0.25)
	if len(pcm) != 3*640 {
		t.Fatalf("len %d, want %d", len(pcm), 3*640)
	}
	one := pcm[:400]
	if l := LevelDB(one, 8000, 697); math.Abs(l+12) > 0.5 {
		t.Errorf("697 Hz at %.1f dB, want -12", l)
	}
	if l := LevelDB(one, 8000, 1209); math.Abs(l+12) > 0.5 {
		t.Errorf("1209 Hz at %.1f dB, want -12", l)
	}
	for i, v := range pcm[400:1280] {
		if v != 0 {
			t.Fatalf("sample %d of gap and pause is %d", 400+i, v)
		}
	}
	if !HasTone(pcm[1280:1680], 8000, 941) || !HasTone(pcm[1280:1680], 8000, 1633) {
		t.Error("'d' is not 941+1633 Hz")
	}
	if GenerateDTMF(0, "1", 50*ms, 50*ms, 0.25) != nil {
		t.Error("non-positive rate did not give nil")
	}
	loud := GenerateDTMF(8000, "1", 50*ms, 0, 1)
	if slicesMax(loud) != math.MaxInt16 {
		t.Error("full-amplitude DTMF does not clip at full scale")
	}
	if got := detect(GenerateDTMF(3000, "1", 50*ms, 50*ms, 0.25), 3000, 160); got != "" {
		t.Errorf("3 kHz detector found %q", got)
	}
}

func slicesMax(s []int16) int16 {
	m := int16(math.MinInt16)
	for _, v := range s {
		m = max(m, v)
	}
	return m
}

func TestDTMFDetectorReset(t *testing.T) {
	d := NewDTMFDetector(8000)
	pcm := GenerateDTMF(8000, "8", 100*ms, 0, 0.25)
	if got := string(d.Write(pcm)); got != "8" {
		t.Fatalf("detected %q", got)
	}
	// Without Reset, the same key continuing is the same press.
	if got := string(d.Write(pcm)); got != "" {
		t.Fatalf("continued press detected again: %q", got)
	}
	d.Reset()
	if got := string(d.Write(pcm)); got != "8" {
		t.Errorf("after Reset detected %q", got)
	}
}

func FuzzDTMFDetector(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3}, uint16(8000))
	f.Add(func() []byte {
		var b []byte
		for _, v := range GenerateDTMF(8000, "1#", 50*ms, 50*ms, 0.25) {
			b = append(b, byte(v), byte(uint16(v)>>8))
		}
		return b
	}(), uint16(8000))
	f.Fuzz(func(t *testing.T, data []byte, rate uint16) {
		d := NewDTMFDetector(int(rate))
		pcm := make([]int16, len(data)/2)
		for i := range pcm {
			pcm[i] = int16(uint16(data[2*i]) | uint16(data[2*i+1])<<8)
		}
		keys := d.Write(pcm)
		for _, k := range keys {
			if !strings.ContainsRune(dtmfKeys, k) {
				t.Fatalf("key %q", k)
			}
		}
		// A press needs five windows of about 12.75 ms spaced by half
		// of that.
		if w := d.win; w > 0 && len(keys) > 1+len(pcm)/(dtmfOnWindows*d.hop) {
			t.Fatalf("%d keys in %d samples", len(keys), len(pcm))
		}
	})
}

func BenchmarkDTMFDetector(b *testing.B) {
	pcm := GenerateDTMF(8000, "1234567890", 50*ms, 50*ms, 0.25)
	d := NewDTMFDetector(8000)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// One 20 ms frame per iteration.
		d.Write(pcm[i : i+160])
		if i += 160; i+160 > len(pcm) {
			i = 0
		}
	}
}
