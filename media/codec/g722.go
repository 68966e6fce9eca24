package codec

import "slices"

// G.722 (ITU-T Recommendation G.722, 64 kbit/s mode 1) is sub-band ADPCM:
// a 24-tap quadrature mirror filter splits 16 kHz PCM into a lower and a
// higher band at 8 kHz each; the lower band is coded with 6-bit ADPCM, the
// higher with 2-bit ADPCM, and the two codes share one octet (higher band
// in the two top bits). Both bands use the recommendation's backward
// adaptive quantiser scale factor and pole-zero predictor (blocks 1L–6L and
// 1H–6H), so encoder and decoder carry state from one octet, and one
// packet, to the next.
//
// There is no well-kept pure-Go G.722 package on the module proxy, so this
// implementation is written here from the algorithm of the recommendation,
// in the recommendation's fixed-point arithmetic (16-bit saturating
// operations, arithmetic right shifts), so that it produces the same
// octets as the ITU reference coder.

// G722 returns the G.722 codec (static payload type 9) in its 64 kbit/s
// mode: one octet per two 16 kHz samples, 160 octets per 20 ms.
//
// As RFC 3551 specifies for historical reasons, its RTP clock rate (and SDP
// rate) is 8000 Hz although the audio is sampled at 16000 Hz; RTP
// timestamps advance by one per octet.
//
// The returned Codec also implements [StreamCodec]. Its own Encode and
// Decode start from fresh coder state on every call, as the [Codec]
// contract requires, which is right only for a payload that is a stream
// on its own; a continuous stream must use the coders from [NewEncoder]
// and [NewDecoder], whose ADPCM state carries across packets.
func G722() Codec { return g722Codec{} }

// g722Codec is empty so that storing it in a Codec interface value does not
// allocate.
type g722Codec struct{}

// Name returns "G722".
func (g722Codec) Name() string { return "G722" }

// PayloadType returns 9.
func (g722Codec) PayloadType() uint8 { return 9 }

// ClockRate returns 8000, the RTP clock rate RFC 3551 assigns to G.722.
func (g722Codec) ClockRate() int { return 8000 }

// SampleRate returns 16000.
func (g722Codec) SampleRate() int { return 16000 }

// Encode encodes pcm as a payload of its own, from fresh encoder state:
// one octet per two samples. An odd trailing sample is paired with a zero.
func (g722Codec) Encode(dst []byte, pcm []int16) []byte {
	var e g722Encoder
	e.reset()
	dst = e.Encode(dst, pcm)
	if e.pending {
		dst = e.Encode(dst, []int16{0})
	}
	return dst
}

// Decode decodes payload as a payload of its own, from fresh decoder
// state: two samples per octet.
func (g722Codec) Decode(dst []int16, payload []byte) []int16 {
	var d g722Decoder
	d.reset()
	return d.Decode(dst, payload)
}

// NewEncoder returns a fresh per-stream G.722 encoder.
func (g722Codec) NewEncoder() Encoder {
	e := new(g722Encoder)
	e.reset()
	return e
}

// NewDecoder returns a fresh per-stream G.722 decoder.
func (g722Codec) NewDecoder() Decoder {
	d := new(g722Decoder)
	d.reset()
	return d
}

// g722Encoder encodes one continuous 16 kHz stream to G.722 octets. It is
// not safe for concurrent use.
type g722Encoder struct {
	low, high g722Band
	qmf       g722QMF
	// held is a sample left over from an odd-length Encode call, paired
	// with the first sample of the next call.
	held    int16
	pending bool
}

// reset puts e in the initial state the recommendation prescribes.
func (e *g722Encoder) reset() {
	*e = g722Encoder{}
	e.low.det = 32
	e.high.det = 8
}

// Encode appends one octet per two samples of pcm to dst. G.722 codes
// samples in pairs; when the stream so far has an odd number of samples,
// the last one is held and coded with the first sample of the next call,
// so a stream encodes the same however it is split into calls.
func (e *g722Encoder) Encode(dst []byte, pcm []int16) []byte {
	total := len(pcm)
	if e.pending {
		total++
	}
	n := len(dst)
	dst = slices.Grow(dst, total/2)[:n+total/2]
	out := dst[n:]
	if e.pending && len(pcm) > 0 {
		out[0] = e.encodePair(e.held, pcm[0])
		out = out[1:]
		pcm = pcm[1:]
		e.pending = false
	}
	for i := range out {
		out[i] = e.encodePair(pcm[2*i], pcm[2*i+1])
	}
	if len(pcm)%2 == 1 {
		e.held, e.pending = pcm[len(pcm)-1], true
	}
	return dst
}

