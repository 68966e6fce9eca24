//go:build linux

package media

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/pion/rtp"
	"golang.org/x/sys/unix"
)

// Why a poller. By default every Session reads its RTP socket and its
// RTCP socket on a goroutine of its own, parked in the runtime's
// netpoller and woken for every packet. That costs two goroutine stacks,
// a 1,500-byte read buffer and decode scratch per socket, whatever the
// call does: about 20 KB of a 45 KB echo call on this machine
// (issue 16 item 4), and a park/unpark of a goroutine per packet. A
// Poller is what rtpengine and the Go event-loop servers (gnet, evio) do
// instead: a few loops, one epoll instance each, every socket registered
// with one loop, read without blocking until it is empty, with one
// buffer per loop. A session then costs no goroutine, and one epoll_wait
// returns the packets of many calls that arrived together.
//
// The loops read through syscall.RawConn.Read, which holds the socket's
// file descriptor against Close while the callback runs, so a socket
// closed and its number reused by another call is never read by
// mistake; recvfrom is called directly (unix.Syscall6) with a sockaddr
// of the loop's, because x/sys/unix's Recvfrom allocates the address it
// returns. Writes still go through net.UDPConn.
//
// What runs on a loop (a session's consumer, observers and DTMF
// handler) must not block: it holds up every call on the same loop.
// That is the same rule the per-session reader goroutine has for its own
// call, with a wider effect.

// Poller reads the RTP and RTCP sockets of many sessions on a few
// event-loop goroutines (Linux epoll). Give it to sessions in
// SessionConfig.Poller. Close it after the sessions it reads.
type Poller struct {
	loops []*pollLoop
	next  atomic.Uint32
	once  sync.Once
	wg    sync.WaitGroup
}

type pollLoop struct {
	epfd int
	// wake is an eventfd registered with token 0: Close writes to it.
	wake    int
	mu      sync.Mutex
	entries map[uint64]*pollEntry
	token   uint64
	closed  atomic.Bool

	// Scratch of the loop goroutine, shared by the sessions it reads.
	buf  []byte
	pcm  []int16
	pkt  rtp.Packet
	rsa  unix.RawSockaddrAny
	n    int
	from netip.AddrPort
	rerr syscall.Errno
	read func(fd uintptr) bool
}

// pollEntry is one registered socket. mu is held by the loop while it
// reads and dispatches the socket's packets, and by unregister, so that
// once unregister returns no callback of the session runs any more.
type pollEntry struct {
	mu    sync.Mutex
	dead  bool
	raw   syscall.RawConn
	s     *Session
	rtcp  bool
	token uint64
}

// NewPoller starts loops event loops; loops ≤ 0 means one per CPU the Go
// runtime uses (GOMAXPROCS).
func NewPoller(loops int) (*Poller, error) {
	if loops <= 0 {
		loops = runtime.GOMAXPROCS(0)
	}
	p := &Poller{}
	for range loops {
		l, err := newPollLoop()
		if err != nil {
			p.Close()
			return nil, err
		}
		p.loops = append(p.loops, l)
	}
	for _, l := range p.loops {
		p.wg.Go(l.run)
	}
	return p, nil
}

func newPollLoop() (*pollLoop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("media: epoll: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("media: eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &ev); err != nil {
		_ = unix.Close(wake)
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("media: epoll: %w", err)
	}
	l := &pollLoop{
		epfd:    epfd,
		wake:    wake,
		entries: make(map[uint64]*pollEntry),
		buf:     make([]byte, 1500),
		pcm:     make([]int16, 0, 2*maxFrameSamples),
	}
	l.read = l.recvfrom
	return l, nil
}

// Close stops the loops. Sessions still registered are no longer read.
func (p *Poller) Close() {
	p.once.Do(func() {
		for _, l := range p.loops {
			l.closed.Store(true)
			one := [8]byte{1}
			_, _ = unix.Write(l.wake, one[:])
		}
	})
	p.wg.Wait()
}

