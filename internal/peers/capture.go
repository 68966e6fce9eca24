package peers

import (
	"bufio"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Capture is a tcpdump capture on the loopback interface, started by
// StartCapture and ended by Stop (or on cleanup). It needs tcpdump and
// the right to capture (root or CAP_NET_RAW).
type Capture struct {
	cmd  *exec.Cmd
	file string
	done chan struct{}
}

// StartCapture starts tcpdump on lo with the pcap filter expression
// (e.g. "udp port 4000") and returns once tcpdump is listening.
func StartCapture(t testing.TB, filter string) *Capture {
	t.Helper()
	bin, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Fatalf("tcpdump not found: install it (apt-get install tcpdump)")
	}
	c := &Capture{file: filepath.Join(t.TempDir(), "capture.pcap"), done: make(chan struct{})}
	c.cmd = exec.Command(bin, append([]string{"-i", "lo", "-n", "-U", "-w", c.file}, strings.Fields(filter)...)...)
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("tcpdump: %v", err)
	}
	ready := make(chan string, 1)
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(stderr)
		var all []string
		for sc.Scan() {
			all = append(all, sc.Text())
			if strings.Contains(sc.Text(), "listening on") {
				ready <- ""
			}
		}
		ready <- strings.Join(all, "\n")
		_ = c.cmd.Wait()
	}()
	select {
	case msg := <-ready:
		if msg != "" {
			t.Fatalf("tcpdump did not start: %s", msg)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("tcpdump did not start listening")
	}
	t.Cleanup(func() { c.stop() })
	return c
}

func (c *Capture) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGINT) // its own process, by PID
	select {
	case <-c.done:
	case <-time.After(3 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// Stop ends the capture and returns the payloads of the UDP datagrams
// captured (IPv4 and IPv6), in order.
func (c *Capture) Stop(t testing.TB) [][]byte {
	t.Helper()
	c.stop()
	b, err := os.ReadFile(c.file)
	if err != nil {
		t.Fatal(err)
	}
	return udpPayloads(t, b)
}

// udpPayloads reads a classic pcap file (microsecond or nanosecond,
// either byte order) of Ethernet, Linux cooked or raw IP frames.
func udpPayloads(t testing.TB, b []byte) [][]byte {
	t.Helper()
	if len(b) < 24 {
		t.Fatalf("pcap: %d bytes", len(b))
	}
	var bo binary.ByteOrder = binary.LittleEndian
	switch binary.LittleEndian.Uint32(b) {
	case 0xa1b2c3d4, 0xa1b23c4d:
	case 0xd4c3b2a1, 0x4d3cb2a1:
		bo = binary.BigEndian
	default:
		t.Fatalf("pcap: bad magic %x", b[:4])
	}
	link := bo.Uint32(b[20:])
	var skip int
	switch link {
	case 1: // Ethernet
		skip = 14
	case 113: // Linux cooked
		skip = 16
	case 276: // Linux cooked v2
		skip = 20
	case 101: // raw IP
	default:
		t.Fatalf("pcap: link type %d", link)
	}
	var out [][]byte
	for p := b[24:]; len(p) >= 16; {
		n := int(bo.Uint32(p[8:]))
		if len(p) < 16+n {
			break
		}
		frame := p[16 : 16+n]
		p = p[16+n:]
		if len(frame) <= skip {
			continue
		}
		ip := frame[skip:]
		var l4 []byte
		switch ip[0] >> 4 {
		case 4:
			ihl := int(ip[0]&0x0f) * 4
			if len(ip) < ihl+8 || ip[9] != 17 {
				continue
			}
			l4 = ip[ihl:]
		case 6:
			if len(ip) < 48 || ip[6] != 17 {
				continue
			}
			l4 = ip[40:]
		default:
			continue
		}
		out = append(out, l4[8:])
	}
	return out
}
