package mix

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/switchboard-sip/switchboard/media"
	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/media/codec"
	"github.com/switchboard-sip/switchboard/media/dsp"
)

const mixN = 160 // 20 ms at 8 kHz

// mixSrc is a fake Input: a tone, a constant or silence, frame by frame.
type mixSrc struct {
	osc   *dsp.Oscillator // nil: dc
	dc    int16
	empty bool // report FrameEmpty
	reads int
}

func mixTone(freq, amp float64) *mixSrc {
	return &mixSrc{osc: dsp.NewOscillator(8000, freq, amp)}
}

func (s *mixSrc) ReadFrame(dst []int16) ([]int16, media.FrameStatus) {
	s.reads++
	if s.empty {
		return dst[:0], media.FrameEmpty
	}
	dst = slices.Grow(dst[:0], mixN)[:mixN]
	if s.osc != nil {
		s.osc.Read(dst)
	} else {
		for i := range dst {
			dst[i] = s.dc
		}
	}
	return dst, media.FrameNormal
}

// mixOut is a fake Output that decodes what it receives with its codec,
// as the far end would.
type mixOut struct {
	codec   codec.Codec
	pcm     []int16
	markers []bool
	ptrs    []*byte // the payload buffer of each packet, to prove sharing
	bad     string  // a malformed packet, if any
}

func newMixOut(c codec.Codec) *mixOut { return &mixOut{codec: c} }

func (o *mixOut) Codec() codec.Codec { return o.codec }

func (o *mixOut) WriteRTPPayload(pt uint8, samples int, payload []byte, marker bool) error {
	if pt != o.codec.PayloadType() || samples != mixN || len(payload) != mixN {
		o.bad = fmt.Sprintf("pt %d samples %d len %d", pt, samples, len(payload))
	}
	o.pcm = o.codec.Decode(o.pcm, payload)
	o.markers = append(o.markers, marker)
	o.ptrs = append(o.ptrs, &payload[0])
	return nil
}

// frames returns the decoded audio of packets [from, to).
func (o *mixOut) frames(from, to int) []int16 { return o.pcm[from*mixN : to*mixN] }

func (o *mixOut) packets() int { return len(o.markers) }

// mixTap collects the PCM a tap receives.
type mixTap struct{ pcm []int16 }

func (t *mixTap) WriteAudio(pcm []int16) { t.pcm = append(t.pcm, pcm...) }

// mixDiscard is an Output that drops everything, for benchmarks.
type mixDiscard struct{ c codec.Codec }

func (d mixDiscard) Codec() codec.Codec                           { return d.c }
func (mixDiscard) WriteRTPPayload(uint8, int, []byte, bool) error { return nil }
func (mixDiscard) ReadFrame(dst []int16) ([]int16, media.FrameStatus) {
	return dst[:0], media.FrameEmpty
}
func tickN(m *Mixer, n int) {
	for range n {
		m.Tick()
	}
}
func mustAdd(t testing.TB, m *Mixer, id string, in Input, out Output, o LegOptions) {
	t.Helper()
	if err := m.Add(id, in, out, o); err != nil {
		t.Fatal(err)
	}
}

// levels returns the level in dB of each frequency in pcm.
func levels(pcm []int16, freqs ...float64) []float64 {
	out := make([]float64, len(freqs))
	for i, f := range freqs {
		out[i] = dsp.LevelDB(pcm, 8000, f)
	}
	return out
}

// expectHears checks that pcm contains every tone of hear and that every
// tone of not is at least 30 dB below the weakest of them.
func expectHears(t *testing.T, who string, pcm []int16, hear, not []float64) {
	t.Helper()
	weakest := math.Inf(1)
	for _, f := range hear {
		if !dsp.HasTone(pcm, 8000, f) {
			t.Errorf("%s does not hear %v Hz (level %.1f dB)", who, f, dsp.LevelDB(pcm, 8000, f))
		}
		weakest = min(weakest, dsp.LevelDB(pcm, 8000, f))
	}
	for _, f := range not {
		if l := dsp.LevelDB(pcm, 8000, f); l > weakest-30 || (len(hear) == 0 && l > -60) {
			t.Errorf("%s hears %v Hz at %.1f dB (weakest wanted tone %.1f dB)", who, f, l, weakest)
		}
	}
}

var mixFreqs = [3]float64{440, 700, 1100}

// threeTones builds a mixer with legs a, b, c sending 440, 700 and 1100 Hz.
func threeTones(t *testing.T) (*Mixer, [3]*mixOut) {
	t.Helper()
	m := New(Config{})
	t.Cleanup(func() { m.Close() })
	var outs [3]*mixOut
	for i, id := range []string{"a", "b", "c"} {
		outs[i] = newMixOut(codec.PCMU())
		mustAdd(t, m, id, mixTone(mixFreqs[i], 0.2), outs[i], LegOptions{})
	}
	return m, outs
}

