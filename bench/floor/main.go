// Command floor measures what sending RTP to many listeners costs at the
// floor — plain Go, no framework — and Switchboard's music fan-out on the
// same terms, so that bench/compare.sh can put them side by side.
//
//	floor -mode sink -addr 127.0.0.1:30000 -d 20s      # counts what arrives
//	floor -mode connected -n 1000 -to 127.0.0.1:30000  # 1,000 connected sockets, Write each
//	floor -mode sendmmsg  -n 1000 -to 127.0.0.1:30000  # one socket, one WriteBatch per tick
//	floor -mode music     -n 1000 -to ...              # audio.Player → 1,000 media.Sessions
//	floor -mode music-shared -n 1000 -to ...           # audio.Player → 1,000 streams on one media.SharedPort
//
// Every sender sends one 172-byte RTP packet (12-byte header, 160 bytes
// of G.711) per listener per 20 ms, each listener with its own SSRC, and
// prints its own CPU (from /proc/self/stat, user+system) over the window
// after -warm. The sink counts, per SSRC, packets received in its window,
// the missing ones (20 ms slots between the listener's first and last
// packet that no packet filled) and the late ticks (a wait of more than
// 30 ms for the listener's next packet). Senders that find their ticker
// dropped ticks send the missed packets at once, late, up to five (100 ms),
// and give up older ones, as audio.Player does: those are missing.
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/switchboard-sip/switchboard/apps/holdmusic"
	"github.com/switchboard-sip/switchboard/media"
	"github.com/switchboard-sip/switchboard/media/audio"
	"github.com/switchboard-sip/switchboard/media/codec"
)

const tick = 20 * time.Millisecond

var cpuProfile string // -cpuprofile, set once in main

func main() {
	mode := flag.String("mode", "connected", "sink, connected, unconnected, sendmmsg, music or music-shared")
	n := flag.Int("n", 1000, "listeners")
	to := flag.String("to", "127.0.0.1:30000", "sink address (senders)")
	addr := flag.String("addr", "127.0.0.1:30000", "listen address (sink)")
	d := flag.Duration("d", 20*time.Second, "how long to run")
	warm := flag.Duration("warm", 3*time.Second, "not measured at the start")
	file := flag.String("file", "", "music file (music modes; default: the embedded music, as sip:moh@ plays it)")
	prof := flag.String("cpuprofile", "", "write a CPU profile of the measured window")
	flag.Parse()
	cpuProfile = *prof
	var err error
	if *mode == "sink" {
		err = sink(*addr, *d, *warm)
	} else {
		err = send(*mode, *n, netip.MustParseAddrPort(*to), *d, *warm, *file)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

// cpuTicks returns this process's user+system clock ticks.
func cpuTicks() float64 {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseFloat(f[11], 64) // field 14 of the whole line
	k, _ := strconv.ParseFloat(f[12], 64)
	return u + k
}

const clkTck = 100 // USER_HZ on Linux

func send(mode string, n int, to netip.AddrPort, d, warm time.Duration, file string) error {
	var stop func()
	switch mode {
	case "connected":
		s, err := connected(n, to)
		if err != nil {
			return err
		}
		stop = s
	case "unconnected":
		s, err := unconnected(n, to)
		if err != nil {
			return err
		}
		stop = s
	case "sendmmsg":
		s, err := sendmmsg(n, to)
		if err != nil {
			return err
		}
		stop = s
	case "music", "music-shared":
		s, err := music(mode == "music-shared", n, to, file)
		if err != nil {
			return err
		}
		stop = s
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
	time.Sleep(warm)
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	c0, t0 := cpuTicks(), time.Now()
	time.Sleep(d - warm)
	c1, t1 := cpuTicks(), time.Now()
	if cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	stop()
	fmt.Printf("mode=%s listeners=%d cpu=%.1f%%\n", mode, n, (c1-c0)/clkTck/t1.Sub(t0).Seconds()*100)
	return nil
}

// packet is a 172-byte PCMU packet of listener i (SSRC i+1).
func packet(i int) []byte {
	b := make([]byte, 172)
	b[0], b[1] = 0x80, 0
	binary.BigEndian.PutUint32(b[8:], uint32(i+1))
	for j := 12; j < len(b); j++ {
		b[j] = 0xff // µ-law silence
	}
	return b
}

// connected is the floor of a socket per listener: 1,000 connected UDP
// sockets, one goroutine with one ticker writing one packet to each per
// tick. A connected socket's Write is a send(2) without an address to
// convert or route per packet.
func connected(n int, to netip.AddrPort) (func(), error) {
	conns := make([]*net.UDPConn, n)
	pkts := make([][]byte, n)
	for i := range conns {
		c, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, net.UDPAddrFromAddrPort(to))
		if err != nil {
			return nil, err
		}
		conns[i], pkts[i] = c, packet(i)
	}
	return ticker(func(k uint32) {
		for i, c := range conns {
			p := pkts[i]
			binary.BigEndian.PutUint16(p[2:], uint16(k))
			binary.BigEndian.PutUint32(p[4:], k*160)
			_, _ = c.Write(p)
		}
	}, func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}), nil
}

// unconnected is connected's loop on unconnected sockets, as a
// media.Session has (it latches onto whatever address the peer sends
// from): WriteToUDPAddrPort, a sendto(2) whose route the kernel looks up
// per packet. The difference from connected is the kernel's, not Go's.
func unconnected(n int, to netip.AddrPort) (func(), error) {
	conns := make([]*net.UDPConn, n)
	pkts := make([][]byte, n)
	for i := range conns {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return nil, err
		}
		conns[i], pkts[i] = c, packet(i)
	}
	return ticker(func(k uint32) {
		for i, c := range conns {
			p := pkts[i]
			binary.BigEndian.PutUint16(p[2:], uint16(k))
			binary.BigEndian.PutUint32(p[4:], k*160)
			_, _ = c.WriteToUDPAddrPort(p, to)
		}
	}, func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}), nil
}

