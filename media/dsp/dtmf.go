package dsp

import (
	"math"
	"time"
)

// dtmfFreqs returns the DTMF frequencies in Hz (ITU-T Q.23): the low (row)
// group, then the high (column) group.
func dtmfFreqs() [8]float64 {
	return [8]float64{697, 770, 852, 941, 1209, 1336, 1477, 1633}
}

// dtmfKeys is the keypad, row by row.
const dtmfKeys = "123A456B789C*0#D"

// Detection thresholds of DTMFDetector.
const (
	// dtmfWindow is the analysis window. About 100 samples at 8 kHz
	// resolve frequencies 78 Hz apart; the closest DTMF pair (697 and
	// 770 Hz) is 73 Hz apart and leaks 22 dB into each other.
	dtmfWindow = 12750 * time.Microsecond
	// dtmfMinLevelDB is the least level of each tone, in dB relative to a
	// full-scale sine: about -33 dBm0 for G.711, below Q.24's -30 dBm0.
	dtmfMinLevelDB = -36
	// dtmfTwistDB bounds the level difference between the two tones.
	dtmfTwistDB = 8
	// dtmfRelPeakDB is how far each tone must exceed the other three of
	// its group.
	dtmfRelPeakDB = 8
	// dtmfPurity is the least share of a window's energy the two tones
	// must carry. It is low enough for windows that a key covers only in
	// part, which keeps the timing of a press exact.
	dtmfPurity = 0.6
	// dtmfPressPurity is the least mean share over the windows of a press.
	// Speech and music spread their energy over many frequencies: a
	// voiced sound whose harmonics happen to sit on a key's frequencies
	// still leaves a quarter of its energy elsewhere. DTMF with white noise
	// 10 dB below it keeps 90%; averaging over the press keeps the noise
	// in single windows from breaking it.
	dtmfPressPurity = 0.8
	// dtmfOnWindows consecutive windows with the same key make a key
	// press. The windows span 38 ms: tones of 40 ms or more are always
	// detected, tones of 30 ms or less never (Q.24 asks for 40 and 20).
	dtmfOnWindows = 5
	// dtmfOffWindows consecutive windows without the key let the same key
	// count again: gaps of 35 ms or more always do, gaps of 25 ms or less
	// never.
	dtmfOffWindows = 6
)

// DTMFDetector finds DTMF key presses (ITU-T Q.23/Q.24) in mono PCM: the
// in-band digits 0–9, *, #, A–D that a caller sends when no RFC 4733
// telephone-event was negotiated.
//
// It measures the eight DTMF frequencies with the Goertzel algorithm over
// 12.75 ms windows that overlap by half. A window holds a key when the
// strongest tone of each group is at least -36 dB relative to full scale,
// the two are within 8 dB of each other (twist), each exceeds the other
// tones of its group by 8 dB, and together they carry 60% of the window's
// energy. A key is reported once, when it has held for five consecutive
// windows (about 40 ms) in which its tones carry 80% of the energy on
// average; this share is what keeps speech, music and noise from
// triggering it, while noise 10 dB below the key does not stop it. The same
// key is reported again only after six windows (about 40 ms) without it,
// so a long press is one event and a short dropout inside a press is none.
//
// A DTMFDetector keeps state between calls and is not safe for concurrent
// use.
type DTMFDetector struct {
	win, hop int
	coeff    [8]float64
	minP     float64 // least |X|² of a tone (dtmfMinLevelDB)
	twist    float64 // dtmfTwistDB as a power ratio
	relPeak  float64 // dtmfRelPeakDB as a power ratio
	buf      []float64
	fill     int
	cand     byte                   // key seen in the latest windows, 0 for none
	run      int                    // consecutive windows with cand
	purity   [dtmfOnWindows]float64 // of the latest windows, by index run%len
	last     byte                   // key reported last, 0 once it has been absent long enough
	gap      int                    // consecutive windows without last
}

// NewDTMFDetector returns a detector for PCM at sampleRate Hz. A rate too
// low to carry the 1633 Hz tone (below 4000 Hz) yields a detector that
// never reports a key.
func NewDTMFDetector(sampleRate int) *DTMFDetector {
	d := &DTMFDetector{}
	if sampleRate < 4000 {
		return d
	}
	d.win = int(math.Round(float64(sampleRate) * dtmfWindow.Seconds()))
	d.hop = d.win / 2
	d.buf = make([]float64, d.win)
	for i, f := range dtmfFreqs() {
		d.coeff[i] = 2 * math.Cos(2*math.Pi*f/float64(sampleRate))
	}
	// A full-scale sine filling the window gives |X|² = (32767·n/2)².
	full := float64(d.win) * fullScale / 2
	d.minP = full * full * math.Pow(10, dtmfMinLevelDB/10.0)
	d.twist = math.Pow(10, dtmfTwistDB/10.0)
	d.relPeak = math.Pow(10, dtmfRelPeakDB/10.0)
	return d
}