func TestMixerMixMinus(t *testing.T) {
	m, outs := threeTones(t)
	tickN(m, 50)
	for i, o := range outs {
		if o.bad != "" {
			t.Fatalf("leg %d: bad packet %s", i, o.bad)
		}
		if o.packets() != 50 || !o.markers[0] || slices.Contains(o.markers[1:], true) {
			t.Fatalf("leg %d: %d packets, markers %v", i, o.packets(), o.markers[:3])
		}
		var hear []float64
		for j, f := range mixFreqs {
			if j != i {
				hear = append(hear, f)
			}
		}
		pcm := o.frames(5, 50)
		expectHears(t, fmt.Sprintf("leg %d", i), pcm, hear, mixFreqs[i:i+1])
		t.Logf("leg %d hears %v Hz at %.1f dB", i, mixFreqs, levels(pcm, mixFreqs[:]...))
	}
	st := m.Stats()
	if st.Frames != 50 || st.Legs != 3 || st.LastTalkers != 3 || st.LastEncodes != 3 || st.SharedEncodes != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestMixerMute(t *testing.T) {
	m, outs := threeTones(t)
	tickN(m, 10)
	m.SetMuted("b", true)
	tickN(m, 1) // the fade-out frame
	from := outs[0].packets()
	tickN(m, 40)
	expectHears(t, "a", outs[0].frames(from, from+40), mixFreqs[2:3], mixFreqs[:2])
	expectHears(t, "c", outs[2].frames(from, from+40), mixFreqs[:1], mixFreqs[1:])
	expectHears(t, "muted b", outs[1].frames(from, from+40), []float64{440, 1100}, []float64{700})

	m.SetMuted("b", false)
	tickN(m, 1)
	from = outs[0].packets()
	tickN(m, 40)
	expectHears(t, "a after unmute", outs[0].frames(from, from+40), mixFreqs[1:], mixFreqs[:1])
}

func TestMixerExclude(t *testing.T) {
	m, outs := threeTones(t)
	tickN(m, 10)
	m.Exclude("a", 100*time.Millisecond) // 5 frames: 10…14
	tickN(m, 30)
	a, b := outs[0], outs[1]
	// Frame 10 fades a out; frames 11–14 are silent for a and without a for
	// the others; frame 15 fades a back in.
	for k := 11; k < 15; k++ {
		if r := dsp.RMS(a.frames(k, k+1)); r != 0 {
			t.Fatalf("excluded a hears RMS %g in frame %d", r, k)
		}
	}
	if r := dsp.RMS(a.frames(10, 11)[40:]); r != 0 {
		t.Fatalf("a's mix not faded out after 5 ms of frame 10: RMS %g", r)
	}
	if r := dsp.RMS(a.frames(15, 16)); r == 0 {
		t.Fatal("a hears nothing in frame 15, after the exclusion")
	}
	expectHears(t, "b during exclusion", b.frames(11, 15), mixFreqs[2:3], mixFreqs[:2])
	expectHears(t, "a after exclusion", a.frames(16, 40), mixFreqs[1:], mixFreqs[:1])
	expectHears(t, "b after exclusion", b.frames(16, 40), []float64{440, 1100}, []float64{700})
	// Exclude(0) ends an exclusion at once.
	m.Exclude("a", time.Hour)
	tickN(m, 3)
	m.Exclude("a", 0)
	tickN(m, 2)
	if r := dsp.RMS(a.frames(44, 45)); r < 0.05 {
		t.Fatalf("a still excluded after Exclude(0): RMS %g", r)
	}
}

func TestMixerWhisper(t *testing.T) {
	m, outs := threeTones(t)
	tap := &mixTap{}
	if err := m.AddTap("rec", tap); err != nil {
		t.Fatal(err)
	}
	if err := m.Whisper("a", "b"); err != nil {
		t.Fatal(err)
	}
	tickN(m, 40)
	expectHears(t, "b (whispered to)", outs[1].frames(2, 40), []float64{440, 1100}, []float64{700})
	expectHears(t, "c (third party)", outs[2].frames(2, 40), []float64{700}, []float64{440, 1100})
	expectHears(t, "a (whisperer)", outs[0].frames(2, 40), []float64{700, 1100}, []float64{440})
	expectHears(t, "tap", tap.pcm[2*mixN:], []float64{700, 1100}, []float64{440})

	m.StopWhisper("a")
	tickN(m, 41)
	expectHears(t, "c after StopWhisper", outs[2].frames(41, 81), []float64{440, 700}, []float64{1100})

	// A prompt whispered to one leg, with a route that moves to another.
	prompt := mixTone(300, 0.2)
	if err := m.AddSource("prompt", prompt); err != nil {
		t.Fatal(err)
	}
	if err := m.Whisper("prompt", "c"); err != nil {
		t.Fatal(err)
	}
	tickN(m, 30)
	expectHears(t, "c (prompted)", outs[2].frames(83, 111), []float64{300}, nil)
	expectHears(t, "a (not prompted)", outs[0].frames(83, 111), []float64{700}, []float64{300})
	if err := m.Whisper("prompt", "a"); err != nil {
		t.Fatal(err)
	}
	tickN(m, 30)
	expectHears(t, "a (prompted now)", outs[0].frames(114, 141), []float64{300}, nil)
	expectHears(t, "c (no longer)", outs[2].frames(114, 141), []float64{440}, []float64{300})

	// Removing the target keeps the whisperer private.
	m.Remove("a")
	tickN(m, 30)
	expectHears(t, "b after the target left", outs[1].frames(143, 171), []float64{1100}, []float64{300})

	for _, c := range [][2]string{{"a", "b"}, {"b", "b"}, {"b", "rec"}, {"rec", "b"}, {"b", "prompt"}} {
		if err := m.Whisper(c[0], c[1]); !errors.Is(err, ErrNoSuchLeg) {
			t.Errorf("Whisper(%s, %s) = %v, want ErrNoSuchLeg", c[0], c[1], err)
		}
	}
}

// TestMixerLimitsOnce checks that loud inputs are limited instead of
// clipped or wrapped, and that mix-minus is computed before limiting:
// each mix is its own int32 sum scaled by one gain (the waveform keeps its
// shape, peaks stay under the ceiling), and a talker hears the others at
// full level, not the limited total minus itself.
func TestMixerLimitsOnce(t *testing.T) {
	m := New(Config{})
	defer m.Close()
	const amp = 0.45 // four in phase: 1.8 × full scale
	var outs [4]*mixOut
	for i := range outs {
		outs[i] = newMixOut(codec.PCMU())
		mustAdd(t, m, fmt.Sprint(i), mixTone(300, amp), outs[i], LegOptions{})
	}
	listener := newMixOut(codec.PCMU())
	mustAdd(t, m, "listener", nil, listener, LegOptions{})
	tap := &mixTap{}
	if err := m.AddTap("tap", tap); err != nil {
		t.Fatal(err)
	}
	const frames = 20
	tickN(m, frames)
	s := dsp.Sine(8000, 300, frames*20*time.Millisecond, amp) // what each input sent
	// The tap is PCM: exactly the sum times one gain per sample, under the
	// ceiling, and steady once the gain has settled (second frame on).
	for i := 2 * mixN; i < frames*mixN; i++ {
		v := 4 * int32(s[i])
		got := int32(tap.pcm[i])
		if float64(abs(got)) > limitCeiling+1 {
			t.Fatalf("tap sample %d: %d passes the ceiling %.0f", i, got, float64(limitCeiling))
		}
		if abs(v) > 4000 {
			if g := float64(got) / float64(v); math.Abs(g-limitCeiling/(4*amp*32767)) > 0.01 {
				t.Fatalf("tap sample %d: gain %.3f, want %.3f (the sum scaled, not clipped)", i, g, limitCeiling/(4*amp*32767))
			}
		}
	}
	// Decoded G.711 mixes: no sign flips, peaks near the ceiling. The
	// talker's mix is its own sum (3 voices) limited: about 0.9 of full
	// scale; limiting the total and subtracting its own voice would leave
	// it about 1.0 × one voice (0.45).
	peak := func(pcm []int16) int32 {
		var p int32
		for _, v := range pcm {
			p = max(p, abs(int32(v)))
		}
		return p
	}
	talker, all := outs[0].pcm[2*mixN:frames*mixN], listener.pcm[2*mixN:frames*mixN]
	for name, pcm := range map[string][]int16{"talker": talker, "listener": all} {
		if p := peak(pcm); float64(p) < 0.8*32767 || p > 32767 {
			t.Errorf("%s's mix peaks at %d, want about %.0f", name, p, float64(limitCeiling))
		}
		flips := 0
		for i, v := range pcm {
			if want := s[2*mixN+i]; abs(int32(want)) > 1000 && (v < 0) != (want < 0) {
				flips++
			}
		}
		if flips > 0 {
			t.Errorf("%s's mix: %d sign flips against the inputs", name, flips)
		}
	}
}

// TestMixerNoIntermodulation is issue 19's acceptance test on the mixer:
// three participants each send a tone at −9 dBFS RMS (any two sum to
// full-scale peaks) and, harder, at −6 dBFS (1.4 × full scale). Nobody
// receives energy outside the other two tones above −40 dB (the products
// a clipped sum makes: 2f1−f2, 2f2−f1, f2−f1, f1+f2, harmonics, and the
// listener's own band), and at −9 dBFS each tone stays within 3 dB of what
// a two-party call carries.
func TestMixerNoIntermodulation(t *testing.T) {
	freqs := []float64{440, 660, 880}
	for _, dbfs := range []float64{-9, -6} {
		amp := math.Pow(10, dbfs/20) * math.Sqrt2 // peak of a sine of that RMS
		m := New(Config{})
		outs := make([]*mixOut, len(freqs))
		for i, f := range freqs {
			outs[i] = newMixOut(codec.PCMU())
			mustAdd(t, m, fmt.Sprint(i), mixTone(f, amp), outs[i], LegOptions{})
		}
		tickN(m, 50)
		m.Close()
		twoParty := levels(dsp.Sine(8000, 660, time.Second, amp), 660)[0]
		for i, o := range outs {
			pcm := o.frames(10, 50) // after the joins and the limiter's settling
			var others []float64
			for j, f := range freqs {
				if j != i {
					others = append(others, f)
				}
			}
			f1, f2 := others[0], others[1]
			for k, lv := range levels(pcm, others...) {
				// At −6 dBFS two tones cannot both keep their level under
				// full scale: only the intermodulation is checked there.
				if dbfs == -9 && math.Abs(lv-twoParty) > 3 {
					t.Errorf("%g dBFS: participant %d hears %g Hz at %.1f dB, a two-party call %.1f dB", dbfs, i, others[k], lv, twoParty)
				}
			}
			var imd []float64
			for _, f := range []float64{2*f1 - f2, 2*f2 - f1, f2 - f1, f1 + f2, 2 * f1, 2 * f2, freqs[i]} {
				if f > 50 && f < 3900 && f != f1 && f != f2 {
					imd = append(imd, f)
				}
			}
			for k, lv := range levels(pcm, imd...) {
				if lv > -40 {
					t.Errorf("%g dBFS: participant %d hears %g Hz (intermodulation of %g and %g) at %.1f dB", dbfs, i, imd[k], f1, f2, lv)
				}
			}
		}
	}
}

func abs(v int32) int32 {
	if v < 0 {
		return -v
	}
	return v
}

// maxStep returns the largest difference between consecutive samples.
func maxStep(pcm []int16) int {
	m := 0
	for i := 1; i < len(pcm); i++ {
		m = max(m, int(math.Abs(float64(pcm[i])-float64(pcm[i-1]))))
	}
	return m
}

// joinLeaveRun is what the legs of joinLeave received.
type joinLeaveRun struct {
	listener, joiner, late *mixOut
	tap                    *mixTap
}

// joinLeave lets a leg sending a constant 16000 join and leave a listener,
// with a second listener joining while it talks.
func joinLeave(t *testing.T, ramp time.Duration) joinLeaveRun {
	m := New(Config{Ramp: ramp})
	defer m.Close()
	r := joinLeaveRun{listener: newMixOut(codec.PCMU()), joiner: newMixOut(codec.PCMU()), late: newMixOut(codec.PCMU()), tap: &mixTap{}}
	mustAdd(t, m, "l", &mixSrc{}, r.listener, LegOptions{})
	if err := m.AddTap("tap", r.tap); err != nil {
		t.Fatal(err)
	}
	tickN(m, 3)
	step := &mixSrc{dc: 16000}
	mustAdd(t, m, "step", step, r.joiner, LegOptions{})
	tickN(m, 2)
	mustAdd(t, m, "late", nil, r.late, LegOptions{})
	tickN(m, 1)
	m.Remove("step")
	if step.reads != 3 || r.joiner.packets() != 3 {
		t.Fatalf("before Remove's frame: %d reads, %d packets", step.reads, r.joiner.packets())
	}
	tickN(m, 3)
	if step.reads != 4 || r.joiner.packets() != 3 {
		t.Fatalf("after Remove: %d reads (want one more, the fade-out), %d packets (want none)", step.reads, r.joiner.packets())
	}
	return r
}

func TestMixerJoinLeaveRamp(t *testing.T) {
	r := joinLeave(t, 0)
	if r.tap.pcm[4*mixN] != 16000 || r.tap.pcm[7*mixN-1] != 0 {
		t.Fatalf("the voice did not reach 16000 and leave: %d, %d", r.tap.pcm[4*mixN], r.tap.pcm[7*mixN-1])
	}
	// A 5 ms linear ramp of a 16000 step rises 400 per sample; G.711 adds
	// up to a quantisation step (512 at this level).
	if s := maxStep(r.tap.pcm); s > 401 {
		t.Errorf("tap: step %d at join or leave, want ≤ 401", s)
	}
	if s := maxStep(r.listener.pcm); s > 1000 {
		t.Errorf("listener: step %d at join or leave, want ≤ 1000", s)
	}
	// A listener joining while the voice plays fades in from silence.
	if s := maxStep(r.late.pcm); r.late.pcm[0] > 1000 || s > 1000 || r.late.pcm[mixN-1] < 15000 {
		t.Errorf("late listener: first sample %d, last of the first frame %d, step %d", r.late.pcm[0], r.late.pcm[mixN-1], s)
	}
	// Every new stream starts with the marker bit.
	for _, o := range []*mixOut{r.listener, r.joiner, r.late} {
		if !o.markers[0] || slices.Contains(o.markers[1:], true) {
			t.Errorf("markers %v", o.markers)
		}
	}
	t.Logf("max step: tap %d, listener %d (decoded)", maxStep(r.tap.pcm), maxStep(r.listener.pcm))

	// Without a ramp the same join clicks: the checks above would catch it.
	r = joinLeave(t, time.Second/8000)
	if s := maxStep(r.tap.pcm); s < 15000 {
		t.Errorf("without a ramp the step is only %d", s)
	}
}

// TestMixerSharesEncodes checks that the legs that do not talk share one
// encoding per codec: 10 legs, 2 talkers, 1 codec → 3 encodes per frame.
func TestMixerSharesEncodes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pcma    int // silent legs with PCMA
		encodes int
	}{{"one codec", 0, 3}, {"two codecs", 4, 4}} {
		t.Run(tc.name, func(t *testing.T) {
			m := New(Config{})
			defer m.Close()
			var outs []*mixOut
			for i := range 10 {
				var src *mixSrc
				c := codec.PCMU()
				switch {
				case i < 2:
					src = mixTone(mixFreqs[i], 0.2)
				case i < 6:
					src = &mixSrc{empty: true} // jitter buffer empty
				default:
					src = mixTone(200, 0.0005) // line noise, about -69 dB
				}
				if i >= 10-tc.pcma {
					c = codec.PCMA()
				}
				outs = append(outs, newMixOut(c))
				mustAdd(t, m, fmt.Sprint(i), src, outs[i], LegOptions{})
			}
			tickN(m, 2) // the first frame fades every new stream in
			before := m.Stats()
			tickN(m, 50)
			st := m.Stats()
			if got := int(st.Encodes-before.Encodes) / 50; got != tc.encodes || st.LastEncodes != tc.encodes {
				t.Fatalf("%d encodes per frame (last %d), want %d", got, st.LastEncodes, tc.encodes)
			}
			if shared := st.SharedEncodes - before.SharedEncodes; shared != uint64(50*(tc.encodes-2)) {
				t.Fatalf("%d shared encodes in 50 frames", shared)
			}
			if st.LastTalkers != 2 || st.Packets-before.Packets != 500 {
				t.Fatalf("stats %+v", st)
			}
			for i, o := range outs {
				last := o.ptrs[len(o.ptrs)-1]
				switch {
				case i < 2:
					expectHears(t, fmt.Sprint("talker ", i), o.frames(2, 52), mixFreqs[1-i:2-i], mixFreqs[i:i+1])
					if last == outs[2].ptrs[51] || last == outs[1-i].ptrs[51] {
						t.Errorf("talker %d got a shared payload", i)
					}
				default:
					expectHears(t, fmt.Sprint("silent ", i), o.frames(2, 52), mixFreqs[:2], []float64{200})
					if same := outs[9].ptrs[51]; o.codec == outs[9].codec && last != same {
						t.Errorf("silent leg %d did not get the shared payload", i)
					}
				}
			}
		})
	}
}

