package mix

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/media"
	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/media/codec"
	"github.com/switchboard-sip/switchboard/media/dsp"
)

// wideSrc is a fake Input of a G.722 leg: 320-sample frames at 16 kHz.
type wideSrc struct{ osc *dsp.Oscillator }

func (s *wideSrc) ReadFrame(dst []int16) ([]int16, media.FrameStatus) {
	dst = slices.Grow(dst[:0], 320)[:320]
	s.osc.Read(dst)
	return dst, media.FrameNormal
}

// wideOut is a fake Output of a G.722 leg, decoding its stream as the
// phone would, with one stream decoder.
type wideOut struct {
	dec codec.Decoder
	pcm []int16
	bad string
}

func (o *wideOut) Codec() codec.Codec { return codec.G722() }

func (o *wideOut) WriteRTPPayload(pt uint8, samples int, payload []byte, marker bool) error {
	if pt != 9 || samples != 160 || len(payload) != 160 {
		o.bad = fmt.Sprintf("pt %d samples %d len %d", pt, samples, len(payload))
	}
	o.pcm = o.dec.Decode(o.pcm, payload)
	return nil
}

// TestMixerG722Leg: a G.722 participant (16 kHz frames in and out) and a
// PCMU participant hear each other's tones through the 8 kHz mix: the
// G.722 leg's frames are resampled down on the way in and its mix up on
// the way out, 160 octets and 160 timestamp units per 20 ms.
func TestMixerG722Leg(t *testing.T) {
	m := New(Config{})
	t.Cleanup(func() { m.Close() })
	wide := &wideOut{dec: codec.NewDecoder(codec.G722())}
	narrow := newMixOut(codec.PCMU())
	mustAdd(t, m, "wide", &wideSrc{osc: dsp.NewOscillator(16000, 500, 0.3)}, wide, LegOptions{})
	mustAdd(t, m, "narrow", mixTone(900, 0.3), narrow, LegOptions{})
	tickN(m, 50)
	if wide.bad != "" || narrow.bad != "" {
		t.Fatalf("malformed packets: wide %q, narrow %q", wide.bad, narrow.bad)
	}
	if len(wide.pcm) != 50*320 {
		t.Fatalf("G.722 leg decoded %d samples, want %d", len(wide.pcm), 50*320)
	}
	w, n := wide.pcm[10*320:], narrow.frames(10, 50)
	if f := dsp.ToneFraction(w, 16000, 900); f < 0.9 {
		t.Errorf("G.722 leg hears 900 Hz in %.0f%%", f*100)
	}
	if dsp.HasTone(w, 16000, 500) {
		t.Error("G.722 leg hears itself")
	}
	if f := dsp.ToneFraction(n, 8000, 500); f < 0.9 {
		t.Errorf("PCMU leg hears 500 Hz in %.0f%%", f*100)
	}
	if st := m.Stats(); st.Skipped != 0 {
		t.Errorf("skipped %d frames", st.Skipped)
	}
}

