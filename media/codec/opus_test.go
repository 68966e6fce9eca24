//go:build opus

package codec

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"
)

func TestOpusMetadata(t *testing.T) {
	c, ok := ByName("OPUS")
	if !ok {
		t.Fatal(`ByName("OPUS") not found in a build with the opus tag`)
	}
	if c.Name() != "opus" || c.PayloadType() != 111 || c.ClockRate() != 48000 || c.SampleRate() != 16000 {
		t.Fatalf("opus: %s pt=%d clock=%d rate=%d", c.Name(), c.PayloadType(), c.ClockRate(), c.SampleRate())
	}
	if _, ok := c.(StreamCodec); !ok {
		t.Fatal("opus does not implement StreamCodec")
	}
	if _, ok := NewDecoder(c).(LossConcealer); !ok {
		t.Fatal("opus decoder does not implement LossConcealer")
	}
	d := WithPayloadType(c, 96)
	if d.PayloadType() != 96 || d.Name() != "opus" || d != WithPayloadType(Opus(), 96) {
		t.Fatalf("WithPayloadType(opus, 96) = %v pt %d", d, d.PayloadType())
	}
	if WithPayloadType(PCMU(), 96) != PCMU() {
		t.Fatal("WithPayloadType changed a static codec")
	}
}

// RFC 7587 section 4.1: the timestamp counts 48 kHz samples whatever the
// audio, so a 20 ms packet lasts 960 units, and the TOC byte tells the
// receiver so. Durations libopus does not encode in one call (30, 50 ms)
// become a code 3 packet of equal frames.
func TestOpusPacketDurations(t *testing.T) {
	c := Opus()
	for _, tc := range []struct {
		samples16k, units int
	}{
		{40, 120}, {80, 240}, {160, 480}, {320, 960}, {480, 1440}, {640, 1920},
		{800, 2400}, {960, 2880}, {1920, 5760},
		{20, 120},    // 1.25 ms: padded to 2.5 ms
		{3000, 5760}, // over 120 ms: cut to 120 ms
	} {
		enc := NewEncoder(c)
		var p []byte
		for range 5 { // a few packets, past the encoder's start
			p = enc.Encode(nil, g722Tone(440, tc.samples16k, 8000))
		}
		if got := Samples(c, p); got != tc.units {
			t.Errorf("%d samples at 16 kHz: packet of %d units (TOC %#x), want %d", tc.samples16k, got, p[0], tc.units)
		}
		if got := len(c.Decode(nil, p)); got != tc.units/3 {
			t.Errorf("%d samples at 16 kHz: decoded to %d, want %d", tc.samples16k, got, tc.units/3)
		}
	}
	if p := c.Encode(nil, nil); len(p) != 0 {
		t.Errorf("empty PCM encoded to %d bytes", len(p))
	}
	if Samples(PCMU(), make([]byte, 240)) != 240 || Samples(G722(), make([]byte, 160)) != 160 {
		t.Error("Samples of G.711/G.722 payloads is not their length")
	}
}

// opusStream encodes pcm in 20 ms packets with one stream encoder.
func opusStream(pcm []int16) [][]byte {
	enc := NewEncoder(Opus())
	var packets [][]byte
	for i := 0; i+320 <= len(pcm); i += 320 {
		packets = append(packets, enc.Encode(nil, pcm[i:i+320]))
	}
	return packets
}

// Opus is a perceptual codec: it keeps a tone's frequency and level, not
// its waveform exactly, so the round trip is judged by the tone found at
// the far end and by a modest waveform SNR. Measured with libopus 1.3.1 at
// 24 kbit/s, complexity 5: 1 kHz 17.8 dB, 6 kHz (wideband only; G.711
// cannot carry it) 23.2 dB. The floors (12 and 17 dB) leave 6 dB of
// margin for other libopus versions; a broken resampling, timestamp or bandwidth setting
// fails them by far (a wrong rate moves the tone, narrowband loses 6 kHz).
func TestOpusRoundTripTone(t *testing.T) {
	for _, tc := range []struct {
		freq, floor float64
	}{{1000, 12}, {6000, 17}} {
		in := g722Tone(tc.freq, 16000, 10000) // 1 s at -10 dBFS
		dec := NewDecoder(Opus())
		var out []int16
		for _, p := range opusStream(in) {
			if len(p) == 0 || len(p) > 200 {
				t.Fatalf("%v Hz: packet of %d bytes", tc.freq, len(p))
			}
			out = dec.Decode(out, p)
		}
		if len(out) != len(in) {
			t.Fatalf("%v Hz: decoded %d samples from %d", tc.freq, len(out), len(in))
		}
		tail := out[8000:]
		on := goertzel16k(tail, tc.freq)
		for _, off := range []float64{tc.freq / 2, tc.freq * 0.8, tc.freq * 1.25} {
			if p := goertzel16k(tail, off); p > on/100 {
				t.Errorf("%v Hz: energy at %v Hz is %.1f dB below the tone, want 20 dB", tc.freq, off, 10*math.Log10(on/p))
			}
		}
		lag := opusDelay(t)
		snr := g722SNR(in[:15000], out, lag, 4000)
		t.Logf("%v Hz: delay %d samples, SNR %.1f dB, tone power %.0f", tc.freq, lag, snr, on)
		if snr < tc.floor {
			t.Errorf("%v Hz: SNR %.1f dB below %v dB", tc.freq, snr, tc.floor)
		}
	}
}