func TestMixerTalkHangover(t *testing.T) {
	m := New(Config{TalkHangover: 100 * time.Millisecond}) // 5 frames
	defer m.Close()
	talker := mixTone(440, 0.2)
	mustAdd(t, m, "t", talker, newMixOut(codec.PCMU()), LegOptions{})
	mustAdd(t, m, "l", nil, newMixOut(codec.PCMU()), LegOptions{})
	tickN(m, 5)
	talker.osc = nil // digital silence from now on
	var talking []int
	for range 8 {
		m.Tick()
		talking = append(talking, m.Stats().LastTalkers)
	}
	// 5 frames of hangover, then a fade-out frame, then silence.
	if want := []int{1, 1, 1, 1, 1, 1, 0, 0}; !slices.Equal(talking, want) {
		t.Fatalf("talkers per frame %v, want %v", talking, want)
	}
}

func TestMixerDeafAndSkipped(t *testing.T) {
	m := New(Config{})
	defer m.Close()
	deaf := newMixOut(codec.PCMU())
	mustAdd(t, m, "a", mixTone(440, 0.2), newMixOut(codec.PCMU()), LegOptions{})
	mustAdd(t, m, "deaf", mixTone(700, 0.2), deaf, LegOptions{Deaf: true})
	mustAdd(t, m, "nocodec", nil, newMixOut(nil), LegOptions{})
	tickN(m, 10)
	if r := dsp.RMS(deaf.pcm); r != 0 {
		t.Fatalf("deaf leg hears RMS %g", r)
	}
	m.SetDeaf("deaf", false)
	tickN(m, 10)
	expectHears(t, "undeafened", deaf.frames(11, 20), []float64{440}, []float64{700})
	if st := m.Stats(); st.Skipped != 20 {
		t.Fatalf("skipped %d frames for the leg without codec, want 20", st.Skipped)
	}
}

