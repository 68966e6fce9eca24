package media_test

import (
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/switchboard-sip/switchboard/media"
	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/media/codec"
	"github.com/switchboard-sip/switchboard/media/dsp"
)

// wirePacket is one RTP packet read from a socket, with when it arrived.
type wirePacket struct {
	at time.Duration
	h  rtp.Header
	p  []byte
}

// readRTP reads RTP from c into the returned func's result until c is
// closed.
func readRTP(t *testing.T, c *net.UDPConn) func() []wirePacket {
	t.Helper()
	var (
		mu  sync.Mutex
		got []wirePacket
		wg  sync.WaitGroup
	)
	start := time.Now()
	wg.Go(func() {
		buf := make([]byte, 1500)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			var p rtp.Packet
			if p.Unmarshal(buf[:n]) != nil {
				continue
			}
			mu.Lock()
			got = append(got, wirePacket{at: time.Since(start), h: p.Header, p: slices.Clone(p.Payload)})
			mu.Unlock()
		}
	})
	return func() []wirePacket {
		c.Close()
		wg.Wait()
		return got
	}
}

// TestPlayerSendsComfortNoise: a player sends a tone, 1 s of digital
// silence and the tone again to a session that negotiated RFC 3389
// comfort noise, read by a plain UDP socket. In the pause the wire
// carries CN packets (PT 13, one octet of noise level) — the first when
// the silence starts, then one about every 200 ms — and no audio; the
// tone's packets come before and after, the first after the pause with
// the marker bit, its timestamp advanced by the length of the pause
// (RFC 3389 section 4, RFC 3551 section 4.1). Without CN negotiated the
// same play is all audio.
func TestPlayerSendsComfortNoise(t *testing.T) {
	tone := dsp.Sine(8000, 700, 600*time.Millisecond, 0.3)
	pcm := slices.Concat(tone, make([]int16, 8000), tone)
	for _, cn := range []bool{true, false} {
		pr := &media.PortRange{IP: netip.MustParseAddr("127.0.0.1")}
		c, err := pr.Listen()
		if err != nil {
			t.Fatal(err)
		}
		s := media.NewSession(c, media.SessionConfig{Codec: codec.PCMU()})
		peer, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		s.SetRemote(peer.LocalAddr().(*net.UDPAddr).AddrPort())
		s.SetComfortNoise(13, cn)
		packets := readRTP(t, peer)
		src, err := audio.NewClipSource(&audio.Clip{SampleRate: 8000, Channels: 1, Samples: pcm})
		if err != nil {
			t.Fatal(err)
		}
		p, err := audio.NewPlayer(src, audio.PlayerConfig{Mode: audio.PlayerManual})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		p.OnCompleted(func() { close(done) })
		p.Attach(media.NewFlow(s))
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("the play did not end")
		}
		time.Sleep(50 * time.Millisecond) // the last packets in flight
		got := packets()
		p.Close()
		st := s.Stats()
		s.Close()
		var audioN, cnN int
		for _, w := range got {
			switch w.h.PayloadType {
			case 0:
				audioN++
			case 13:
				cnN++
			}
		}
		t.Logf("CN %v: %d packets, %d audio, %d CN; player %+v", cn, len(got), audioN, cnN, p.Stats())
		if !cn {
			if cnN != 0 || audioN != len(pcm)/160 {
				t.Errorf("without CN: %d CN and %d audio packets, want 0 and %d", cnN, audioN, len(pcm)/160)
			}
			continue
		}
		if st.ComfortNoiseSent != uint64(cnN) {
			t.Errorf("session counted %d CN packets, the wire carried %d", st.ComfortNoiseSent, cnN)
		}
		// 1 s of silence: the first CN and a refresh every 200 ms.
		if cnN < 4 || cnN > 6 {
			t.Errorf("%d CN packets for 1 s of silence, want 5 (one, then one per 200 ms)", cnN)
		}
		if want := 2 * len(tone) / 160; audioN != want {
			t.Errorf("%d audio packets, want %d (the tone twice, nothing in the pause)", audioN, want)
		}
		first := slices.IndexFunc(got, func(w wirePacket) bool { return w.h.PayloadType == 13 })
		if first != len(tone)/160 {
			t.Fatalf("first CN is packet %d, want %d (right after the first tone)", first, len(tone)/160)
		}
		for i, w := range got[first : first+cnN] {
			if w.h.PayloadType != 13 || len(w.p) != 1 || w.p[0] > 127 {
				t.Fatalf("packet %d in the pause: PT %d payload %v", first+i, w.h.PayloadType, w.p)
			}
			if i > 0 {
				if d := w.h.Timestamp - got[first+i-1].h.Timestamp; d != 1600 {
					t.Errorf("CN refresh %d: timestamp advanced by %d, want 1600 (200 ms)", i, d)
				}
			}
		}
		resume := got[first+cnN]
		if resume.h.PayloadType != 0 || !resume.h.Marker {
			t.Errorf("first packet after the pause: PT %d marker %v, want PCMU with the marker", resume.h.PayloadType, resume.h.Marker)
		}
		if d := resume.h.Timestamp - got[first-1].h.Timestamp; d != 160+8000 {
			t.Errorf("timestamp across the pause advanced by %d, want %d", d, 160+8000)
		}
		if gap := resume.at - got[first].at; gap < 900*time.Millisecond || gap > 1200*time.Millisecond {
			t.Errorf("pause on the wire lasted %v", gap)
		}
		var heard []int16
		for _, w := range got {
			if w.h.PayloadType == 0 {
				heard = codec.PCMU().Decode(heard, w.p)
			}
		}
		if f := dsp.ToneFraction(heard, 8000, 700); f < 0.95 {
			t.Errorf("the audio packets carry 700 Hz in %.0f%%", f*100)
		}
	}
}