// sendmmsg is the floor of a shared port: one socket, the whole tick in
// one WriteBatch (sendmmsg(2), up to 1,024 messages a call).
func sendmmsg(n int, to netip.AddrPort) (func(), error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	pc := ipv4.NewPacketConn(c)
	dst := net.UDPAddrFromAddrPort(to)
	msgs := make([]ipv4.Message, n)
	for i := range msgs {
		msgs[i] = ipv4.Message{Buffers: [][]byte{packet(i)}, Addr: dst}
	}
	return ticker(func(k uint32) {
		for i := range msgs {
			p := msgs[i].Buffers[0]
			binary.BigEndian.PutUint16(p[2:], uint16(k))
			binary.BigEndian.PutUint32(p[4:], k*160)
		}
		for off := 0; off < len(msgs); {
			m, err := pc.WriteBatch(msgs[off:], 0)
			if err != nil {
				m++
			}
			off += m
		}
	}, func() { _ = c.Close() }), nil
}

// ticker runs f once per tick on one goroutine until the returned stop.
func ticker(f func(k uint32), done func()) func() {
	quit := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(tick)
		defer t.Stop()
		// Catch up on ticks the ticker dropped, as audio.Player does.
		epoch, k := time.Now(), uint32(0)
		for {
			select {
			case <-quit:
				return
			case <-t.C:
			}
			due := uint32(time.Since(epoch) / tick)
			if due-k > 5 {
				k = due - 5 // given up, as audio.Player's maxCatchUp
			}
			for k < due {
				k++
				f(k)
			}
		}
	}()
	return func() { close(quit); <-exited; done() }
}

