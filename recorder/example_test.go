package recorder_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/switchboard-sip/switchboard/media"
	"github.com/switchboard-sip/switchboard/media/codec"
	"github.com/switchboard-sip/switchboard/media/dsp"
	"github.com/switchboard-sip/switchboard/recorder"
)

// Record what a flow hears: here two RTP sessions on loopback, one
// playing a second of 440 Hz to the other, whose flow is recorded.
func Example() {
	listen := func() *net.UDPConn {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			panic(err)
		}
		return c
	}
	phone := media.NewSession(listen(), media.SessionConfig{Codec: codec.PCMA()})
	ours := media.NewSession(listen(), media.SessionConfig{Codec: codec.PCMA()})
	defer phone.Close()
	defer ours.Close()
	phone.SetRemote(ours.LocalAddr())
	ours.SetRemote(phone.LocalAddr())

	dir, _ := os.MkdirTemp("", "recordings")
	defer os.RemoveAll(dir)
	rec, err := recorder.New(recorder.Config{Dir: dir, Name: "example", Encoding: recorder.Native})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := rec.AddFlow(media.NewFlow(ours), recorder.Heard, recorder.TrackOptions{Party: "sip:phone@example.com"}); err != nil {
		fmt.Println(err)
		return
	}
	if err := rec.Start(); err != nil {
		fmt.Println(err)
		return
	}
	_ = media.NewFlow(phone).Play(context.Background(), dsp.Sine(8000, 440, time.Second, 0.3))
	_ = rec.Stop(recorder.StopRequested)

	m := rec.Metadata()
	fmt.Println(rec.Files())
	fmt.Println(m.Files[0].Encoding, m.Files[0].Channels[0].Party, m.StopReason)
	f, _ := os.ReadFile(filepath.Join(dir, "example.wav"))
	fmt.Println(string(f[0:4]), string(f[8:12]), "format", f[20], "(A-law)")
	// Output:
	// [example.wav example.json]
	// pcma sip:phone@example.com stopped
	// RIFF WAVE format 6 (A-law)
}
