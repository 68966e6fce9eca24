package peers

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// loopback is the only address the peers listen on or send to.
const loopback = "127.0.0.1"

// portAttempts bounds how often the port helpers try before giving up.
const portAttempts = 50

// FreeUDPPort returns a UDP port on 127.0.0.1 that was free a moment ago. The
// port is released before it is returned, so another process may take it in
// the meantime; callers that start a peer on it should retry on collision.
func FreeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", loopback+":0")
	if err != nil {
		t.Fatalf("peers: finding a free UDP port: %v", err)
	}
	port := c.LocalAddr().(*net.UDPAddr).Port
	if err := c.Close(); err != nil {
		t.Fatalf("peers: releasing UDP port %d: %v", port, err)
	}
	return port
}

// FreeTCPPort returns a TCP port on 127.0.0.1 that was free a moment ago, with
// the same caveat as FreeUDPPort.
func FreeTCPPort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp4", loopback+":0")
	if err != nil {
		t.Fatalf("peers: finding a free TCP port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatalf("peers: releasing TCP port %d: %v", port, err)
	}
	return port
}

// FreeSIPPort returns a port on 127.0.0.1 that was free a moment ago for UDP
// and TCP, and whose successor was free for TCP too. baresip listens on all
// three (SIP over UDP and TCP on the port, and a second TCP listener on the
// next port); SIPp needs only the first.
func FreeSIPPort(t testing.TB) int {
	t.Helper()
	var lastErr error
	for range portAttempts {
		port, err := tryFreeSIPPort()
		if err == nil {
			return port
		}
		lastErr = err
	}
	t.Fatalf("peers: no free SIP port after %d attempts: %v", portAttempts, lastErr)
	return 0
}

// tryFreeSIPPort makes one attempt for FreeSIPPort.
func tryFreeSIPPort() (int, error) {
	u, err := net.ListenPacket("udp4", loopback+":0")
	if err != nil {
		return 0, err
	}
	defer u.Close()
	port := u.LocalAddr().(*net.UDPAddr).Port
	if port >= 65535 {
		return 0, fmt.Errorf("port %d has no successor", port)
	}
	for _, p := range []int{port, port + 1} {
		l, err := net.Listen("tcp4", net.JoinHostPort(loopback, strconv.Itoa(p)))
		if err != nil {
			return 0, err
		}
		defer l.Close()
	}
	return port, nil
}

// freeRTPRange returns an even lower bound and an upper bound of size ports
// for a peer's RTP sockets. Only the lower bound is checked; peers pick
// random ports inside the range and retry on collision, which baresip does.
func freeRTPRange(t testing.TB, size int) (lo, hi int) {
	t.Helper()
	for range portAttempts {
		lo = FreeUDPPort(t) &^ 1
		hi = lo + size - 1
		if lo >= 1024 && hi <= 65535 {
			return lo, hi
		}
	}
	t.Fatalf("peers: no free RTP port range of %d ports", size)
	return 0, 0
}

// WaitUDPListening waits until some socket on this machine is bound to the
// given UDP port (on any local address), as listed in /proc/net/udp and
// /proc/net/udp6, or until ctx ends. It lets a test wait for a peer started
// in the background to open its SIP port. It works on Linux only.
func WaitUDPListening(ctx context.Context, port int) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		bound, err := udpPortBound(port)
		if err != nil {
			return err
		}
		if bound {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("peers: waiting for UDP port %d: %w", port, ctx.Err())
		case <-tick.C:
		}
	}
}

// udpPortBound reports whether the kernel lists a UDP socket bound to port.
func udpPortBound(port int) (bool, error) {
	want := fmt.Sprintf(":%04X", port)
	found := false
	read := 0
	for _, name := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		read++
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			// Fields: sl local_address rem_address st ...
			if len(fields) > 2 && strings.HasSuffix(fields[1], want) {
				found = true
				break
			}
		}
		f.Close()
		if found {
			return true, nil
		}
	}
	if read == 0 {
		return false, fmt.Errorf("peers: cannot read /proc/net/udp to see whether port %d is bound", port)
	}
	return false, nil
}
