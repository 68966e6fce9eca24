package mix

import "math"

// limiter keeps one mix within full scale without hard clipping. Two
// talkers at −9 dBFS (RMS) already sum to full-scale peaks; clamping
// those samples flattens the waveform, and a flattened sum of tones puts
// intermodulation products (2f1−f2, f2−f1, …) into the mix — for a
// listener, often right in the band of its own voice. The limiter scales
// the frame instead: its gain drops at once to what the frame's loudest
// sample allows (so no sample passes the ceiling) and comes back up
// slowly, about 6 dB per 250 ms, ramped sample by sample, so that it
// neither pumps nor clicks. A gain that changes that slowly spreads no
// energy far from the tones.
//
// It is written here because it is a dozen lines on the mixer's own int32
// sums; the DSP libraries the module proxy serves do not offer a
// frame-based peak limiter on integer PCM.
type limiter struct {
	gain float64 // at the end of the last frame; 0 means 1 (unity)
}

const (
	// limitCeiling is the highest sample the limiter lets through, about
	// −0.9 dBFS.
	limitCeiling = 0.9 * math.MaxInt16
	// limitRelease is the gain's rise per 20 ms frame: 10^(6/20/12.5),
	// 6 dB in 250 ms.
	limitRelease = 1.0568
)

// active reports whether a frame whose loudest sample is peak needs the
// limiter: it is louder than the ceiling, or the gain is still coming
// back up from an earlier frame. Otherwise the plainly clamped frame
// (which then clamps nothing) is the limited one: the common case costs
// one comparison per sample, in the pass that sums the frame.
func (l *limiter) active(peak int32) bool {
	return float64(peak) > limitCeiling || (l.gain != 0 && l.gain != 1)
}

// apply writes src, limited, into dst (len(dst) >= len(src)) and returns
// dst[:len(src)]. It allocates nothing.
func (l *limiter) apply(dst []int16, src []int32) []int16 {
	dst = dst[:len(src)]
	var peak int32
	for i, v := range src {
		peak = max(peak, v, -v)
		dst[i] = clamp16(v)
	}
	if !l.active(peak) {
		return dst
	}
	return l.scale(dst, src, peak)
}

// scale writes src into dst with the limiter's gain: it drops at once to
// what peak allows and rises by limitRelease over the frame, ramped
// sample by sample.
func (l *limiter) scale(dst []int16, src []int32, peak int32) []int16 {
	dst = dst[:len(src)]
	g0 := l.gain
	if g0 == 0 {
		g0 = 1
	}
	allowed := 1.0
	if float64(peak) > limitCeiling {
		allowed = limitCeiling / float64(peak)
	}
	g1 := min(1, g0*limitRelease, allowed) // release, but never above what this frame allows
	g0 = min(g0, allowed)                  // attack: at once
	// The ramp runs in 16.16 fixed point: a float multiply per sample
	// made a conference of 100 talkers three times slower.
	const one = 1 << 16
	q, q1 := int64(g0*one), int64(g1*one)
	dq := (q1 - q) / int64(len(src))
	for i, v := range src {
		q += dq
		dst[i] = clamp16(int32((int64(v)*q + one/2) >> 16))
	}
	l.gain = g1
	return dst
}
