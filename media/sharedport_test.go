package media_test

import (
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/media"
	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/media/codec"
	"github.com/switchboard-sip/switchboard/media/dsp"
	"github.com/switchboard-sip/switchboard/switchboardtest"
)

// TestSharedPortPlayer plays a 1 kHz tone from one Player to 50 listeners
// on one SharedPort and checks, per listener, that the tone arrives, that
// sequence numbers and timestamps run on without a gap (RFC 3550 section
// 5.1), that every listener has its own SSRC, that every packet comes from
// the one port, and that the 50 streams opened no socket beyond it.
func TestSharedPortPlayer(t *testing.T) {
	const listeners, frames = 50, 40
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	_ = rx.SetReadBuffer(1 << 20)
	before := switchboardtest.OpenSockets(t)
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	port := media.NewSharedPort(c)
	defer port.Close()
	src, err := audio.NewToneSource(1000, time.Minute, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := audio.NewPlayer(src, audio.PlayerConfig{Loop: true})
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close()
	to := rx.LocalAddr().(*net.UDPAddr).AddrPort()
	streams := make([]*media.SharedStream, listeners)
	for i := range streams {
		streams[i] = port.NewStream(to, codec.PCMU())
		pl.Attach(streams[i])
	}
	if got := switchboardtest.OpenSockets(t) - before; got != 1 {
		t.Errorf("%d listeners opened %d sockets, want 1", listeners, got)
	}
	if port.Streams() != listeners {
		t.Errorf("Streams() = %d, want %d", port.Streams(), listeners)
	}
	if err := pl.Start(); err != nil {
		t.Fatal(err)
	}

	type rxStream struct {
		n        int
		seq      uint16
		ts       uint32
		pcm      []int16
		gaps     int
		firstPkt bool
	}
	got := map[uint32]*rxStream{}
	dec := codec.NewDecoder(codec.PCMU())
	buf := make([]byte, 1500)
	_ = rx.SetReadDeadline(time.Now().Add(10 * time.Second))
	for total := 0; total < listeners*frames; total++ {
		n, from, err := rx.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("after %d packets: %v", total, err)
		}
		if from != port.LocalAddr() {
			t.Fatalf("packet from %v, want the shared port %v", from, port.LocalAddr())
		}
		if n != 172 || buf[0] != 0x80 || buf[1]&0x7f != 0 {
			t.Fatalf("packet of %d bytes, header % x: want 172 bytes of PCMU", n, buf[:2])
		}
		seq, ts, ssrc := binary.BigEndian.Uint16(buf[2:]), binary.BigEndian.Uint32(buf[4:]), binary.BigEndian.Uint32(buf[8:])
		s := got[ssrc]
		if s == nil {
			s = &rxStream{firstPkt: buf[1]&0x80 != 0}
			got[ssrc] = s
		} else if seq != s.seq+1 || ts != s.ts+160 {
			s.gaps++
		}
		s.n++
		s.seq, s.ts = seq, ts
		s.pcm = dec.Decode(s.pcm, buf[12:n])
	}
	if len(got) != listeners {
		t.Fatalf("%d SSRCs, want %d (one per listener)", len(got), listeners)
	}
	for ssrc, s := range got {
		if s.gaps > 0 {
			t.Errorf("SSRC %08x: %d sequence or timestamp gaps in %d packets", ssrc, s.gaps, s.n)
		}
		if !s.firstPkt {
			t.Errorf("SSRC %08x: first packet without the marker bit", ssrc)
		}
		if !dsp.HasTone(s.pcm, 8000, 1000) {
			t.Errorf("SSRC %08x: no 1 kHz tone in %d samples", ssrc, len(s.pcm))
		}
	}
	// A closed stream is dropped by the player; the others play on.
	_ = streams[0].Close()
	if port.Streams() != listeners-1 {
		t.Errorf("after one Close, Streams() = %d, want %d", port.Streams(), listeners-1)
	}
}

// BenchmarkSharedPortTick measures one 20 ms tick to 1,000 listeners on a
// shared port: 1,000 queued packets and their sendmmsg calls.
func BenchmarkSharedPortTick(b *testing.B) {
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer rx.Close()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	port := media.NewSharedPort(c)
	defer port.Close()
	to := rx.LocalAddr().(*net.UDPAddr).AddrPort()
	streams := make([]*media.SharedStream, 1000)
	for i := range streams {
		streams[i] = port.NewStream(to, codec.PCMU())
	}
	payload := make([]byte, 160)
	b.ReportAllocs()
	for b.Loop() {
		for _, s := range streams {
			_ = s.WriteRTPPayload(0, 160, payload, false)
		}
		_ = port.Flush()
	}
}