func TestMixerLifecycle(t *testing.T) {
	base := runtime.NumGoroutine()
	m := New(Config{Interval: 10 * time.Millisecond})
	if m.Interval() != 10*time.Millisecond {
		t.Fatalf("interval %v", m.Interval())
	}
	if err := m.Add("x", nil, nil, LegOptions{}); err == nil {
		t.Fatal("a leg with neither input nor output was added")
	}
	mustAdd(t, m, "x", &mixSrc{}, nil, LegOptions{})
	if err := m.AddTap("x", &mixTap{}); !errors.Is(err, ErrLegExists) {
		t.Fatalf("duplicate id: %v", err)
	}
	m.Remove("nobody")
	m.SetMuted("nobody", true)
	m.Exclude("nobody", time.Second)
	m.StopWhisper("nobody")
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() { _ = m.Close() })
	}
	wg.Wait()
	// Goroutines of earlier tests may still be on their way out: wait a
	// little for the count to come back, but not for ever.
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base {
		t.Fatalf("%d goroutines after Close, %d before", n, base)
	}
	if err := m.Start(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
	if err := m.Add("y", &mixSrc{}, nil, LegOptions{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Add after Close: %v", err)
	}
	frames := m.Stats().Frames
	m.Tick()
	if m.Stats().Frames != frames {
		t.Fatal("Tick mixed after Close")
	}
}

// TestMixerConcurrentControl changes legs while frames are mixed, for the
// race detector.
func TestMixerConcurrentControl(t *testing.T) {
	m := New(Config{})
	defer m.Close()
	mustAdd(t, m, "base", mixTone(440, 0.2), newMixOut(codec.PCMU()), LegOptions{})
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
				m.Tick()
			}
		}
	})
	for i := range 200 {
		id := fmt.Sprint(i % 5)
		_ = m.Add(id, mixTone(700, 0.1), mixDiscard{codec.PCMU()}, LegOptions{Muted: i%3 == 0})
		m.SetMuted(id, i%2 == 0)
		m.SetDeaf(id, i%4 == 0)
		m.Exclude(id, time.Duration(i%3)*20*time.Millisecond)
		_ = m.Whisper(id, "base")
		if i%7 == 0 {
			m.StopWhisper(id)
		}
		_ = m.Stats()
		if i%2 == 1 {
			m.Remove(id)
		}
	}
	close(done)
	wg.Wait()
}