// encodePair codes two consecutive 16 kHz samples, a before b, into one
// octet.
func (e *g722Encoder) encodePair(a, b int16) byte {
	// Transmit QMF (block 1): split into the two 8 kHz bands. The 16-bit
	// input gives 15-bit band signals.
	sumA, sumB := e.qmf.push(int(a), int(b))
	xlow := (sumA + sumB) >> 14
	xhigh := (sumA - sumB) >> 14

	// Lower band, blocks 1L–4L.
	el := sat16(xlow - e.low.s)
	wd := el
	if el < 0 {
		wd = -(el + 1)
	}
	i := g722LowInterval(wd, e.low.det)
	var ilow int
	if el < 0 {
		ilow = g722ILN[i]
	} else {
		ilow = g722ILP[i]
	}
	e.low.adaptLow(ilow >> 2)

	// Higher band, blocks 1H–4H.
	eh := sat16(xhigh - e.high.s)
	wd = eh
	if eh < 0 {
		wd = -(eh + 1)
	}
	mih := 1
	if wd >= (564*e.high.det)>>12 {
		mih = 2
	}
	var ihigh int
	if eh < 0 {
		ihigh = g722IHN[mih]
	} else {
		ihigh = g722IHP[mih]
	}
	e.high.adaptHigh(ihigh)

	return byte(ihigh<<6 | ilow)
}

// g722LowInterval quantises the magnitude wd of the lower-band difference
// with scale factor det (block 1L): the interval is the first i in 1…29
// whose scaled decision level exceeds wd, else 30. The levels increase with
// i, so a binary search finds the same i as the recommendation's linear
// scan.
func g722LowInterval(wd, det int) int {
	i, hi := 1, 30
	for i < hi {
		m := (i + hi) / 2
		if wd < (g722Q6[m]*det)>>12 {
			hi = m
		} else {
			i = m + 1
		}
	}
	return i
}

// g722Decoder decodes the octets of one continuous G.722 stream to 16 kHz
// PCM. It is not safe for concurrent use.
type g722Decoder struct {
	low, high g722Band
	qmf       g722QMF
}

// reset puts d in the initial state the recommendation prescribes.
func (d *g722Decoder) reset() {
	*d = g722Decoder{}
	d.low.det = 32
	d.high.det = 8
}

// Decode appends two 16 kHz samples per octet of payload to dst.
func (d *g722Decoder) Decode(dst []int16, payload []byte) []int16 {
	n := len(dst)
	dst = slices.Grow(dst, 2*len(payload))[:n+2*len(payload)]
	out := dst[n:]
	out = out[:2*len(payload)]
	for i, code := range payload {
		out[2*i], out[2*i+1] = d.decodeOctet(code)
	}
	return dst
}

func (d *g722Decoder) decodeOctet(code byte) (int16, int16) {
	// Lower band: block 5L reconstructs from all six bits; the predictor
	// and scale factor adapt on the four most significant (blocks 2L–4L),
	// exactly as in the encoder.
	ilow := int(code & 0x3f)
	rlow := min(max(d.low.s+(d.low.det*g722QM6[ilow])>>15, -16384), 16383)
	d.low.adaptLow(ilow >> 2)

	// Higher band.
	ihigh := int(code >> 6)
	rhigh := min(max(d.high.s+(d.high.det*g722QM2[ihigh])>>15, -16384), 16383)
	d.high.adaptHigh(ihigh)

	// Receive QMF: recombine the bands into two 16 kHz samples.
	sumA, sumB := d.qmf.push(rlow+rhigh, rlow-rhigh)
	return sat16int16(sumA >> 11), sat16int16(sumB >> 11)
}

// g722Band is the ADPCM state of one sub-band, named after the
// recommendation's signals: s the signal estimate, sp and sz its pole and
// zero parts, det the quantiser scale factor and nb its logarithm, r the
// reconstructed signal, p the partially reconstructed signal, d the
// quantised difference, a and b the pole and zero predictor coefficients.
// Index 0 holds the current value and index k the value k samples ago.
type g722Band struct {
	s, sp, sz int
	det, nb   int
	r, p      [3]int
	a         [3]int
	d, b      [7]int
}

