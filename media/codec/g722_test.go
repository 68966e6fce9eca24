package codec

import (
	"bytes"
	"math"
	"slices"
	"testing"
)

// g722Tone returns n samples of a sine of freq Hz at 16 kHz with the given
// peak amplitude.
func g722Tone(freq float64, n int, amp float64) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(math.Round(amp * math.Sin(2*math.Pi*freq*float64(i)/16000)))
	}
	return out
}

// g722Chirp returns n samples sweeping from 50 Hz to 7500 Hz at 16 kHz,
// with a slowly varying amplitude, to exercise the whole band and the
// scale factor adaptation.
func g722Chirp(n int) []int16 {
	out := make([]int16, n)
	phase := 0.0
	for i := range out {
		t := float64(i) / float64(n)
		f := 50 + 7450*t
		phase += 2 * math.Pi * f / 16000
		amp := 2000 + 14000*(0.5+0.5*math.Sin(2*math.Pi*3*t))
		out[i] = int16(amp * math.Sin(phase))
	}
	return out
}

// g722Delay finds the lag in [0, maxLag] at which got best matches want
// (the largest normalised cross-correlation of want[i] with got[i+lag]).
func g722Delay(want, got []int16, maxLag int) int {
	best, bestLag := math.Inf(-1), 0
	for lag := 0; lag <= maxLag; lag++ {
		var xy, yy float64
		for i := 0; i+lag < len(got) && i < len(want); i++ {
			x, y := float64(want[i]), float64(got[i+lag])
			xy += x * y
			yy += y * y
		}
		if yy == 0 {
			continue
		}
		if c := xy / math.Sqrt(yy); c > best {
			best, bestLag = c, lag
		}
	}
	return bestLag
}

// g722SNR returns the signal-to-noise ratio in dB of got against want, got
// delayed by lag samples, over want[skip:] (the first samples are spent
// while the ADPCM scale factors adapt from their initial values).
func g722SNR(want, got []int16, lag, skip int) float64 {
	var sig, noise float64
	for i := skip; i < len(want) && i+lag < len(got); i++ {
		x := float64(want[i])
		e := float64(got[i+lag]) - x
		sig += x * x
		noise += e * e
	}
	if noise == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(sig/noise)
}

// The QMF pair is two 24-tap linear-phase filters, 23 samples of group
// delay together at 16 kHz. The decoder emits each pair of output samples
// as soon as the octet arrives, while the encoder could only form that
// octet once the second sample of its input pair had arrived, so in
// sample indices output[n] corresponds to input[n-22]: an impulse at
// input index 100 peaks at output index 122. TestG722RoundTripChirp checks
// that cross-correlation finds this delay on a signal without periodic
// ambiguity; the tone tests, where a pure sine correlates equally well a
// period later, measure at this known delay.
const g722QMFDelay = 22

// Minimum SNRs of the round trip of a steady tone at a peak of 10000
// (−10 dBFS). G.722 at 64 kbit/s spends 6 bits per 8 kHz sample on the
// lower band (0–4 kHz) and 2 on the higher (4–8 kHz). A tone in the lower
// band is quantised by the 6-bit ADPCM, about 6 dB per bit plus the
// predictor's gain on a predictable signal; this coder measures 62 dB at
// 300 Hz, 47 dB at 1 kHz and 41 dB at 3 kHz (near the QMF transition
// band). A tone in the higher band gets only the 2-bit quantiser and
// measures 27 dB at 6 kHz and 22 dB at 5 kHz. The thresholds sit about
// 5 dB under the worst measurement of each band: far above what a wrong
// table entry, a sign error or a misaligned QMF gives (around 0 dB), and
// not so tight that a harmless change of test signal trips them.
const (
	g722LowBandMinSNR  = 35 // 300 Hz, 1 kHz, 3 kHz
	g722HighBandMinSNR = 17 // 5 kHz, 6 kHz
)