func TestMixerSteadyStateAllocatesNothing(t *testing.T) {
	m := New(Config{})
	defer m.Close()
	for i := range 10 {
		in := Input(mixDiscard{})
		if i < 3 {
			in = mixTone(300+100*float64(i), 0.2)
		}
		c := codec.PCMU()
		if i%2 == 1 {
			c = codec.PCMA()
		}
		mustAdd(t, m, fmt.Sprint(i), in, mixDiscard{c}, LegOptions{Deaf: i == 9})
	}
	_ = m.Whisper("2", "5")
	if err := m.AddTap("tap", audio.SinkFunc(func([]int16) {})); err != nil {
		t.Fatal(err)
	}
	tickN(m, 3)
	if a := testing.AllocsPerRun(100, m.Tick); a != 0 {
		t.Fatalf("%v allocations per frame", a)
	}
}

func TestAudioQueue(t *testing.T) {
	q := NewQueue()
	buf := make([]int16, 0, mixN)
	if _, st := q.ReadFrame(buf); st != media.FrameEmpty {
		t.Fatal("empty queue played")
	}
	frame := func(v int16) []int16 {
		f := make([]int16, mixN)
		f[0] = v
		return f
	}
	q.WriteAudio(frame(1))
	if _, st := q.ReadFrame(buf); st != media.FrameEmpty {
		t.Fatal("played before two frames were queued")
	}
	q.WriteAudio(frame(2))
	for _, want := range []int16{1, 2} {
		f, st := q.ReadFrame(buf)
		if st != media.FrameNormal || len(f) != mixN || f[0] != want {
			t.Fatalf("got %v %d, want frame %d", st, f[0], want)
		}
	}
	if _, st := q.ReadFrame(buf); st != media.FrameEmpty {
		t.Fatal("underrun not reported")
	}
	for v := range int16(8) {
		q.WriteAudio(frame(v))
	}
	if f, _ := q.ReadFrame(buf); f[0] != 3 || q.Dropped() != 3 {
		t.Fatalf("after overflow: frame %d, %d dropped", f[0], q.Dropped())
	}

	// Through a mixer: a source heard by a leg.
	m := New(Config{})
	defer m.Close()
	q = NewQueue()
	if err := m.AddSource("music", q); err != nil {
		t.Fatal(err)
	}
	out := newMixOut(codec.PCMU())
	mustAdd(t, m, "l", nil, out, LegOptions{})
	osc := dsp.NewOscillator(8000, 500, 0.3)
	f := make([]int16, mixN)
	osc.Read(f)
	q.WriteAudio(f)
	for range 30 {
		osc.Read(f)
		q.WriteAudio(f)
		m.Tick()
	}
	expectHears(t, "listener of the queue", out.frames(3, 30), []float64{500}, nil)
}

