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
	for _, name := range []string{"pcmu", "PCMA", "GSM"} {
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
	// GSM unsupported
}

// G.722 keeps ADPCM state from packet to packet, so each stream takes its
// own encoder and decoder. 20 ms of 16 kHz audio is 320 samples, 160
// octets on the wire and 160 ticks of the 8 kHz RTP clock. A 6 kHz tone,
// which 8 kHz G.711 cannot carry at all, comes through.
func ExampleG722() {
	c := codec.G722()
	enc := codec.NewEncoder(c) // one per outgoing stream
	dec := codec.NewDecoder(c) // one per incoming stream

	// sin(2π·6000·n/16000) repeats every 8 samples.
	sine6k := [8]int16{0, 7071, -10000, 7071, 0, -7071, 10000, -7071}
	var sent, heard []int16
	for packet := range 10 { // 200 ms
		pcm := make([]int16, 320)
		for i := range pcm {
			pcm[i] = sine6k[(packet*320+i)%8]
		}
		sent = append(sent, pcm...)
		payload := enc.Encode(nil, pcm)
		heard = dec.Decode(heard, payload)
		if packet == 0 {
			fmt.Printf("%s pt=%d clock=%d Hz audio=%d Hz: %d samples -> %d octets\n",
				c.Name(), c.PayloadType(), c.ClockRate(), c.SampleRate(), len(pcm), len(payload))
		}
	}
	// The filter bank delays the audio by 22 samples.
	end := len(heard)
	fmt.Println("sent:", sent[end-8-22:end-22])
	fmt.Println("heard:", heard[end-8:])
	// Output:
	// G722 pt=9 clock=8000 Hz audio=16000 Hz: 320 samples -> 160 octets
	// sent: [-10000 7071 0 -7071 10000 -7071 0 7071]
	// heard: [-9691 6821 -120 -6434 9123 -6437 -8 6487]
}
