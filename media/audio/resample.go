package audio

import (
	"fmt"
	"math"
	"slices"
)

// Resampler filter design. The stopband starts at the lower of the two
// Nyquist frequencies, so nothing that could alias or image survives, and
// the transition band below it is 16% of that Nyquist frequency wide: for
// 8 kHz output the passband is flat to about 3.36 kHz, above the 3.4 kHz
// telephone band, and everything from 4 kHz up is attenuated by about
// 70 dB.
const (
	resampleStopDB     = 70.0
	resampleTransition = 0.16
	// resampleMaxHalf caps the filter half-length in input samples. Only
	// ratios beyond about 40:1 reach it; their transition band is then
	// widened (downwards, keeping the stopband edge) to fit.
	resampleMaxHalf = 2048
	// resampleMaxPhases caps the number of polyphase sub-filters stored.
	// Ratios needing more (such as 44100:8001) use the nearest of that many
	// evenly spaced phases, a timing error of at most 1/1024 input sample.
	resampleMaxPhases = 512
	// resampleMaxCoefs caps phases × taps.
	resampleMaxCoefs = 1 << 20
	// resampleMaxRate is the largest rate NewResampler accepts.
	resampleMaxRate = 1 << 24
)

// Resampler converts mono int16 PCM from one rate to another with a
// windowed-sinc polyphase FIR anti-aliasing filter. Not safe for concurrent
// use.
//
// The filter is a Kaiser-windowed sinc whose stopband begins at the lower
// Nyquist frequency of the two rates with about 70 dB of attenuation; for
// conversion to 8 kHz the passband is flat to about 3.36 kHz. The ratio of
// the rates is reduced to lowest terms L/M and output sample n is computed
// at input position n·M/L from a precomputed sub-filter for its fractional
// part, so output is time-aligned with input (no delay). Consequently the
// last few milliseconds of output (half the filter length, in input
// samples) depend on input that has not arrived yet; Process withholds them
// until it has, and Flush emits them by assuming silence follows.
type Resampler struct {
	srcRate, dstRate int
	l, m             int // reduced ratio: l outputs per m inputs
	phases           int // sub-filters stored (l, or fewer when quantised)
	half             int // filter half-length H in input samples
	taps             int // 2H coefficients per sub-filter
	coef             []float32

	// hist holds input samples; hist[0] is absolute input index start.
	// Before the first input it holds H-1 zeros standing for the silence
	// before the stream.
	hist  []float32
	start int64
	// The next output is at input position pos + frac/l.
	pos  int64
	frac int
	// in counts input samples since creation or the last Flush or Reset.
	in int64
}

