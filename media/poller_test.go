//go:build linux

package media

import (
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/media/codec"
	"github.com/switchboard-sip/switchboard/media/dsp"
)

func newTestPoller(t testing.TB, loops int) *Poller {
	t.Helper()
	pl, err := NewPoller(loops)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pl.Close)
	return pl
}

// polledSession is a session read by pl, with RTCP, and a peer socket.
func polledSession(t testing.TB, pl *Poller) (*Session, *net.UDPConn) {
	t.Helper()
	pr := &PortRange{IP: netip.MustParseAddr("127.0.0.1")}
	r, c, err := pr.ListenPair()
	if err != nil {
		t.Fatal(err)
	}
	peer, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	s := NewSession(r, SessionConfig{Codec: codec.PCMU(), DTMFPayloadType: 101, RTCP: c, ReportInterval: time.Hour, Poller: pl})
	s.SetRemote(peer.LocalAddr().(*net.UDPAddr).AddrPort())
	t.Cleanup(func() { s.Close(); peer.Close() })
	return s, peer
}

// TestPollerReadsManySessions: 200 sessions on two loops, no goroutine of
// their own, each hears its own tone (decoded from its own packets) and
// takes its peer's RTCP report.
func TestPollerReadsManySessions(t *testing.T) {
	const n = 200
	pl := newTestPoller(t, 2)
	before := runtime.NumGoroutine()
	type leg struct {
		s    *Session
		peer *net.UDPConn
		mu   sync.Mutex
		pcm  []int16
		hz   float64
	}
	legs := make([]*leg, n)
	for i := range legs {
		l := &leg{hz: float64(400 + 10*i)}
		l.s, l.peer = polledSession(t, pl)
		takeAudio(t, l.s, audio.SinkFunc(func(pcm []int16) {
			l.mu.Lock()
			l.pcm = append(l.pcm, pcm...)
			l.mu.Unlock()
		}))
		legs[i] = l
	}
	if g := runtime.NumGoroutine() - before; g > 5 {
		t.Fatalf("%d sessions started %d goroutines; a poller's sessions should start none", n, g)
	}
	const frames = 10
	for _, l := range legs {
		pcm := codec.PCMU().Encode(nil, dsp.Sine(8000, l.hz, frames*20*time.Millisecond, 0.3))
		for f := range frames {
			p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(f), Timestamp: uint32(f * g711Frame), SSRC: 7},
				Payload: pcm[f*g711Frame : (f+1)*g711Frame]}
			b, _ := p.Marshal()
			send(t, l.peer, l.s.LocalAddr(), b)
		}
		rr, _ := rtcp.Marshal([]rtcp.Packet{&rtcp.ReceiverReport{SSRC: 7, Reports: []rtcp.ReceptionReport{{SSRC: l.s.SSRC(), FractionLost: 64}}}})
		rtcpAddr := netip.AddrPortFrom(l.s.LocalAddr().Addr(), l.s.LocalAddr().Port()+1)
		send(t, l.peer, rtcpAddr, rr)
	}
	relayWait(t, "every session's packets and report", func() bool {
		for _, l := range legs {
			st := l.s.Stats()
			if st.PacketsReceived != frames || st.RTCPRecv != 1 {
				return false
			}
		}
		return true
	})
	for i, l := range legs {
		l.mu.Lock()
		pcm := append([]int16(nil), l.pcm...)
		l.mu.Unlock()
		if len(pcm) != frames*g711Frame {
			t.Fatalf("session %d heard %d samples, want %d", i, len(pcm), frames*g711Frame)
		}
		if !dsp.HasTone(pcm, 8000, l.hz) {
			t.Fatalf("session %d did not hear its own %.0f Hz", i, l.hz)
		}
		if st := l.s.Stats(); st.RemoteFractionLost == 0 {
			t.Fatalf("session %d did not take its RTCP report: %+v", i, st)
		}
	}
}