func TestG722RoundTripTones(t *testing.T) {
	for _, tc := range []struct {
		freq   float64
		minSNR float64
	}{
		{1000, g722LowBandMinSNR},
		{6000, g722HighBandMinSNR},
		{300, g722LowBandMinSNR},
		{3000, g722LowBandMinSNR},
		{5000, g722HighBandMinSNR},
	} {
		in := g722Tone(tc.freq, 16000, 10000) // 1 s
		c := G722()
		enc := NewEncoder(c)
		dec := NewDecoder(c)
		payload := enc.Encode(nil, in)
		if len(payload) != len(in)/2 {
			t.Fatalf("%v Hz: %d samples encoded to %d octets, want %d", tc.freq, len(in), len(payload), len(in)/2)
		}
		out := dec.Decode(nil, payload)
		if len(out) != len(in) {
			t.Fatalf("%v Hz: decoded %d samples, want %d", tc.freq, len(out), len(in))
		}
		snr := g722SNR(in, out, g722QMFDelay, 1600)
		t.Logf("%5v Hz: SNR %.1f dB", tc.freq, snr)
		if snr < tc.minSNR {
			t.Errorf("%v Hz: SNR %.1f dB, want at least %v dB", tc.freq, snr, tc.minSNR)
		}
	}
}

// A 6 kHz tone is above the 4 kHz Nyquist limit of narrowband telephony:
// through G.711 at 8 kHz it cannot exist at all. Through G.722 it must
// come out at 6 kHz with most of its energy, not folded to 2 kHz.
func TestG722SixKilohertzSurvives(t *testing.T) {
	in := g722Tone(6000, 16000, 8000)
	c := G722()
	out := NewDecoder(c).Decode(nil, NewEncoder(c).Encode(nil, in))
	tail := out[1600:]
	p6 := goertzel16k(tail, 6000)
	p2 := goertzel16k(tail, 2000)
	pin := goertzel16k(in[1600-g722QMFDelay:len(in)-g722QMFDelay], 6000)
	t.Logf("6 kHz power out/in %.3f, 2 kHz alias/6 kHz %.5f", p6/pin, p2/p6)
	if p6 < 0.5*pin {
		t.Errorf("6 kHz power out is %.3f of in, want at least 0.5", p6/pin)
	}
	if p2 > 0.01*p6 {
		t.Errorf("2 kHz alias power is %.4f of the 6 kHz power, want under 0.01", p2/p6)
	}
}

// goertzel16k returns the power of x at freq Hz, sampled at 16 kHz.
func goertzel16k(x []int16, freq float64) float64 {
	k := 2 * math.Cos(2*math.Pi*freq/16000)
	var s1, s2 float64
	for _, v := range x {
		s1, s2 = float64(v)+k*s1-s2, s1
	}
	return (s1*s1 + s2*s2 - k*s1*s2) / float64(len(x)*len(x))
}

func TestG722Metadata(t *testing.T) {
	c := G722()
	if c.Name() != "G722" || c.PayloadType() != 9 || c.ClockRate() != 8000 || c.SampleRate() != 16000 {
		t.Fatalf("G722: %s pt=%d clock=%d rate=%d", c.Name(), c.PayloadType(), c.ClockRate(), c.SampleRate())
	}
	if _, ok := c.(StreamCodec); !ok {
		t.Fatal("G722 does not implement StreamCodec")
	}
	for _, name := range []string{"G722", "g722"} {
		if got, ok := ByName(name); !ok || got.Name() != "G722" {
			t.Errorf("ByName(%q) = %v, %v", name, got, ok)
		}
	}
	if n := testing.AllocsPerRun(10, func() { _ = G722() }); n != 0 {
		t.Errorf("G722() allocates %v times", n)
	}
}

// One 20 ms packet: 320 samples at 16 kHz, 160 octets, 160 RTP clock ticks.
func TestG722FrameSize(t *testing.T) {
	c := G722()
	frame := g722Tone(1000, 320, 5000)
	if got := len(NewEncoder(c).Encode(nil, frame)); got != 160 {
		t.Errorf("20 ms frame encoded to %d octets, want 160", got)
	}
	if got := len(c.Encode(nil, frame)); got != 160 {
		t.Errorf("stateless Encode of 20 ms: %d octets, want 160", got)
	}
	if got := len(c.Decode(nil, make([]byte, 160))); got != 320 {
		t.Errorf("stateless Decode of 160 octets: %d samples, want 320", got)
	}
}