// mixPeer is the far end of a real RTP session: it sends a tone and
// collects the mix it receives.
type mixPeer struct {
	conn *net.UDPConn
	sess *media.Session
	freq float64

	mu      sync.Mutex
	pcm     []int16
	markers []bool
	got     chan struct{} // closed when enough packets arrived
	want    int
}

func (p *mixPeer) read() {
	buf := make([]byte, 1500)
	for {
		n, err := p.conn.Read(buf)
		if err != nil {
			return
		}
		var pkt rtp.Packet
		if pkt.Unmarshal(buf[:n]) != nil || pkt.PayloadType != 0 {
			continue
		}
		p.mu.Lock()
		p.pcm = codec.PCMU().Decode(p.pcm, pkt.Payload)
		p.markers = append(p.markers, pkt.Marker)
		if len(p.markers) == p.want {
			close(p.got)
		}
		p.mu.Unlock()
	}
}

// TestMixerRealSessions mixes three RTP sessions on 127.0.0.1 whose peers
// send tones, on the mixer's own clock.
func TestMixerRealSessions(t *testing.T) {
	m := New(Config{})
	defer m.Close()
	const want = 75 // 1.5 s of mix per peer
	var peers []*mixPeer
	var readers sync.WaitGroup
	for i, f := range mixFreqs {
		pr := media.PortRange{IP: netip.MustParseAddr("127.0.0.1")}
		rc, rtcpConn, err := pr.ListenPair()
		if err != nil {
			t.Fatal(err)
		}
		sess := media.NewSession(rc, media.SessionConfig{Codec: codec.PCMU(), RTCP: rtcpConn})
		defer sess.Close()
		in, err := sess.TakeFrames("test mixer", media.JitterConfig{})
		if err != nil {
			t.Fatal(err)
		}
		conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		sess.SetRemote(conn.LocalAddr().(*net.UDPAddr).AddrPort())
		p := &mixPeer{conn: conn, sess: sess, freq: f, got: make(chan struct{}), want: want}
		peers = append(peers, p)
		readers.Go(p.read)
		mustAdd(t, m, fmt.Sprint(i), in, sess, LegOptions{})
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	// The peers send 20 ms of their tone every 20 ms until each has heard
	// enough.
	stop := make(chan struct{})
	var sender sync.WaitGroup
	sender.Go(func() {
		oscs := make([]*dsp.Oscillator, len(peers))
		for i, p := range peers {
			oscs[i] = dsp.NewOscillator(8000, p.freq, 0.2)
		}
		pcm := make([]int16, mixN)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for seq := uint16(1); ; seq++ {
			for i, p := range peers {
				oscs[i].Read(pcm)
				pkt := rtp.Packet{
					Header:  rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * mixN, SSRC: uint32(i + 1)},
					Payload: codec.PCMU().Encode(nil, pcm),
				}
				b, _ := pkt.Marshal()
				_, _ = p.conn.WriteToUDPAddrPort(b, p.sess.LocalAddr())
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	timeout := time.After(10 * time.Second)
	for i, p := range peers {
		select {
		case <-p.got:
		case <-timeout:
			close(stop)
			sender.Wait()
			t.Fatalf("peer %d: no %d packets of mix in 10 s", i, want)
		}
	}
	close(stop)
	sender.Wait()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range peers {
		p.sess.Close()
		p.conn.Close()
	}
	readers.Wait()
	for i, p := range peers {
		if !p.markers[0] {
			t.Errorf("peer %d: first packet without marker", i)
		}
		// The last second: the jitter buffers have filled by then.
		pcm := p.pcm[(want-50)*mixN : want*mixN]
		var hear []float64
		for j, f := range mixFreqs {
			if j != i {
				hear = append(hear, f)
			}
		}
		expectHears(t, fmt.Sprintf("peer %d", i), pcm, hear, mixFreqs[i:i+1])
		t.Logf("peer %d hears %v Hz at %.1f dB", i, mixFreqs, levels(pcm, mixFreqs[:]...))
	}
	if st := m.Stats(); st.Frames < want || st.Packets < 3*want {
		t.Fatalf("stats %+v", st)
	}
}

// BenchmarkMixer measures one frame (ns/op is per 20 ms frame) for N legs
// of which two, or all, talk; the silent ones send line noise below the
// talk threshold, and every leg has a PCMU output that discards payloads.
func BenchmarkMixer(b *testing.B) {
	for _, n := range []int{3, 10, 100, 1000} {
		for _, all := range []bool{false, true} {
			talkers := 2
			if all {
				talkers = n
			}
			b.Run(fmt.Sprintf("N=%d/talkers=%d", n, talkers), func(b *testing.B) {
				m := New(Config{})
				defer m.Close()
				for i := range n {
					var in Input
					if i < talkers {
						in = mixLoop(200+float64(i*37%3000), 0.1)
					} else {
						in = mixLoop(150, 0.0005)
					}
					mustAdd(b, m, fmt.Sprint(i), in, mixDiscard{codec.PCMU()}, LegOptions{})
				}
				tickN(m, 3)
				before := m.Stats()
				b.ReportAllocs()
				for b.Loop() {
					m.Tick()
				}
				st := m.Stats()
				b.ReportMetric(float64(st.Encodes-before.Encodes)/float64(st.Frames-before.Frames), "encodes/frame")
			})
		}
	}
}

// mixLoopInput replays one second of a tone, as a jitter buffer would
// deliver it: copied into dst.
type mixLoopInput struct {
	pcm []int16
	pos int
}

func mixLoop(freq, amp float64) *mixLoopInput {
	return &mixLoopInput{pcm: dsp.Sine(8000, freq, time.Second, amp)}
}

func (l *mixLoopInput) ReadFrame(dst []int16) ([]int16, media.FrameStatus) {
	dst = append(dst[:0], l.pcm[l.pos:l.pos+mixN]...)
	l.pos = (l.pos + mixN) % len(l.pcm)
	return dst, media.FrameNormal
}

// TestMixerTalkingIndicator: OnTalking reports a leg that starts talking
// in its first frame and one that stops after the hangover (200 ms = 10
// frames), once per change; a muted talker still talks; Talking agrees;
// a removed handler hears nothing.
func TestMixerTalkingIndicator(t *testing.T) {
	m := New(Config{})
	t.Cleanup(func() { m.Close() })
	talker, quiet := mixTone(700, 0.2), &mixSrc{}
	mustAdd(t, m, "talker", talker, newMixOut(codec.PCMU()), LegOptions{Muted: true})
	mustAdd(t, m, "quiet", quiet, newMixOut(codec.PCMU()), LegOptions{})
	var got []TalkChange
	remove := m.OnTalking(func(c TalkChange) { got = append(got, c) })
	tickN(m, 5)
	if want := []TalkChange{{"talker", true}}; !slices.Equal(got, want) || !m.Talking("talker") || m.Talking("quiet") || m.Talking("nobody") {
		t.Fatalf("after 5 frames: %v, Talking %v/%v; want %v", got, m.Talking("talker"), m.Talking("quiet"), want)
	}
	talker.osc, talker.dc = nil, 0 // silence from now
	tickN(m, 10)
	if len(got) != 1 {
		t.Fatalf("the gate closed within the hangover: %v", got)
	}
	tickN(m, 2)
	if want := []TalkChange{{"talker", true}, {"talker", false}}; !slices.Equal(got, want) || m.Talking("talker") {
		t.Fatalf("after the hangover: %v, want %v", got, want)
	}
	remove()
	quiet.dc = 8000
	tickN(m, 3)
	if len(got) != 2 || !m.Talking("quiet") {
		t.Fatalf("a removed handler got %v; Talking(quiet) %v", got[2:], m.Talking("quiet"))
	}
}