// adaptLow runs blocks 2L (inverse 4-bit quantiser), 3L (scale factor) and
// 4L (predictor) for the four-bit code il4.
func (bd *g722Band) adaptLow(il4 int) {
	dlow := (bd.det * g722QM4[il4]) >> 15
	bd.nb = min(max((bd.nb*127)>>7+g722WL[g722RL42[il4]], 0), 18432)
	bd.det = g722Scale(bd.nb, 8)
	bd.predict(dlow)
}

// adaptHigh runs blocks 2H, 3H and 4H for the two-bit code ih.
func (bd *g722Band) adaptHigh(ih int) {
	dhigh := (bd.det * g722QM2[ih]) >> 15
	bd.nb = min(max((bd.nb*127)>>7+g722WH[g722RH2[ih]], 0), 22528)
	bd.det = g722Scale(bd.nb, 10)
	bd.predict(dhigh)
}

// g722Scale converts the logarithmic scale factor nb to the linear one
// (blocks 3L SCALEL and 3H SCALEH); shift is 8 for the lower band and 10
// for the higher.
func g722Scale(nb, shift int) int {
	m := g722ILB[(nb>>6)&31]
	e := shift - nb>>11
	if e < 0 {
		return (m << -e) << 2
	}
	return (m >> e) << 2
}

// sign returns 0 for a non-negative 16-bit value and -1 for a negative
// one, as the recommendation's sign bit comparisons use.
func sign(x int) int { return x >> 15 }

// predict is block 4: it reconstructs the signal from the quantised
// difference d, adapts the second-order pole and sixth-order zero
// predictor, and computes the signal estimate for the next sample.
func (bd *g722Band) predict(d int) {
	// RECONS and PARREC.
	bd.d[0] = d
	bd.r[0] = sat16(bd.s + d)
	bd.p[0] = sat16(bd.sz + d)

	// UPPOL2: second pole coefficient.
	s0, s1, s2 := sign(bd.p[0]), sign(bd.p[1]), sign(bd.p[2])
	wd1 := sat16(bd.a[1] << 2)
	wd2 := wd1
	if s0 == s1 {
		wd2 = -wd1
	}
	wd2 = min(wd2, 32767)
	wd3 := -128
	if s0 == s2 {
		wd3 = 128
	}
	a2 := min(max(wd3+wd2>>7+(bd.a[2]*32512)>>15, -12288), 12288)

	// UPPOL1: first pole coefficient, bounded by the second.
	wd1 = -192
	if s0 == s1 {
		wd1 = 192
	}
	a1 := sat16(wd1 + (bd.a[1]*32640)>>15)
	lim := sat16(15360 - a2)
	a1 = min(max(a1, -lim), lim)

	// UPZERO and DELAYA: zero coefficients, then shift the delay lines.
	g := 0
	if d != 0 {
		g = 128
	}
	sd := sign(d)
	for i := 6; i > 0; i-- {
		wd := -g
		if sign(bd.d[i]) == sd {
			wd = g
		}
		bd.b[i] = sat16(wd + (bd.b[i]*32640)>>15)
	}
	for i := 6; i > 0; i-- {
		bd.d[i] = bd.d[i-1]
	}
	bd.r[2], bd.r[1] = bd.r[1], bd.r[0]
	bd.p[2], bd.p[1] = bd.p[1], bd.p[0]
	bd.a[2], bd.a[1] = a2, a1

	// FILTEP, FILTEZ and PREDIC: the estimate for the next sample.
	sp := (bd.a[1]*sat16(bd.r[1]+bd.r[1]))>>15 + (bd.a[2]*sat16(bd.r[2]+bd.r[2]))>>15
	bd.sp = sat16(sp)
	sz := 0
	for i := 6; i > 0; i-- {
		sz += (bd.b[i] * sat16(bd.d[i]+bd.d[i])) >> 15
	}
	bd.sz = sat16(sz)
	bd.s = sat16(bd.sp + bd.sz)
}

// g722QMF is the delay line of the 24-tap quadrature mirror filter shared
// by the transmit and receive sides. The newest 24 inputs are
// buf[pos:pos+24], oldest first; the slack lets most pushes avoid moving
// the window.
type g722QMF struct {
	buf [24 + 2*64]int
	pos int
}