// opusToneSteps is a signal that changes every 20 ms, as speech does: a
// new pitch and level per packet, so that concealment from the past (PLC)
// can only continue the previous packet's tone, while the FEC copy in the
// next packet carries the lost packet itself. It returns the PCM and each
// packet's frequency.
func opusToneSteps(packets int) ([]int16, []float64) {
	r := rand.New(rand.NewPCG(7, 19))
	out := make([]int16, 0, packets*320)
	freqs := make([]float64, packets)
	phase := 0.0
	for k := range packets {
		freqs[k] = 300 + 100*float64(r.IntN(28)) // 300–3000 Hz
		if k > 0 && math.Abs(freqs[k]-freqs[k-1]) < 300 {
			freqs[k] = freqs[k-1] + 700
		}
		amp := 4000 + 6000*r.Float64()
		for range 320 {
			phase += 2 * math.Pi * freqs[k] / 16000
			out = append(out, int16(amp*math.Sin(phase)))
		}
	}
	return out, freqs
}

// opusLossRecovery decodes the packets with the lost ones replaced by
// Conceal, with the next packet (its in-band FEC) or without (PLC), and
// returns, over the lost packets, the mean ratio in dB of the power at the
// lost packet's own frequency to the power at the previous packet's, and
// the SNR in dB of the lost packets' audio against what was sent.
func opusLossRecovery(t *testing.T, in []int16, freqs []float64, packets [][]byte, lost map[int]bool, fec bool, lag int) (ratio, snr float64) {
	t.Helper()
	dec := NewDecoder(Opus())
	lc := dec.(LossConcealer)
	var out []int16
	for i, p := range packets {
		if !lost[i] {
			out = dec.Decode(out, p)
			continue
		}
		var next []byte
		if fec && i+1 < len(packets) {
			next = packets[i+1]
		}
		out = lc.Conceal(out, 320, next)
	}
	if len(out) != len(in) {
		t.Fatalf("decoded %d samples from %d", len(out), len(in))
	}
	var sig, noise float64
	for k := range lost {
		seg := out[k*320+lag+40 : k*320+lag+280] // inside the packet, away from its edges
		ratio += 10 * math.Log10(goertzel16k(seg, freqs[k])/goertzel16k(seg, freqs[k-1]))
		for i := k * 320; i < (k+1)*320; i++ {
			e := float64(out[i+lag]) - float64(in[i])
			sig += float64(in[i]) * float64(in[i])
			noise += e * e
		}
	}
	return ratio / float64(len(lost)), 10 * math.Log10(sig/noise)
}

// RFC 7587 section 3.3: with in-band FEC, a packet carries a coarser copy
// of the one before it. Recovering a lost packet from the next one's copy
// must beat libopus's concealment from the past alone. Measured (libopus
// 1.3.1, 24 kbit/s, complexity 5, 10% expected loss, 41 lost packets of a
// tone that changes every 20 ms): with FEC the lost packet's own tone is
// 22.7 dB above the previous packet's, with PLC 13.2 dB below (PLC
// continues the old tone); waveform SNR over the lost packets -2.0 dB
// with FEC, -3.1 dB with PLC (a perceptual codec does not keep the phase
// of a tone, so the tone ratio is the measure that tells them apart). The
// test wants FEC's tone ratio above +6 dB and 10 dB better than PLC's,
// and a better SNR.
func TestOpusFECBeatsPLC(t *testing.T) {
	in, freqs := opusToneSteps(300)
	packets := opusStream(in)
	lag := opusDelay(t)
	lost := map[int]bool{}
	for k := 10; k < 295; k += 7 {
		lost[k] = true
	}
	fecRatio, fecSNR := opusLossRecovery(t, in, freqs, packets, lost, true, lag)
	plcRatio, plcSNR := opusLossRecovery(t, in, freqs, packets, lost, false, lag)
	t.Logf("%d lost packets; own tone over previous tone: FEC %+.1f dB, PLC %+.1f dB; SNR: FEC %.1f dB, PLC %.1f dB",
		len(lost), fecRatio, plcRatio, fecSNR, plcSNR)
	if fecRatio < 6 || fecRatio < plcRatio+10 || fecSNR <= plcSNR {
		t.Errorf("FEC does not recover lost packets better than PLC")
	}
}