// NewResampler returns a Resampler from srcRate to dstRate, both in Hz and
// between 1 and 16777216. Equal rates give a Resampler that copies its
// input.
func NewResampler(srcRate, dstRate int) (*Resampler, error) {
	if srcRate <= 0 || srcRate > resampleMaxRate || dstRate <= 0 || dstRate > resampleMaxRate {
		return nil, fmt.Errorf("audio: resample: unsupported rates %d Hz to %d Hz", srcRate, dstRate)
	}
	g := gcd(srcRate, dstRate)
	r := &Resampler{srcRate: srcRate, dstRate: dstRate, l: dstRate / g, m: srcRate / g}
	if srcRate != dstRate {
		r.design()
	}
	r.Reset()
	return r, nil
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// design computes the polyphase coefficient table.
func (r *Resampler) design() {
	src := float64(r.srcRate)
	stop := float64(min(r.srcRate, r.dstRate)) / 2 // Hz
	trans := resampleTransition * stop             // Hz
	// Kaiser's estimate of the length for the wanted attenuation and
	// transition width (normalised to the input rate, where the filter
	// runs).
	n := (resampleStopDB - 7.95) / (2.285 * 2 * math.Pi * trans / src)
	half := int(math.Ceil(n / 2))
	if half > resampleMaxHalf {
		half = resampleMaxHalf
		trans = (resampleStopDB - 7.95) / (2.285 * 2 * math.Pi * float64(2*half)) * src
		trans = min(trans, stop) // keep the cutoff positive
	}
	half = max(half, 2)
	cutoff := (stop - trans/2) / src // cycles per input sample
	beta := 0.1102 * (resampleStopDB - 8.7)

	r.half = half
	r.taps = 2 * half
	r.phases = min(r.l, resampleMaxPhases, resampleMaxCoefs/r.taps)
	r.coef = make([]float32, r.phases*r.taps)
	i0beta := besselI0(beta)
	row := make([]float64, r.taps)
	for p := range r.phases {
		phi := float64(p) / float64(r.phases) // fractional position in [0, 1)
		var sum float64
		for k := range row {
			t := float64(k-half+1) - phi // tap offset in input samples, in (-H, H]
			x := t / float64(half)
			w := 0.0
			if x*x < 1 {
				w = besselI0(beta*math.Sqrt(1-x*x)) / i0beta
			}
			row[k] = 2 * cutoff * sinc(2*cutoff*t) * w
			sum += row[k]
		}
		// Normalise each sub-filter to unit DC gain so a constant input
		// gives a constant output whatever the phase.
		c := r.coef[p*r.taps : (p+1)*r.taps]
		for k, v := range row {
			c[k] = float32(v / sum)
		}
	}
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// besselI0 is the zeroth-order modified Bessel function of the first kind,
// summed from its power series.
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	q := x * x / 4
	for k := 1; k < 500; k++ {
		term *= q / float64(k*k)
		sum += term
		if term < sum*1e-16 {
			break
		}
	}
	return sum
}

// Reset discards all buffered input and withheld output, returning r to
// its state after NewResampler.
func (r *Resampler) Reset() {
	r.pos, r.frac, r.in = 0, 0, 0
	if r.coef == nil {
		r.hist, r.start = r.hist[:0], 0
		return
	}
	r.hist = slices.Grow(r.hist[:0], r.half-1)[:r.half-1]
	clear(r.hist)
	r.start = -int64(r.half - 1)
}

// Process appends to dst the output that src makes computable and returns
// the extended slice. It keeps state across calls, so feeding a stream in
// chunks of any sizes produces exactly the samples one call with the whole
// stream would.
func (r *Resampler) Process(dst []int16, src []int16) []int16 {
	r.in += int64(len(src))
	if r.coef == nil {
		return append(dst, src...)
	}
	n := len(r.hist)
	r.hist = slices.Grow(r.hist, len(src))[:n+len(src)]
	for i, s := range src {
		r.hist[n+i] = float32(s)
	}
	dst = r.run(dst, math.MaxInt64)
	// Drop input no future output needs: everything before the first tap
	// of the next output.
	if drop := int(r.pos - r.start - int64(r.half) + 1); drop > 0 {
		drop = min(drop, len(r.hist))
		r.hist = r.hist[:copy(r.hist, r.hist[drop:])]
		r.start += int64(drop)
	}
	return dst
}

// Flush appends the output still withheld, computed as if silence followed
// the input so far, then resets r for a new stream. After Flush the total
// output since the stream began is ceil(inputs × dstRate / srcRate)
// samples.
func (r *Resampler) Flush(dst []int16) []int16 {
	if r.coef != nil {
		n := len(r.hist)
		r.hist = slices.Grow(r.hist, r.half+1)[:n+r.half+1]
		clear(r.hist[n:])
		dst = r.run(dst, r.in)
	}
	r.Reset()
	return dst
}

// run computes outputs while their input is buffered and their position is
// before limit.
func (r *Resampler) run(dst []int16, limit int64) []int16 {
	h := int64(r.half)
	exact := r.phases == r.l
	for r.pos < limit {
		pos, phase := r.pos, r.frac
		if !exact {
			// Nearest stored phase; rounding up to a whole sample moves to
			// phase 0 of the next one.
			phase = int((int64(r.frac)*int64(r.phases) + int64(r.l/2)) / int64(r.l))
			if phase == r.phases {
				phase, pos = 0, pos+1
			}
		}
		first := pos - r.start - h + 1 // index in hist of the first tap
		if first+int64(r.taps) > int64(len(r.hist)) {
			break
		}
		c := r.coef[phase*r.taps : (phase+1)*r.taps]
		dst = append(dst, roundToInt16(float64(dot(c, r.hist[first:]))))
		r.frac += r.m
		r.pos += int64(r.frac / r.l)
		r.frac %= r.l
	}
	return dst
}

// dot returns the dot product of c and the first len(c) elements of x.
func dot(c, x []float32) float32 {
	x = x[:len(c)]
	var s0, s1, s2, s3 float32
	for len(c) >= 4 {
		cc, xx := c[:4:4], x[:4:4]
		s0 += cc[0] * xx[0]
		s1 += cc[1] * xx[1]
		s2 += cc[2] * xx[2]
		s3 += cc[3] * xx[3]
		c, x = c[4:], x[4:]
	}
	for i := range c {
		s0 += c[i] * x[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// DownmixStereo appends to dst the mono average of each left/right pair in
// interleaved and returns the extended slice. A trailing unpaired sample is
// ignored.
func DownmixStereo(dst []int16, interleaved []int16) []int16 {
	n := len(interleaved) / 2
	start := len(dst)
	dst = slices.Grow(dst, n)[:start+n]
	out := dst[start:]
	for i := range out {
		out[i] = int16((int32(interleaved[2*i]) + int32(interleaved[2*i+1])) / 2)
	}
	return dst
}

// FrameResampler resamples a stream of fixed-length frames, as a relay or
// a mixer converts 20 ms packets between 8 and 16 kHz: each call returns
// exactly len(frame)·dstRate/srcRate samples. The [Resampler] withholds
// the last few milliseconds of its output until the input that follows
// arrives; FrameResampler pads the start of the stream with that much
// silence instead, so that no frame is short, at the cost of that delay
// (under 2 ms between 8 and 16 kHz). Not safe for concurrent use.
type FrameResampler struct {
	rs        *Resampler
	src, dst  int
	pend, out []int16
}

// NewFrameResampler returns a FrameResampler from srcRate to dstRate Hz
// (see [NewResampler]).
func NewFrameResampler(srcRate, dstRate int) (*FrameResampler, error) {
	rs, err := NewResampler(srcRate, dstRate)
	if err != nil {
		return nil, err
	}
	return &FrameResampler{rs: rs, src: srcRate, dst: dstRate}, nil
}

// Rates returns the source and destination rates.
func (f *FrameResampler) Rates() (src, dst int) { return f.src, f.dst }

// Frame returns frame resampled, in storage the FrameResampler reuses on
// the next call.
func (f *FrameResampler) Frame(frame []int16) []int16 {
	n := int(int64(len(frame)) * int64(f.dst) / int64(f.src))
	f.pend = f.rs.Process(f.pend, frame)
	if len(f.pend) < n {
		f.pend = append(make([]int16, n-len(f.pend), 2*n), f.pend...)
	}
	f.out = append(f.out[:0], f.pend[:n]...)
	f.pend = f.pend[:copy(f.pend, f.pend[n:])]
	return f.out
}

// CopyFrom gives f the stream state of src, which must convert between the
// same rates: f's next frame continues from the input src has taken so
// far, as if f had resampled src's stream all along. A mixer uses it when
// a listener leaves a shared resampled stream for one of its own, so the
// filter's history holds what the listener last heard and the switch
// makes no click. It reports false, and does nothing, for other rates. It
// allocates only to grow f's buffers.
func (f *FrameResampler) CopyFrom(src *FrameResampler) bool {
	if f.src != src.src || f.dst != src.dst {
		return false
	}
	r, s := f.rs, src.rs
	r.hist = append(r.hist[:0], s.hist...)
	r.start, r.pos, r.frac, r.in = s.start, s.pos, s.frac, s.in
	f.pend = append(f.pend[:0], src.pend...)
	return true
}