// push adds two inputs, x before y, and returns the two polyphase sums:
// a, the even-indexed coefficients h(0), h(2), … h(22) applied to the newest
// input and every second one before it, and b, the odd-indexed ones applied
// to the others. For the transmit filter xL = a + b and xH = a − b; for the
// receive filter a and b are the two output samples, in that order, when
// x = rL + rH and y = rL − rH.
func (q *g722QMF) push(x, y int) (a, b int) {
	if q.pos+26 > len(q.buf) {
		copy(q.buf[:22], q.buf[q.pos+2:q.pos+24])
		q.pos = 0
	} else {
		q.pos += 2
	}
	w := (*[24]int)(q.buf[q.pos : q.pos+24])
	w[22], w[23] = x, y
	// h(2i) multiplies w[23-2i] and h(2i+1) = h(22-2i) multiplies w[22-2i];
	// g722QMFCoeffs[i] is h(2i).
	for i, c := range &g722QMFCoeffs {
		a += c * w[23-2*i]
		b += c * w[2*i]
	}
	return a, b
}

func sat16(x int) int { return min(max(x, -32768), 32767) }

func sat16int16(x int) int16 { return int16(sat16(x)) }

// The tables of the recommendation.
var (
	// g722QMFCoeffs holds the even-indexed QMF coefficients h(0), h(2), …,
	// h(22); the odd-indexed ones are the same in reverse order, since
	// h(23−i) = h(i).
	g722QMFCoeffs = [12]int{3, -11, 12, 32, -210, 951, 3876, -805, 362, -156, 53, -11}

	// g722Q6 holds the decision levels of the 6-bit lower-band quantiser
	// (block 1L), scaled by 2^12 relative to the scale factor det.
	g722Q6 = [32]int{
		0, 35, 72, 110, 150, 190, 233, 276, 323, 370, 422, 473, 530, 587, 650, 714,
		786, 858, 940, 1023, 1121, 1219, 1339, 1458, 1612, 1765, 1980, 2195, 2557, 2919, 0, 0,
	}
	// g722ILN and g722ILP map a quantiser interval to the 6-bit code for a
	// negative and a non-negative difference.
	g722ILN = [32]int{
		0, 63, 62, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19,
		18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 0,
	}
	g722ILP = [32]int{
		0, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47,
		46, 45, 44, 43, 42, 41, 40, 39, 38, 37, 36, 35, 34, 33, 32, 0,
	}
	// g722QM6 is the 6-bit inverse quantiser of the decoder output (block
	// 5L), scaled by 2^15 relative to det.
	g722QM6 = [64]int{
		-136, -136, -136, -136, -24808, -21904, -19008, -16704,
		-14984, -13512, -12280, -11192, -10232, -9360, -8576, -7856,
		-7192, -6576, -6000, -5456, -4944, -4464, -4008, -3576,
		-3168, -2776, -2400, -2032, -1688, -1360, -1040, -728,
		24808, 21904, 19008, 16704, 14984, 13512, 12280, 11192,
		10232, 9360, 8576, 7856, 7192, 6576, 6000, 5456,
		4944, 4464, 4008, 3576, 3168, 2776, 2400, 2032,
		1688, 1360, 1040, 728, 432, 136, -432, -136,
	}
	// g722QM4 is the 4-bit inverse quantiser that feeds the lower-band
	// predictor (block 2L).
	g722QM4 = [16]int{
		0, -20456, -12896, -8968, -6288, -4240, -2584, -1200,
		20456, 12896, 8968, 6288, 4240, 2584, 1200, 0,
	}
	// g722RL42 and g722WL give the lower-band log scale factor multiplier
	// for a 4-bit code (block 3L).
	g722RL42 = [16]int{0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0}
	g722WL   = [8]int{-60, -30, 58, 172, 334, 538, 1198, 3042}
	// g722ILB is 2^(11 + i/32), the mantissa table of the log-to-linear
	// scale factor conversion (blocks 3L and 3H).
	g722ILB = [32]int{
		2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383,
		2435, 2489, 2543, 2599, 2656, 2714, 2774, 2834,
		2896, 2960, 3025, 3091, 3158, 3228, 3298, 3371,
		3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008,
	}
	// Higher band: codes for small and large negative and non-negative
	// differences (block 1H), the inverse quantiser (2H) and the log
	// scale factor multipliers (3H).
	g722IHN = [3]int{0, 1, 0}
	g722IHP = [3]int{0, 3, 2}
	g722QM2 = [4]int{-7408, -1616, 7408, 1616}
	g722RH2 = [4]int{2, 1, 2, 1}
	g722WH  = [3]int{0, -214, 798}
)