// opusDelay measures the codec's delay at 16 kHz (encoder look-ahead and
// resampling, 104 samples with libopus 1.3.1) on a signal that does not
// repeat, where a tone would leave the lag ambiguous.
func opusDelay(t *testing.T) int {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	in := make([]int16, 16000)
	for i := range in {
		in[i] = int16(r.NormFloat64() * 3000)
	}
	dec := NewDecoder(Opus())
	var out []int16
	for _, p := range opusStream(in) {
		out = dec.Decode(out, p)
	}
	return g722Delay(in[3200:9600], out[3200:], 400)
}

func TestOpusConcealEdges(t *testing.T) {
	dec := NewDecoder(Opus())
	lc := dec.(LossConcealer)
	if out := lc.Conceal(nil, 0, nil); len(out) != 0 {
		t.Errorf("Conceal of 0 samples gave %d", len(out))
	}
	// Before any packet, after a garbage next packet, odd lengths.
	for _, n := range []int{1, 39, 320, 333, 5000} {
		if out := lc.Conceal(nil, n, []byte{0xff, 0xff, 0xff}); len(out) != n {
			t.Errorf("Conceal of %d samples gave %d", n, len(out))
		}
	}
	// A malformed packet is concealed as long as the last good one.
	enc := NewEncoder(Opus())
	out := dec.Decode(nil, enc.Encode(nil, make([]int16, 160)))
	out = dec.Decode(out, []byte{9<<3 | 1, 0}) // code 1 of odd length
	if len(out) != 320 {
		t.Errorf("10 ms packet then a malformed one decoded to %d samples, want 320", len(out))
	}
}

func FuzzOpusDecode(f *testing.F) {
	enc := NewEncoder(Opus())
	tone := g722Tone(700, 320, 9000)
	for range 3 {
		f.Add(enc.Encode(nil, tone), uint16(320))
	}
	f.Add([]byte{}, uint16(0))
	f.Add([]byte{0xff, 0xff}, uint16(1))
	f.Add(bytes.Repeat([]byte{0x4b, 0x83}, 50), uint16(960))
	f.Add([]byte{9<<3 | 3, 0xbf, 0xff, 0xff, 0xff}, uint16(5000))
	f.Fuzz(func(t *testing.T, payload []byte, n uint16) {
		c := Opus()
		if out := c.Decode(nil, payload); len(out) > opusMaxSamples {
			t.Fatalf("decoded %d samples", len(out))
		}
		dec := NewDecoder(c)
		lc := dec.(LossConcealer)
		out := dec.Decode(nil, payload)
		out = lc.Conceal(out[:0], int(n), payload)
		if len(out) != int(n) {
			t.Fatalf("Conceal(%d) with the payload as FEC gave %d samples", n, len(out))
		}
		_ = dec.Decode(out, payload)
		_ = Samples(c, payload)
	})
}

// Benchmarks of one 20 ms frame through per-stream coders, to set against
// BenchmarkG722Encode/Decode and BenchmarkPCMUEncode/Decode (run together
// with -tags opus: bench/README.md).
func BenchmarkOpusEncode(b *testing.B) {
	enc := NewEncoder(Opus())
	frame, _ := opusToneSteps(1)
	dst := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		dst = enc.Encode(dst[:0], frame)
	}
	b.ReportMetric(float64(len(dst)), "bytes/frame")
}

func BenchmarkOpusDecode(b *testing.B) {
	packets := opusStream(first(opusToneSteps(50)))
	dec := NewDecoder(Opus())
	dst := make([]int16, 0, 320)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		dst = dec.Decode(dst[:0], packets[i%len(packets)])
		i++
	}
}

// BenchmarkOpusConcealFEC is one lost 20 ms packet recovered from the next
// packet's in-band FEC.
func BenchmarkOpusConcealFEC(b *testing.B) {
	packets := opusStream(first(opusToneSteps(50)))
	dec := NewDecoder(Opus())
	lc := dec.(LossConcealer)
	dst := make([]int16, 0, 320)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		dst = lc.Conceal(dst[:0], 320, packets[i%len(packets)])
		i++
	}
}

func first[A, B any](a A, _ B) A { return a }

// BenchmarkOpusTranscodePCMU is the codec work of relaying one 20 ms
// packet each way between an Opus leg and a PCMU leg: Opus decode and
// PCMU encode, PCMU decode and Opus encode. Resampling between 16 and
// 8 kHz is not included (see BenchmarkG722TranscodePCMU).
func BenchmarkOpusTranscodePCMU(b *testing.B) {
	packets := opusStream(first(opusToneSteps(50)))
	dec, enc := NewDecoder(Opus()), NewEncoder(Opus())
	udec, uenc := NewDecoder(PCMU()), NewEncoder(PCMU())
	wide, _ := opusToneSteps(1)
	narrow := wide[:160]
	ulaw := uenc.Encode(nil, narrow)
	pcm := make([]int16, 0, 320)
	out := make([]byte, 0, 256)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		pcm = dec.Decode(pcm[:0], packets[i%len(packets)])
		out = uenc.Encode(out[:0], narrow)
		pcm = udec.Decode(pcm[:0], ulaw)
		out = enc.Encode(out[:0], wide)
		i++
	}
}