// Encoding a stream packet by packet, with per-stream state, gives the
// same octets as encoding it in one call; likewise for decoding. Odd
// split points exercise the held-over sample.
func TestG722StreamingEqualsOneShot(t *testing.T) {
	c := G722()
	in := g722Chirp(16000)
	whole := c.Encode(nil, in)
	wholePCM := c.Decode(nil, whole)

	for _, step := range []int{320, 160, 7, 1} {
		enc := NewEncoder(c)
		var got []byte
		for i := 0; i < len(in); i += step {
			got = enc.Encode(got, in[i:min(i+step, len(in))])
		}
		if !bytes.Equal(got, whole) {
			t.Errorf("encoding in chunks of %d samples differs from one-shot encoding", step)
		}
	}
	for _, step := range []int{160, 13, 1} {
		dec := NewDecoder(c)
		var got []int16
		for i := 0; i < len(whole); i += step {
			got = dec.Decode(got, whole[i:min(i+step, len(whole))])
		}
		if !slices.Equal(got, wholePCM) {
			t.Errorf("decoding in chunks of %d octets differs from one-shot decoding", step)
		}
	}

	// The stateless methods restart the ADPCM state each call: coding the
	// second packet on its own differs from coding it in the stream.
	second := c.Encode(nil, in[320:640])
	if bytes.Equal(second, whole[160:320]) {
		t.Error("stateless Encode of the second packet equals the stream's; expected fresh state")
	}
}

// Chirp through the whole band, varying in level: the round trip stays
// close to the input.
func TestG722RoundTripChirp(t *testing.T) {
	c := G722()
	in := g722Chirp(32000)
	out := c.Decode(nil, c.Encode(nil, in))
	if lag := g722Delay(in, out, 64); lag != g722QMFDelay {
		t.Errorf("cross-correlation finds a delay of %d samples, want the QMF's %d", lag, g722QMFDelay)
	}
	snr := g722SNR(in, out, g722QMFDelay, 1600)
	t.Logf("chirp 50–7500 Hz: SNR %.1f dB", snr)
	// Measured 27 dB; the higher band's 2-bit quantiser dominates the error.
	if snr < 20 {
		t.Errorf("chirp SNR %.1f dB, want at least 20", snr)
	}
}

// Full-scale square waves and extreme inputs drive every saturation in the
// coder; the output must stay bounded and the coder must recover.
func TestG722Extremes(t *testing.T) {
	c := G722()
	in := make([]int16, 16000)
	for i := range in {
		switch {
		case i < 4000:
			if (i/8)%2 == 0 {
				in[i] = math.MaxInt16
			} else {
				in[i] = math.MinInt16
			}
		case i < 8000:
			in[i] = math.MinInt16
		default:
			in[i] = int16(10000 * math.Sin(2*math.Pi*1000*float64(i)/16000))
		}
	}
	out := c.Decode(nil, c.Encode(nil, in))
	snr := g722SNR(in[8000:], out[8000:], g722QMFDelay, 3200)
	t.Logf("1 kHz after saturation: SNR %.1f dB", snr)
	if snr < g722LowBandMinSNR {
		t.Errorf("1 kHz after saturation: SNR %.1f dB, want at least %v", snr, g722LowBandMinSNR)
	}
}

// The binary search of the lower-band quantiser gives the interval the
// recommendation's linear scan gives, for every scale factor the
// adaptation can reach and every difference magnitude.
func TestG722LowIntervalMatchesLinearScan(t *testing.T) {
	dets := map[int]bool{}
	for nb := 0; nb <= 18432; nb++ {
		dets[g722Scale(nb, 8)] = true
	}
	for det := range dets {
		// The interval changes only at the scaled decision levels, so the
		// magnitudes next to each level, and the extremes, cover every case.
		wds := []int{0, 32767}
		for _, q := range g722Q6[1:30] {
			level := (q * det) >> 12
			wds = append(wds, level-1, level, level+1)
		}
		for _, wd := range wds {
			want := 1
			for ; want < 30; want++ {
				if wd < (g722Q6[want]*det)>>12 {
					break
				}
			}
			if got := g722LowInterval(wd, det); got != want {
				t.Fatalf("det %d, wd %d: interval %d, linear scan gives %d", det, wd, got, want)
			}
		}
	}
}

