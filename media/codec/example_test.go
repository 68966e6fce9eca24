package codec_test

import (
	"fmt"

	"github.com/switchboard-sip/switchboard/media/codec"
)

// G.711 round trip: 16-bit linear PCM in, one byte per sample on the wire,
// PCM back out. The companding keeps small values nearly exact and loses
// precision on loud ones, which the ear does not notice.
func Example_g711() {
	pcm := []int16{0, 100, -100, 1000, 10000, -32768}
	for _, name := range []string{"PCMU", "PCMA"} {
		c, _ := codec.ByName(name)
		enc := codec.NewEncoder(c) // per-stream coders: ready for stateful codecs
		dec := codec.NewDecoder(c)

		payload := enc.Encode(nil, pcm)
		back := dec.Decode(nil, payload)
		fmt.Printf("%s pt=%d clock=%d Hz: %d samples -> %d bytes -> %v\n",
			c.Name(), c.PayloadType(), c.ClockRate(), len(pcm), len(payload), back)
	}
	// Output:
	// PCMU pt=0 clock=8000 Hz: 6 samples -> 6 bytes -> [0 104 -96 988 9852 -32124]
	// PCMA pt=8 clock=8000 Hz: 6 samples -> 6 bytes -> [8 104 -104 1008 9984 -32256]
}

// ByName finds a codec by its SDP encoding name, case-insensitively.
func ExampleByName() {
	for _, name := range []string{"pcmu", "PCMA", "opus"} {
		c, ok := codec.ByName(name)
		if !ok {
			fmt.Println(name, "unsupported")
			continue
		}
		fmt.Printf("%s: payload type %d, %d Hz audio\n", c.Name(), c.PayloadType(), c.SampleRate())
	}
	// Output:
	// PCMU: payload type 0, 8000 Hz audio
	// PCMA: payload type 8, 8000 Hz audio
	// opus unsupported
}