// TestPollerCloseStopsCallbacks: once Close returns, the loop runs no
// callback of the session, while its socket is being flooded; the other
// sessions of the loop go on.
func TestPollerCloseStopsCallbacks(t *testing.T) {
	pl := newTestPoller(t, 1)
	var closed atomic.Bool
	var after atomic.Int64
	s, peer := polledSession(t, pl)
	takeAudio(t, s, audio.SinkFunc(func([]int16) {
		if closed.Load() {
			after.Add(1)
		}
	}))
	other, otherPeer := polledSession(t, pl)
	var otherHeard atomic.Int64
	takeAudio(t, other, audio.SinkFunc(func([]int16) { otherHeard.Add(1) }))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	flood := func(peer *net.UDPConn, to netip.AddrPort) {
		defer wg.Done()
		payload := make([]byte, g711Frame)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			p := rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: uint32(i * g711Frame), SSRC: 9}, Payload: payload}
			b, _ := p.Marshal()
			_, _ = peer.WriteToUDPAddrPort(b, to)
			if i%50 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}
	wg.Add(2)
	go flood(peer, s.LocalAddr())
	go flood(otherPeer, other.LocalAddr())
	relayWait(t, "the flood heard", func() bool { return s.Stats().PacketsReceived > 200 })
	s.Close()
	closed.Store(true)
	heard := otherHeard.Load()
	relayWait(t, "the other session still heard", func() bool { return otherHeard.Load() > heard+100 })
	close(stop)
	wg.Wait()
	if n := after.Load(); n != 0 {
		t.Fatalf("%d callbacks after Close returned", n)
	}
}

// TestPollerSocketNumberReused: a closed session's descriptor number,
// reused at once by a new session's socket, reaches only the new one.
func TestPollerSocketNumberReused(t *testing.T) {
	pl := newTestPoller(t, 1)
	for range 50 {
		a, _ := polledSession(t, pl)
		a.Close()
		b, peer := polledSession(t, pl)
		got := make(chan struct{}, 1)
		release := takeAudio(t, b, audio.SinkFunc(func([]int16) {
			select {
			case got <- struct{}{}:
			default:
			}
		}))
		p := rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 3}, Payload: make([]byte, g711Frame)}
		raw, _ := p.Marshal()
		send(t, peer, b.LocalAddr(), raw)
		select {
		case <-got:
		case <-time.After(2 * time.Second):
			t.Fatal("the new session heard nothing")
		}
		if st := a.Stats(); st.PacketsReceived != 0 {
			t.Fatalf("the closed session received %d packets", st.PacketsReceived)
		}
		release()
		b.Close()
	}
}

// TestPollerClosedFirst: sessions of a closed poller still close cleanly.
func TestPollerClosedFirst(t *testing.T) {
	pl, err := NewPoller(1)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := polledSession(t, pl)
	pl.Close()
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Close of a session of a closed poller hangs")
	}
}

// processCPU is the CPU time the process used so far (user + system).
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSessionReader compares the cost of reading a packet through
// the session's own goroutine and through a poller, in the same run: 50
// sessions, a sender writing round-robin, and an undecoding consumer
// (as the relay has). ns/op is per packet received; cpu-ns/pkt is the
// process's CPU per packet, the sender's sendto included (the same in
// both).
func BenchmarkSessionReader(b *testing.B) {
	for _, mode := range []string{"goroutine", "poller"} {
		b.Run(mode, func(b *testing.B) {
			var pl *Poller
			if mode == "poller" {
				pl = newTestPoller(b, 1)
			}
			const n = 50
			var got atomic.Int64
			sessions := make([]*Session, n)
			peer, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				b.Fatal(err)
			}
			defer peer.Close()
			pr := &PortRange{IP: netip.MustParseAddr("127.0.0.1")}
			for i := range sessions {
				c, err := pr.Listen()
				if err != nil {
					b.Fatal(err)
				}
				s := NewSession(c, SessionConfig{Codec: codec.PCMU(), Poller: pl})
				defer s.Close()
				if _, err := s.TakePackets("bench", func(uint8, uint16, uint32, bool, []byte) { got.Add(1) }); err != nil {
					b.Fatal(err)
				}
				sessions[i] = s
			}
			p := rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 3}, Payload: make([]byte, g711Frame)}
			raw, _ := p.Marshal()
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := processCPU()
			for i := range b.N {
				_, _ = peer.WriteToUDPAddrPort(raw, sessions[i%n].LocalAddr())
				if i%n == n-1 {
					// Let the readers keep up (the kernel buffers are small).
					for got.Load() < int64(i)-4*n {
						runtime.Gosched()
					}
				}
			}
			for deadline := time.Now().Add(time.Second); got.Load() < int64(b.N)*9/10 && time.Now().Before(deadline); {
				runtime.Gosched()
			}
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/pkt")
		})
	}
}