func TestG722AppendsAndZeroAllocs(t *testing.T) {
	c := G722()
	enc, dec := NewEncoder(c), NewDecoder(c)
	frame := g722Tone(1000, 320, 5000)
	pre := []byte{1, 2, 3}
	got := enc.Encode(slices.Clone(pre), frame)
	if !bytes.Equal(got[:3], pre) || len(got) != 163 {
		t.Fatalf("Encode did not append: len %d", len(got))
	}
	pcm := dec.Decode([]int16{7}, got[3:])
	if pcm[0] != 7 || len(pcm) != 321 {
		t.Fatalf("Decode did not append: len %d", len(pcm))
	}
	buf := make([]byte, 0, 160)
	out := make([]int16, 0, 320)
	if n := testing.AllocsPerRun(100, func() { buf = enc.Encode(buf[:0], frame) }); n != 0 {
		t.Errorf("stream Encode allocates %v times per frame", n)
	}
	if n := testing.AllocsPerRun(100, func() { out = dec.Decode(out[:0], buf) }); n != 0 {
		t.Errorf("stream Decode allocates %v times per frame", n)
	}
	if n := testing.AllocsPerRun(100, func() { buf = c.Encode(buf[:0], frame) }); n != 0 {
		t.Errorf("stateless Encode allocates %v times per frame", n)
	}
	if n := testing.AllocsPerRun(100, func() { out = c.Decode(out[:0], buf) }); n != 0 {
		t.Errorf("stateless Decode allocates %v times per frame", n)
	}
}

func FuzzG722Decode(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x00})
	f.Add(bytes.Repeat([]byte{0xff}, 200))
	f.Add(bytes.Repeat([]byte{0x00, 0x3f, 0xc0, 0x7f}, 100))
	f.Add(G722().Encode(nil, g722Chirp(2000)))
	f.Fuzz(func(t *testing.T, payload []byte) {
		c := G722()
		if got := len(c.Decode(nil, payload)); got != 2*len(payload) {
			t.Fatalf("stateless Decode of %d octets gave %d samples", len(payload), got)
		}
		dec := NewDecoder(c)
		half := len(payload) / 2
		out := dec.Decode(nil, payload[:half])
		out = dec.Decode(out, payload[half:])
		if len(out) != 2*len(payload) {
			t.Fatalf("stream Decode of %d octets gave %d samples", len(payload), len(out))
		}
		if !slices.Equal(out, c.Decode(nil, payload)) {
			t.Fatal("stream decode in two parts differs from one-shot decode")
		}
	})
}

func BenchmarkG722Encode(b *testing.B) {
	enc := NewEncoder(G722())
	frame := g722Tone(1000, 320, 8000) // 20 ms
	dst := make([]byte, 0, 160)
	b.ReportAllocs()
	for b.Loop() {
		dst = enc.Encode(dst[:0], frame)
	}
}

func BenchmarkG722Decode(b *testing.B) {
	c := G722()
	payload := c.Encode(nil, g722Tone(1000, 320, 8000)) // 20 ms
	dec := NewDecoder(c)
	dst := make([]int16, 0, 320)
	b.ReportAllocs()
	for b.Loop() {
		dst = dec.Decode(dst[:0], payload)
	}
}

// BenchmarkG722TranscodePCMU measures the codec work of relaying one 20 ms
// G.722 packet to a G.711 µ-law leg: G.722 decode of 160 octets to 320
// samples, then PCMU encode of a 160-sample frame. Resampling 16 kHz to
// 8 kHz is not this package's job and is not included: the PCMU input is a
// 160-sample 8 kHz frame prepared beforehand, so the figure is the sum of
// the two codecs' costs per packet, not a complete transcoding path.
func BenchmarkG722TranscodePCMU(b *testing.B) {
	g := G722()
	payload := g.Encode(nil, g722Tone(1000, 320, 8000))
	narrow := make([]int16, 160)
	for i := range narrow {
		narrow[i] = int16(8000 * math.Sin(2*math.Pi*1000*float64(i)/8000))
	}
	dec := NewDecoder(g)
	enc := NewEncoder(PCMU())
	wide := make([]int16, 0, 320)
	out := make([]byte, 0, 160)
	b.ReportAllocs()
	for b.Loop() {
		wide = dec.Decode(wide[:0], payload)
		out = enc.Encode(out[:0], narrow)
	}
	_ = wide
}