// register adds conn, read for s (its RTCP socket when rtcp), to one loop.
func (p *Poller) register(conn *net.UDPConn, s *Session, rtcp bool) (*pollEntry, *pollLoop, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil, nil, err
	}
	l := p.loops[int(p.next.Add(1))%len(p.loops)]
	if l.closed.Load() {
		return nil, nil, errors.New("media: poller closed")
	}
	l.mu.Lock()
	l.token++
	e := &pollEntry{raw: raw, s: s, rtcp: rtcp, token: l.token}
	l.entries[e.token] = e
	l.mu.Unlock()
	var cerr error
	err = raw.Control(func(fd uintptr) {
		ev := unix.EpollEvent{Events: unix.EPOLLIN}
		*(*uint64)(unsafe.Pointer(&ev.Fd)) = e.token
		cerr = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if err == nil {
		err = cerr
	}
	if err != nil {
		l.mu.Lock()
		delete(l.entries, e.token)
		l.mu.Unlock()
		return nil, nil, fmt.Errorf("media: epoll: %w", err)
	}
	return e, l, nil
}

// unregister stops reading e's socket and waits for a dispatch of it in
// progress. The socket is closed by its owner afterwards.
func (l *pollLoop) unregister(e *pollEntry) {
	if !l.closed.Load() { // a closed loop's epoll is gone (its number may be another file's)
		_ = e.raw.Control(func(fd uintptr) {
			_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
		})
	}
	e.mu.Lock()
	e.dead = true
	e.mu.Unlock()
	l.mu.Lock()
	delete(l.entries, e.token)
	l.mu.Unlock()
}

// maxReadsPerWake bounds how many packets one socket gives per wake, so
// that a flooded socket does not starve the others of its loop.
const maxReadsPerWake = 32

func (l *pollLoop) run() {
	defer func() {
		_ = unix.Close(l.wake)
		_ = unix.Close(l.epfd)
	}()
	events := make([]unix.EpollEvent, 256)
	ready := make([]*pollEntry, 0, len(events))
	for !l.closed.Load() {
		n, err := unix.EpollWait(l.epfd, events, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		ready = ready[:0]
		l.mu.Lock()
		for i := range n {
			tok := *(*uint64)(unsafe.Pointer(&events[i].Fd))
			if e := l.entries[tok]; e != nil {
				ready = append(ready, e)
			}
		}
		l.mu.Unlock()
		for _, e := range ready {
			l.drain(e)
		}
		clear(ready)
	}
}

// drain reads e's socket until it would block (or maxReadsPerWake).
func (l *pollLoop) drain(e *pollEntry) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for range maxReadsPerWake {
		if e.dead {
			return
		}
		l.n, l.rerr = 0, 0
		if err := e.raw.Read(l.read); err != nil {
			return // closed
		}
		switch l.rerr {
		case 0:
		case unix.EAGAIN, unix.EINTR:
			return
		default:
			continue // ICMP errors surface here (ECONNREFUSED): skip them
		}
		if e.rtcp {
			e.s.handleRTCP(l.buf[:l.n], l.from)
		} else {
			l.pcm = e.s.handleRTP(&l.pkt, l.buf[:l.n], l.from, l.pcm)
		}
	}
}

// recvfrom is the RawConn.Read callback: one non-blocking read into the
// loop's buffer. It always returns true: the loop, not the runtime's
// poller, waits for the next packet.
func (l *pollLoop) recvfrom(fd uintptr) bool {
	salen := uint32(unsafe.Sizeof(l.rsa))
	r, _, errno := unix.Syscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&l.buf[0])), uintptr(len(l.buf)),
		unix.MSG_DONTWAIT, uintptr(unsafe.Pointer(&l.rsa)), uintptr(unsafe.Pointer(&salen)))
	if errno != 0 {
		l.rerr = errno
		return true
	}
	l.n = int(r)
	l.from = sockaddrAddrPort(&l.rsa)
	return true
}

// sockaddrAddrPort converts a kernel socket address without allocating.
func sockaddrAddrPort(rsa *unix.RawSockaddrAny) netip.AddrPort {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(p[0])<<8|uint16(p[1]))
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(p[0])<<8|uint16(p[1]))
	}
	return netip.AddrPort{}
}
