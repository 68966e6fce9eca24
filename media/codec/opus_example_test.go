//go:build opus

package codec_test

import (
	"fmt"
	"math"

	"github.com/switchboard-sip/switchboard/media/codec"
)

// Opus (built with -tags opus) takes the payload type the call negotiated,
// runs its RTP clock at 48 kHz and its PCM at 16 kHz: 20 ms is 320
// samples in and out, and 960 ticks of RTP time, which the receiver reads
// from the packet itself. A lost packet is recovered from the in-band FEC
// of the next one.
func ExampleOpus() {
	c := codec.WithPayloadType(codec.Opus(), 96) // as negotiated
	enc := codec.NewEncoder(c)
	dec := codec.NewDecoder(c)

	var packets [][]byte
	for n := range 3 {
		pcm := make([]int16, 320) // 20 ms at 16 kHz
		for i := range pcm {
			pcm[i] = int16(8000 * math.Sin(2*math.Pi*440*float64(n*320+i)/16000))
		}
		packets = append(packets, enc.Encode(nil, pcm))
	}
	fmt.Printf("%s pt=%d clock=%d Hz audio=%d Hz: %d ticks per packet\n",
		c.Name(), c.PayloadType(), c.ClockRate(), c.SampleRate(), codec.Samples(c, packets[0]))

	out := dec.Decode(nil, packets[0])
	out = dec.(codec.LossConcealer).Conceal(out, 320, packets[2]) // packet 1 lost
	out = dec.Decode(out, packets[2])
	fmt.Println("samples out:", len(out))
	// Output:
	// opus pt=96 clock=48000 Hz audio=16000 Hz: 960 ticks per packet
	// samples out: 960
}
