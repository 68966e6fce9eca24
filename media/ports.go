package media

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
)

// ErrNoPorts is returned when every RTP port of a PortRange is in use.
var ErrNoPorts = errors.New("media: no free RTP port")

// PortRange hands out UDP sockets for RTP from a configured range of even
// ports (RFC 3550 section 11: RTP on even ports). A zero Min and Max lets
// the kernel choose. PortRange is safe for concurrent use.
type PortRange struct {
	IP       netip.Addr
	Min, Max int

	mu   sync.Mutex
	next int
}

// ListenPair binds an RTP socket on an even port and its RTCP socket on
// the next (odd) port (RFC 3550 section 11). With a zero range the kernel
// picks the RTP port and RTCP gets the next one if free.
func (r *PortRange) ListenPair() (rtpConn, rtcpConn *net.UDPConn, err error) {
	ip := r.IP
	if !ip.IsValid() {
		ip = netip.IPv4Unspecified()
	}
	for attempt := 0; attempt < 64; attempt++ {
		c, err := r.Listen()
		if err != nil {
			return nil, nil, err
		}
		port := c.LocalAddr().(*net.UDPAddr).Port
		if port%2 == 0 && port < 65535 {
			if rc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port+1)))); err == nil {
				return c, rc, nil
			}
		}
		_ = c.Close()
	}
	return nil, nil, ErrNoPorts
}

// Listen binds a UDP socket on the next free even port of the range.
func (r *PortRange) Listen() (*net.UDPConn, error) {
	ip := r.IP
	if !ip.IsValid() {
		ip = netip.IPv4Unspecified()
	}
	if r.Min == 0 && r.Max == 0 {
		return net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	}
	lo, hi := r.Min+r.Min%2, r.Max
	if lo > hi {
		return nil, fmt.Errorf("media: empty RTP port range %d-%d", r.Min, r.Max)
	}
	n := (hi-lo)/2 + 1
	r.mu.Lock()
	start := r.next
	r.next = (r.next + 1) % n
	r.mu.Unlock()
	for i := 0; i < n; i++ {
		port := lo + 2*((start+i)%n)
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))))
		if err == nil {
			r.mu.Lock()
			r.next = (start + i + 1) % n
			r.mu.Unlock()
			return c, nil
		}
	}
	return nil, ErrNoPorts
}