// Write analyses pcm, which continues the samples of earlier calls, and
// returns the keys whose presses were recognised in it, in order, or nil.
// A press is reported about 40 ms after it starts.
func (d *DTMFDetector) Write(pcm []int16) []rune {
	if d.win == 0 {
		return nil
	}
	var keys []rune
	for len(pcm) > 0 {
		n := min(len(pcm), d.win-d.fill)
		for i, v := range pcm[:n] {
			d.buf[d.fill+i] = float64(v)
		}
		d.fill += n
		pcm = pcm[n:]
		if d.fill < d.win {
			break
		}
		if k := d.debounce(d.classify()); k != 0 {
			keys = append(keys, rune(k))
		}
		copy(d.buf, d.buf[d.hop:])
		d.fill = d.win - d.hop
	}
	return keys
}

// Reset forgets the samples and key presses seen so far.
func (d *DTMFDetector) Reset() {
	d.fill, d.cand, d.run, d.last, d.gap = 0, 0, 0, 0, 0
}

// classify returns the key in the current window, or 0, and the share of
// the window's energy its two tones carry.
func (d *DTMFDetector) classify() (key byte, purity float64) {
	var s1, s2 [8]float64
	var energy float64
	for _, x := range d.buf {
		energy += x * x
		for i := range s1 {
			s1[i], s2[i] = x+d.coeff[i]*s1[i]-s2[i], s1[i]
		}
	}
	if energy == 0 {
		return 0, 0
	}
	// p[i] is |X(f_i)|², the squared DFT magnitude at f_i. A sine of peak
	// a at f_i gives (a·n/2)², and an energy of 2·p[i]/n.
	var p [8]float64
	for i := range p {
		p[i] = s1[i]*s1[i] + s2[i]*s2[i] - d.coeff[i]*s1[i]*s2[i]
	}
	r, c := peak(p[:4]), 4+peak(p[4:])
	purity = 2 * (p[r] + p[c]) / float64(d.win) / energy
	switch {
	case p[r] < d.minP || p[c] < d.minP:
		return 0, 0
	case p[r] > d.twist*p[c] || p[c] > d.twist*p[r]:
		return 0, 0
	case purity < dtmfPurity:
		return 0, 0
	}
	for i := range 4 {
		if i != r && d.relPeak*p[i] > p[r] || i+4 != c && d.relPeak*p[i+4] > p[c] {
			return 0, 0
		}
	}
	return dtmfKeys[r*4+c-4], purity
}

// peak returns the index of the largest of v.
func peak(v []float64) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// debounce turns the per-window keys into key presses: it returns a key
// when it starts a press, 0 otherwise.
func (d *DTMFDetector) debounce(k byte, purity float64) byte {
	if k == d.cand {
		d.run++
	} else {
		d.cand, d.run = k, 1
	}
	d.purity[d.run%dtmfOnWindows] = purity
	if k == d.last {
		d.gap = 0
	} else if d.gap++; d.gap >= dtmfOffWindows {
		d.last = 0
	}
	if d.cand == 0 || d.run < dtmfOnWindows || d.cand == d.last {
		return 0
	}
	var sum float64
	for _, p := range d.purity {
		sum += p
	}
	if sum < dtmfPressPurity*dtmfOnWindows {
		return 0
	}
	d.last, d.gap = d.cand, 0
	return d.cand
}

// GenerateDTMF returns the DTMF tones for digits at sampleRate Hz (the
// argument order of [Sine]: rate, what, how long, how loud): each key
// sounds for toneDur and is followed by gapDur of silence. amplitude is the
// peak of each of the two tones as a fraction of full scale, so the sum
// peaks at up to twice it (clipped at full scale); 0.25, about -12 dB per
// tone, is typical. digits may contain 0–9, *, #, A–D and a–d; any other
// character, such as a comma, becomes a pause of toneDur+gapDur. It returns
// nil for a non-positive sampleRate.
func GenerateDTMF(sampleRate int, digits string, toneDur, gapDur time.Duration, amplitude float64) []int16 {
	if sampleRate <= 0 {
		return nil
	}
	tn, gn := samplesIn(sampleRate, toneDur), samplesIn(sampleRate, gapDur)
	out := make([]int16, 0, len(digits)*(tn+gn))
	for _, ch := range digits {
		if 'a' <= ch && ch <= 'd' {
			ch -= 'a' - 'A'
		}
		k := -1
		for i := range len(dtmfKeys) {
			if rune(dtmfKeys[i]) == ch {
				k = i
			}
		}
		if k < 0 {
			out = append(out, make([]int16, tn+gn)...)
			continue
		}
		f := dtmfFreqs()
		wr := 2 * math.Pi * f[k/4] / float64(sampleRate)
		wc := 2 * math.Pi * f[4+k%4] / float64(sampleRate)
		a := amplitude * fullScale
		for i := range tn {
			v := math.Round(a * (math.Sin(wr*float64(i)) + math.Sin(wc*float64(i))))
			out = append(out, int16(max(min(v, math.MaxInt16), -math.MaxInt16)))
		}
		out = append(out, make([]int16, gn)...)
	}
	return out
}
