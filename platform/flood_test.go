package platform_test

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// rssKB returns the resident set size of this process in KiB.
func rssKB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status: cannot measure RSS")
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	t.Skip("no VmRSS line")
	return 0
}

// probeAnswered sends req as a UAC would over UDP, retransmitting it
// after T1, 2*T1, 4*T1 and then every T2 = 4 s (RFC 3261 Timer E for a
// non-INVITE request), and reports whether a 200 for call-ID id came back
// before Timer F (64*T1 = 32 s) expired, as a phone would. Under the race
// detector on a loaded machine the server reads the flood more slowly
// than it arrives, so the kernel drops datagrams, the probe's among them,
// for as long as the backlog lasts; a phone's retransmissions are what
// get it through, and a probe lost for all of Timer F is a failure.
func probeAnswered(probe *net.UDPConn, to net.Addr, req []byte, id string, buf []byte) bool {
	deadline := time.Now().Add(32 * time.Second)
	for wait := 500 * time.Millisecond; time.Now().Before(deadline); wait = min(2*wait, 4*time.Second) {
		_, _ = probe.WriteTo(req, to)
		next := time.Now().Add(wait)
		if next.After(deadline) {
			next = deadline
		}
		_ = probe.SetReadDeadline(next)
		for {
			m, _, err := probe.ReadFrom(buf)
			if err != nil {
				break // retransmit
			}
			msg := string(buf[:m])
			if strings.HasPrefix(msg, "SIP/2.0 200") && strings.Contains(msg, "Call-ID: "+id+"\r\n") {
				return true
			}
		}
	}
	return false
}

// TestOptionsFloodHoldsNoState replays issue 14 item 9 on loopback,
// bounded: 60,000 OPTIONS at about 20,000 a second, while a second
// socket sends a legitimate probe every 100 ms. Out-of-dialog OPTIONS are
// answered statelessly, so memory does not grow by a server transaction
// per request (about 3 KB each, held 32 s: ~180 MB here before the fix),
// and every probe is answered (retransmitted as a phone would).
func TestOptionsFloodHoldsNoState(t *testing.T) {
	srv := sbt.NewServer(t)
	to := srv.Addr("udp").(*net.UDPAddr)
	flood, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer flood.Close()
	go func() { // drain the answers so the flooder's socket does not fill
		buf := make([]byte, 65535)
		for {
			if _, _, err := flood.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	options := func(from net.Addr, id string) []byte {
		return []byte("OPTIONS sip:ping@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP " + from.String() + ";branch=z9hG4bK" + id +
			"\r\nFrom: <sip:flood@127.0.0.1>;tag=f\r\nTo: <sip:ping@127.0.0.1>\r\nCall-ID: " + id +
			"\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
	}
	before := rssKB(t)
	const n = 60000
	probes, answered := 0, 0
	var lost []int
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			_, _ = flood.WriteTo(options(flood.LocalAddr(), "flood-"+strconv.Itoa(i)), to)
			if i%20 == 19 {
				time.Sleep(time.Millisecond) // about 20,000 a second, as in the issue
			}
		}
	}()
	probe, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	buf := make([]byte, 65535)
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		probes++
		if probeAnswered(probe, to, options(probe.LocalAddr(), fmt.Sprintf("probe-%d", probes)), fmt.Sprintf("probe-%d", probes), buf) {
			answered++
		} else {
			lost = append(lost, probes)
		}
		time.Sleep(100 * time.Millisecond)
	}
	after := rssKB(t)
	t.Logf("%d OPTIONS: RSS %d -> %d KiB; %d of %d probes answered", n, before, after, answered, probes)
	if grown := after - before; grown > 40*1024 {
		t.Errorf("RSS grew by %d KiB during the flood, want < 40 MiB (no state per OPTIONS)", grown)
	}
	if answered < probes {
		t.Errorf("%d of %d legitimate probes answered during the flood (lost: %v)", answered, probes, lost)
	}
}
