// Package dsp generates and analyses test audio: sine tones, tone levels
// measured with the Goertzel algorithm, RMS, and a tone detector robust
// enough to assert on what a call actually carried.
//
// It works on mono int16 PCM at any sample rate and has no dependencies on
// the rest of Switchboard, so integration tests and users' own tests can use
// it to check audio end to end: play a known tone into one side of a call,
// record the other side, and assert the tone arrived.
//
// Levels are relative to digital full scale: a sine whose peak is 32767
// measures 1.0 with [Goertzel] and 0 dB with [LevelDB].
//
// A short example:
//
//	tone := dsp.Sine(8000, 1000, time.Second, 0.5) // one second of 1 kHz at half scale
//	// ... send tone through a call and record the far end into got ...
//	if dsp.ToneFraction(got, 8000, 1000) < 0.9 {
//		t.Errorf("1 kHz tone missing from recording")
//	}
//	if dsp.HasTone(got, 8000, 440) {
//		t.Errorf("unexpected 440 Hz tone")
//	}
package dsp