// music is Switchboard's fan-out: one audio.Player decoding the hold
// music once, encoding it once per tick, and writing it to n outputs —
// media.Flows of media.Sessions, each its own socket, as sip:moh@ does
// (shared false), or streams of one media.SharedPort (shared true). It
// measures the send path only: no SIP, no RTCP, no RTP from listeners.
func music(shared bool, n int, to netip.AddrPort, file string) (func(), error) {
	// The source sip:moh@ plays: the embedded music, decoded once.
	src, err := holdmusic.OpenSource(holdmusic.SourceConfig{File: file})
	if err != nil {
		return nil, err
	}
	pl, err := audio.NewPlayer(src, audio.PlayerConfig{Mode: audio.PlayerAutomatic, Loop: true})
	if err != nil {
		return nil, err
	}
	var closers []func() error
	if shared {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return nil, err
		}
		port := media.NewSharedPort(c)
		closers = append(closers, port.Close)
		for range n {
			pl.Attach(port.NewStream(to, codec.PCMU()))
		}
	} else {
		for range n {
			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				return nil, err
			}
			// The sink never answers: no silent-peer grace.
			s := media.NewSession(c, media.SessionConfig{Codec: codec.PCMU(), SilentPeerGrace: -1})
			s.SetRemote(to)
			pl.Attach(media.NewFlow(s)) // as sip:moh@ attaches a call's Flow
			closers = append(closers, s.Close)
		}
	}
	if err := pl.Start(); err != nil {
		return nil, err
	}
	return func() {
		st := pl.Stats()
		fmt.Printf("player frames=%d caught_up=%d given_up=%d send_errors=%d\n", st.Frames, st.CaughtUp, st.Late, st.SendErrors)
		_ = pl.Close()
		for _, c := range closers {
			_ = c()
		}
	}, nil
}

type listener struct {
	first         bool
	firstAt, last time.Duration
	got, late     int
}

// lateGap is the wait for a listener's next packet that counts as a late
// tick: one and a half packet times.
const lateGap = 30 * time.Millisecond

// sink receives on one socket and counts per SSRC over the window
// [warm, d), and the packets its own full receive buffer dropped
// (SO_RXQ_OVFL: the sink's loss, not the sender's). Arrival times are the kernel's receive timestamps
// (SO_TIMESTAMPNS), taken when the packet reached the socket — on
// loopback, within microseconds of its sendto — so the sink's own
// scheduling delays do not count as late packets.
func sink(addr string, d, warm time.Duration) error {
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetReadBuffer(4 << 20)
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
		if serr == nil {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1)
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("SO_TIMESTAMPNS: %w", serr)
	}
	pc := ipv4.NewPacketConn(c)
	msgs := make([]ipv4.Message, 256)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, 1500)}
		msgs[i].OOB = make([]byte, 128)
	}
	ls := map[uint32]*listener{}
	var dropped uint32 // SO_RXQ_OVFL: dropped by this socket's full buffer
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(d))
	for {
		m, err := pc.ReadBatch(msgs, 0)
		if err != nil {
			break
		}
		for _, msg := range msgs[:m] {
			at := time.Now()
			if cms, err := unix.ParseSocketControlMessage(msg.OOB[:msg.NN]); err == nil {
				for _, cm := range cms {
					switch {
					case cm.Header.Level != unix.SOL_SOCKET:
					case cm.Header.Type == unix.SCM_TIMESTAMPNS && len(cm.Data) >= 16:
						ts := (*unix.Timespec)(unsafe.Pointer(&cm.Data[0]))
						at = time.Unix(ts.Unix())
					case cm.Header.Type == unix.SO_RXQ_OVFL && len(cm.Data) >= 4:
						dropped = binary.NativeEndian.Uint32(cm.Data)
					}
				}
			}
			now := at.Sub(start)
			b := msg.Buffers[0][:msg.N]
			if now < warm || len(b) < 12 {
				continue
			}
			ssrc := binary.BigEndian.Uint32(b[8:])
			l := ls[ssrc]
			if l == nil {
				l = &listener{}
				ls[ssrc] = l
			}
			if !l.first {
				l.first, l.firstAt = true, now
			}
			if l.got > 0 && now-l.last > lateGap {
				l.late++
			}
			l.got++
			l.last = now
		}
	}
	want := int((d - warm) / tick)
	total, missing, late, lateL, missL := 0, 0, 0, 0, 0
	for _, l := range ls {
		total += l.got
		late += l.late
		if l.late > 0 {
			lateL++
		}
		// The 20 ms slots between the listener's first and last packet
		// that no packet filled.
		slots := int((l.last-l.firstAt+tick/2)/tick) + 1
		if short := slots - l.got; short > 0 {
			missing += short
			missL++
		}
	}
	fmt.Printf("sink listeners=%d received=%d expected=%d missing=%d (listeners %d) late=%d (listeners %d) sink_dropped=%d\n",
		len(ls), total, want*len(ls), missing, missL, late, lateL, dropped)
	return nil
}