// TestMixerWidebandMix: two G.722 legs and a PCMU leg. The mix runs at
// 16 kHz, so the G.722 listener hears the other G.722 leg's 6 kHz tone,
// which an 8 kHz mix cannot carry; the PCMU legs hear the mix resampled
// to 8 kHz with the 6 kHz tone filtered out (no alias at 2 kHz), and
// mix-minus holds everywhere. The resampled full mix is encoded once for
// both silent PCMU listeners, and a tap gets that 8 kHz mix too.
func TestMixerWidebandMix(t *testing.T) {
	m := New(Config{})
	t.Cleanup(func() { m.Close() })
	w1 := &wideOut{dec: codec.NewDecoder(codec.G722())}
	w2 := &wideOut{dec: codec.NewDecoder(codec.G722())}
	narrow := newMixOut(codec.PCMU())
	l1, l2 := newMixOut(codec.PCMU()), newMixOut(codec.PCMU())
	mustAdd(t, m, "w1", &wideSrc{osc: dsp.NewOscillator(16000, 6000, 0.2)}, w1, LegOptions{})
	mustAdd(t, m, "w2", &wideSrc{osc: dsp.NewOscillator(16000, 1500, 0.2)}, w2, LegOptions{})
	mustAdd(t, m, "narrow", mixTone(900, 0.2), narrow, LegOptions{})
	mustAdd(t, m, "l1", nil, l1, LegOptions{})
	mustAdd(t, m, "l2", nil, l2, LegOptions{})
	tap := &mixTap{}
	if err := m.AddTap("rec", tap); err != nil {
		t.Fatal(err)
	}
	tickN(m, 5)
	before := m.Stats()
	tickN(m, 45)
	st := m.Stats()
	if w1.bad != "" || w2.bad != "" || narrow.bad != "" {
		t.Fatalf("malformed packets: %q %q %q", w1.bad, w2.bad, narrow.bad)
	}
	if st.Rate != 16000 {
		t.Fatalf("mix rate %d, want 16000", st.Rate)
	}
	frames := float64(st.Frames - before.Frames)
	// Per frame: the PCMU talker's input up, the full mix down once for
	// the two PCMU listeners, the PCMU talker's own mix down.
	if r := float64(st.Resamples-before.Resamples) / frames; r != 3 {
		t.Errorf("%.1f resamples per frame, want 3", r)
	}
	// Per frame: one shared PCMU full mix, the PCMU talker's own, two
	// G.722 encoders.
	if e := float64(st.Encodes-before.Encodes) / frames; e != 4 {
		t.Errorf("%.1f encodes per frame, want 4", e)
	}
	a, b := w1.pcm[10*320:], w2.pcm[10*320:]
	for _, c := range []struct {
		who       string
		pcm       []int16
		hear, not []float64
	}{
		{"w1", a, []float64{1500, 900}, []float64{6000}},
		{"w2", b, []float64{6000, 900}, []float64{1500}},
	} {
		for _, f := range c.hear {
			if fr := dsp.ToneFraction(c.pcm, 16000, f); fr < 0.9 {
				t.Errorf("%s hears %v Hz in %.0f%% (level %.1f dB)", c.who, f, fr*100, dsp.LevelDB(c.pcm, 16000, f))
			}
		}
		for _, f := range c.not {
			if dsp.HasTone(c.pcm, 16000, f) {
				t.Errorf("%s hears its own %v Hz", c.who, f)
			}
		}
	}
	if l := dsp.LevelDB(b, 16000, 6000); l < -20 {
		t.Errorf("w2 hears 6 kHz at %.1f dB, sent at -14 dB", l)
	}
	n := narrow.frames(10, 50)
	expectHears(t, "PCMU talker", n, []float64{1500}, []float64{900, 2000})
	expectHears(t, "PCMU listener", l1.frames(10, 50), []float64{1500, 900}, []float64{2000})
	if !slices.Equal(l1.frames(10, 50), l2.frames(10, 50)) {
		t.Error("the two PCMU listeners hear different mixes")
	}
	// The tap gets the 8 kHz mix, from the shared conversion.
	if len(tap.pcm) != 50*160 {
		t.Fatalf("tap got %d samples, want %d at 8 kHz", len(tap.pcm), 50*160)
	}
	expectHears(t, "tap", tap.pcm[10*160:], []float64{1500, 900}, []float64{2000})
}

// TestMixerNarrowbandResamplesNothing: without a wideband listener the
// mixer sums at 8 kHz and resamples nothing, even with a 16 kHz source.
func TestMixerNarrowbandResamplesNothing(t *testing.T) {
	m := New(Config{})
	t.Cleanup(func() { m.Close() })
	a, b := newMixOut(codec.PCMU()), newMixOut(codec.PCMA())
	mustAdd(t, m, "a", mixTone(500, 0.2), a, LegOptions{})
	mustAdd(t, m, "b", mixTone(900, 0.2), b, LegOptions{})
	tickN(m, 20)
	if st := m.Stats(); st.Rate != 8000 || st.Resamples != 0 {
		t.Fatalf("all-G.711 mixer: rate %d, %d resamples", st.Rate, st.Resamples)
	}
	expectHears(t, "a", a.frames(5, 20), []float64{900}, []float64{500})
	// A 16 kHz source (a wideband player) is resampled down, once a frame.
	if err := m.AddSource("wide", &wideSrc{osc: dsp.NewOscillator(16000, 1300, 0.2)}); err != nil {
		t.Fatal(err)
	}
	tickN(m, 20)
	if st := m.Stats(); st.Rate != 8000 || st.Resamples != 20 {
		t.Errorf("with a 16 kHz source: rate %d, %d resamples, want 8000 and 20", st.Rate, st.Resamples)
	}
	expectHears(t, "a", a.frames(30, 40), []float64{900, 1300}, []float64{500})
}

