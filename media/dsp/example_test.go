package dsp_test

import (
	"fmt"
	"time"

	"github.com/switchboard-sip/switchboard/media/dsp"
)

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
