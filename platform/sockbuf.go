package platform

import (
	"net"
	"syscall"
)

// socketBuffers reads back the receive and send buffer sizes the kernel
// granted a UDP socket (getsockopt SO_RCVBUF / SO_SNDBUF). Linux reports
// twice the usable size (its bookkeeping overhead, socket(7)); the value
// is logged as the kernel reports it.
func socketBuffers(u *net.UDPConn) (rcv, snd int, err error) {
	rc, err := u.SyscallConn()
	if err != nil {
		return 0, 0, err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		if rcv, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF); serr != nil {
			return
		}
		snd, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF)
	})
	if err == nil {
		err = serr
	}
	return rcv, snd, err
}