// TestMixerWidebandPlayer: a 16 kHz player, through a Queue, into a mix
// with a G.722 listener: the listener hears the player's 6 kHz tone.
func TestMixerWidebandPlayer(t *testing.T) {
	src, err := audio.NewClipSource(&audio.Clip{SampleRate: 16000, Channels: 1, Samples: dsp.Sine(16000, 6000, 2*time.Second, 0.2)})
	if err != nil {
		t.Fatal(err)
	}
	p, err := audio.NewPlayer(src, audio.PlayerConfig{Mode: audio.PlayerManual, SampleRate: 16000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	q := NewQueue()
	p.AddSink(q)
	m := New(Config{})
	t.Cleanup(func() { m.Close() })
	w := &wideOut{dec: codec.NewDecoder(codec.G722())}
	mustAdd(t, m, "w", nil, w, LegOptions{})
	if err := m.AddSource("player", q); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	// The player's clock pushes; this clock pulls, one frame per 20 ms.
	tk := time.NewTicker(20 * time.Millisecond)
	defer tk.Stop()
	for range 50 {
		<-tk.C
		m.Tick()
	}
	if fr := dsp.ToneFraction(w.pcm[10*320:], 16000, 6000); fr < 0.8 {
		t.Errorf("G.722 listener hears the player's 6 kHz in %.0f%%", fr*100)
	}
}

// burstSrc talks (a tone) for `on` frames and is silent for `off`, over
// and over.
type burstSrc struct {
	osc     *dsp.Oscillator
	on, off int
	n       int
}

func (s *burstSrc) ReadFrame(dst []int16) ([]int16, media.FrameStatus) {
	dst = slices.Grow(dst[:0], mixN)[:mixN]
	s.osc.Read(dst)
	if s.n%(s.on+s.off) >= s.on {
		clear(dst)
	}
	s.n++
	return dst, media.FrameNormal
}

// TestMixerWidebandTalkerSwitchIsSeamless: a PCMU leg in a 16 kHz mix
// that starts and stops talking moves between the shared down-converted
// mix and its own mix-minus, resampled by its own resampler. What it
// hears — the G.722 leg's 1037 Hz — must not change at those switches: the
// stream is sample for sample the one it hears when it never talks,
// because its resampler takes the shared one's history when it starts.
func TestMixerWidebandTalkerSwitchIsSeamless(t *testing.T) {
	hear := func(in Input) []int16 {
		m := New(Config{})
		defer m.Close()
		out := newMixOut(codec.PCMU())
		// 1037 Hz: not a whole number of cycles in any few frames, so a
		// resampler's history from an earlier frame is not the right one.
		mustAdd(t, m, "wide", &wideSrc{osc: dsp.NewOscillator(16000, 1037, 0.2)}, &wideOut{dec: codec.NewDecoder(codec.G722())}, LegOptions{})
		mustAdd(t, m, "narrow", in, out, LegOptions{})
		tickN(m, 100)
		return out.pcm
	}
	talks := hear(&burstSrc{osc: dsp.NewOscillator(8000, 500, 0.2), on: 7, off: 16})
	silent := hear(&mixSrc{empty: true})
	if len(talks) != 100*mixN || len(silent) != len(talks) {
		t.Fatalf("%d and %d samples", len(talks), len(silent))
	}
	for i := range talks {
		if talks[i] != silent[i] {
			t.Fatalf("sample %d (frame %d) differs: %d while talking, %d when silent", i, i/mixN, talks[i], silent[i])
		}
	}
	if f := dsp.ToneFraction(talks[10*mixN:], 8000, 1037); f < 0.95 {
		t.Errorf("the PCMU leg hears 1037 Hz in %.0f%%", f*100)
	}
}

// TestMixerRateFollowsListeners: the mix goes to 16 kHz the frame after
// a G.722 listener joins and back to 8 kHz, resampling nothing, the frame
// after it leaves; the PCMU legs hear each other throughout.
func TestMixerRateFollowsListeners(t *testing.T) {
	m := New(Config{})
	t.Cleanup(func() { m.Close() })
	a, b := newMixOut(codec.PCMU()), newMixOut(codec.PCMU())
	mustAdd(t, m, "a", mixTone(500, 0.2), a, LegOptions{})
	mustAdd(t, m, "b", mixTone(900, 0.2), b, LegOptions{})
	tickN(m, 10)
	if st := m.Stats(); st.Rate != 8000 {
		t.Fatalf("rate %d before the G.722 leg", st.Rate)
	}
	mustAdd(t, m, "wide", nil, &wideOut{dec: codec.NewDecoder(codec.G722())}, LegOptions{})
	tickN(m, 2)
	if st := m.Stats(); st.Rate != 16000 {
		t.Fatalf("rate %d with a G.722 listener", st.Rate)
	}
	tickN(m, 20)
	m.Remove("wide")
	tickN(m, 2)
	before := m.Stats()
	tickN(m, 20)
	if st := m.Stats(); st.Rate != 8000 || st.Resamples != before.Resamples {
		t.Fatalf("after the G.722 leg left: rate %d, %d resamples in 20 frames", st.Rate, st.Resamples-before.Resamples)
	}
	if len(a.pcm) != 54*mixN {
		t.Fatalf("a got %d samples, want %d", len(a.pcm), 54*mixN)
	}
	expectHears(t, "a at 16 kHz", a.frames(14, 32), []float64{900}, []float64{500})
	expectHears(t, "a back at 8 kHz", a.frames(34, 54), []float64{900}, []float64{500})
}
