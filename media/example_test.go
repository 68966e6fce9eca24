package media_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/netip"
	"slices"
	"time"

	"github.com/switchboard-sip/switchboard/media"
	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/media/codec"
	"github.com/switchboard-sip/switchboard/media/dsp"
)

// newSession opens an RTP session on a free loopback port. A call's
// sessions come from its platform's PortRange; the examples make their own.
func newSession(c codec.Codec) *media.Session {
	ports := &media.PortRange{IP: netip.MustParseAddr("127.0.0.1")}
	conn, err := ports.Listen()
	if err != nil {
		log.Fatal(err)
	}
	return media.NewSession(conn, media.SessionConfig{Codec: c})
}

// connect points two sessions at each other, as offer/answer would.
func connect(a, b *media.Session) {
	a.SetRemote(b.LocalAddr())
	b.SetRemote(a.LocalAddr())
}

// listen takes s's received audio and returns a channel of its frames
// (copied: a sink must not keep the slice it is given).
func listen(s *media.Session) <-chan []int16 {
	frames := make(chan []int16, 100)
	if _, err := s.TakeAudio("example", audio.SinkFunc(func(pcm []int16) {
		frames <- append([]int16(nil), pcm...)
	}), media.AudioOptions{}); err != nil {
		log.Fatal(err)
	}
	return frames
}

// collect reads n frames from frames, or fewer if they stop coming.
func collect(frames <-chan []int16, n int) []int16 {
	var pcm []int16
	for range n {
		select {
		case f := <-frames:
			pcm = append(pcm, f...)
		case <-time.After(time.Second):
			return pcm
		}
	}
	return pcm
}

// Two RTP sessions on loopback: one sends ten 20 ms frames of a 440 Hz
// tone, the other decodes them on arrival. Session counts what passed, as
// RTCP would report it.
func ExampleSession() {
	alice, bob := newSession(codec.PCMU()), newSession(codec.PCMU())
	defer alice.Close()
	defer bob.Close()
	connect(alice, bob)
	heard := listen(bob)

	tone := dsp.Sine(8000, 440, 200*time.Millisecond, 0.3)
	for frame := range slices.Chunk(tone, media.FrameSamples(alice.Codec())) {
		_ = alice.WriteFrame(frame) // WriteFrame does not pace; see Play
	}
	pcm := collect(heard, 10)

	fmt.Println("alice sent", alice.Stats().PacketsSent, "packets")
	fmt.Println("bob received", bob.Stats().PacketsReceived, "packets, lost", bob.Stats().PacketsLost)
	fmt.Println("bob heard 440 Hz:", dsp.HasTone(pcm, 8000, 440))
	// Output:
	// alice sent 10 packets
	// bob received 10 packets, lost 0
	// bob heard 440 Hz: true
}

// A Flow is what an application gets of a call's session: it plays
// (paced in real time), receives and observes, but cannot re-point the
// session or change its codec. A call without media has a nil Flow,
// which refuses politely.
func ExampleFlow() {
	app, phone := newSession(codec.PCMA()), newSession(codec.PCMA())
	defer app.Close()
	defer phone.Close()
	connect(app, phone)
	heard := listen(phone)

	flow := media.NewFlow(app) // endpoint.Call.Flow returns this
	var sent int
	remove := flow.ObserveSent(audio.SinkFunc(func(pcm []int16) { sent += len(pcm) }))
	err := flow.Play(context.Background(), dsp.Sine(flow.SampleRate(), 1000, 100*time.Millisecond, 0.3))
	remove()
	pcm := collect(heard, 5)
	fmt.Println("played:", err, sent, "samples of", flow.Codec().Name(), "at", flow.SampleRate(), "Hz")
	fmt.Println("the phone heard 1 kHz:", dsp.HasTone(pcm, 8000, 1000))

	var none *media.Flow // what a call that has no media yet returns
	fmt.Println("no media:", errors.Is(none.Play(context.Background(), pcm), media.ErrNoMedia))
	// Output:
	// played: <nil> 800 samples of PCMA at 8000 Hz
	// the phone heard 1 kHz: true
	// no media: true
}

// A Relay joins the sessions of the two legs of a back-to-back call: the
// caller speaks PCMU, the callee PCMA, so each packet is transcoded once;
// with matching codecs packets pass undecoded.
func ExampleRelay() {
	caller, leg1 := newSession(codec.PCMU()), newSession(codec.PCMU())
	leg2, callee := newSession(codec.PCMA()), newSession(codec.PCMA())
	for _, s := range []*media.Session{caller, leg1, leg2, callee} {
		defer s.Close()
	}
	connect(caller, leg1)
	connect(leg2, callee)
	heard := listen(callee)

	relay, err := media.NewRelay(media.NewFlow(leg1), media.NewFlow(leg2), media.RelayOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer relay.Close()
	if err := relay.Start(); err != nil {
		fmt.Println(err)
		return
	}

	for frame := range slices.Chunk(dsp.Sine(8000, 440, 200*time.Millisecond, 0.3), 160) {
		_ = caller.WriteFrame(frame)
	}
	pcm := collect(heard, 10)
	// The relay counts a packet after sending it: let the last count land.
	for i := 0; relay.Stats().AtoB.Transcoded < 10 && i < 200; i++ {
		time.Sleep(time.Millisecond)
	}

	st := relay.Stats().AtoB
	fmt.Printf("caller to callee: %d transcoded, %d forwarded as is, %d dropped\n", st.Transcoded, st.Forwarded, st.Dropped)
	fmt.Println("the callee heard 440 Hz:", dsp.HasTone(pcm, 8000, 440))

	// A second consumer of a leg's media is refused, naming the first.
	_, err = leg1.TakeAudio("recorder", audio.SinkFunc(func([]int16) {}), media.AudioOptions{})
	fmt.Println(err)
	// Output:
	// caller to callee: 10 transcoded, 0 forwarded as is, 0 dropped
	// the callee heard 440 Hz: true
	// media: received media already taken by b2b relay (packets)
}
