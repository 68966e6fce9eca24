package dsp_test

import (
	"fmt"
	"time"

	"github.com/switchboard-sip/switchboard/media/dsp"
)

// Asserting on audio: generate a known tone, and check what arrived. Two
// tones mixed are both found; a frequency that is absent is not.
func ExampleHasTone() {
	a := dsp.Sine(8000, 440, time.Second, 0.3) // rate, what, how long, how loud
	b := dsp.Sine(8000, 1000, time.Second, 0.3)
	mixed := make([]int16, len(a))
	for i := range a {
		mixed[i] = a[i] + b[i]
	}
	fmt.Println("440 Hz:", dsp.HasTone(mixed, 8000, 440))
	fmt.Println("1 kHz:", dsp.HasTone(mixed, 8000, 1000))
	fmt.Println("2 kHz:", dsp.HasTone(mixed, 8000, 2000))
	fmt.Printf("level of 1 kHz: %.0f dB\n", dsp.LevelDB(b, 8000, 1000))
	// Output:
	// 440 Hz: true
	// 1 kHz: true
	// 2 kHz: false
	// level of 1 kHz: -10 dB
}

// In-band DTMF: the key presses a caller sends when no RFC 4733
// telephone-event was negotiated, detected from the decoded audio in any
// chunk size.
func ExampleDTMFDetector() {
	pcm := dsp.GenerateDTMF(8000, "12#", 80*time.Millisecond, 60*time.Millisecond, 0.25)
	d := dsp.NewDTMFDetector(8000)
	var keys []rune
	for len(pcm) > 0 {
		n := min(160, len(pcm)) // 20 ms frames, as they come off the network
		keys = append(keys, d.Write(pcm[:n])...)
		pcm = pcm[n:]
	}
	fmt.Println(string(keys))
	// Output:
	// 12#
}
