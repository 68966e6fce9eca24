package mix_test

import (
	"fmt"

	"github.com/switchboard-sip/switchboard/media"
	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/media/codec"
	"github.com/switchboard-sip/switchboard/media/dsp"
	"github.com/switchboard-sip/switchboard/media/mix"
)

// tone is an Input that speaks a continuous tone, as a caller's jitter
// buffer would deliver speech.
func tone(freq float64) mix.Input {
	osc := dsp.NewOscillator(8000, freq, 0.3)
	return mix.InputFunc(func(dst []int16) ([]int16, media.FrameStatus) {
		dst = append(dst[:0], make([]int16, 160)...) // 20 ms at 8 kHz
		osc.Read(dst)
		return dst, media.FrameNormal
	})
}

// phone is an Output that decodes what it is sent, as the far end would.
type phone struct{ heard []int16 }

func (p *phone) Codec() codec.Codec { return codec.PCMU() }

func (p *phone) WriteRTPPayload(pt uint8, samples int, payload []byte, marker bool) error {
	p.heard = codec.PCMU().Decode(p.heard, payload)
	return nil
}

// Mix-minus: every leg hears everybody but itself. Ann speaks at 440 Hz
// and Ben at 1 kHz; Ann hears only Ben, Ben only Ann, and a tap (a
// recorder, say) hears both.
func ExampleMixer() {
	m := mix.New(mix.Config{})
	defer m.Close()

	ann, ben := &phone{}, &phone{}
	var recording []int16
	_ = m.Add("ann", tone(440), ann, mix.LegOptions{})
	_ = m.Add("ben", tone(1000), ben, mix.LegOptions{})
	_ = m.AddTap("recorder", audio.SinkFunc(func(pcm []int16) { recording = append(recording, pcm...) }))

	for range 50 { // one second; Start would run this clock itself
		m.Tick()
	}
	heard := func(pcm []int16) string {
		return fmt.Sprintf("440 Hz %v, 1 kHz %v", dsp.HasTone(pcm, 8000, 440), dsp.HasTone(pcm, 8000, 1000))
	}
	fmt.Println("ann hears:", heard(ann.heard))
	fmt.Println("ben hears:", heard(ben.heard))
	fmt.Println("recorder: ", heard(recording))
	fmt.Println("frames:", m.Stats().Frames)
	// Output:
	// ann hears: 440 Hz false, 1 kHz true
	// ben hears: 440 Hz true, 1 kHz false
	// recorder:  440 Hz true, 1 kHz true
	// frames: 50
}
