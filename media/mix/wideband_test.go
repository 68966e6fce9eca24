package mix

import (
	"fmt"
	"slices"
	"testing"

	"github.com/switchboard-sip/switchboard/media"
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
