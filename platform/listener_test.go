package platform_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/platform"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// tcpOptions sends an OPTIONS on c and returns the response's status line,
// or "" when none came within d (or the connection failed).
func tcpOptions(c net.Conn, d time.Duration) string {
	msg := strings.Join([]string{
		"OPTIONS sip:anyone@127.0.0.1 SIP/2.0",
		"Via: SIP/2.0/TCP " + c.LocalAddr().String() + ";branch=z9hG4bKtcp" + fmt.Sprint(time.Now().UnixNano()),
		"From: <sip:tester@127.0.0.1>;tag=tcp",
		"To: <sip:anyone@127.0.0.1>",
		"Call-ID: tcp-" + c.LocalAddr().String() + "-" + fmt.Sprint(time.Now().UnixNano()),
		"CSeq: 1 OPTIONS",
		"Max-Forwards: 70",
		"Content-Length: 0",
	}, "\r\n") + "\r\n\r\n"
	_ = c.SetDeadline(time.Now().Add(d))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte(msg)); err != nil {
		return ""
	}
	var got []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(got, []byte("\r\n\r\n")) {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			return ""
		}
	}
	return statusLine(string(got))
}

// dialFrom opens a TCP connection to addr from the local IP from
// (127.0.0.1 when empty) and closes it at cleanup.
func dialFrom(t testing.TB, from string, addr net.Addr) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 2 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// startPlatform starts a platform with cfg and closes it at cleanup.
func startTCPPlatform(t testing.TB, cfg platform.Config, opts ...platform.Option) *platform.Platform {
	t.Helper()
	p, err := platform.New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	return p
}

// closedByPeer reads from c until it is closed by the server (EOF or
// reset), and reports how long after start that was; ok is false when c
// was still open at the deadline.
func closedByPeer(c net.Conn, start, deadline time.Time) (after time.Duration, ok bool) {
	_ = c.SetReadDeadline(deadline)
	buf := make([]byte, 4096)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return 0, false
		}
		return time.Since(start), true // io.EOF or ECONNRESET
	}
}

// syncBuffer is a log sink safe for the platform's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestIdleTCPConnectionsAreClosed: a TCP connection that sends nothing is
// closed by the server once TCPIdleTimeout has passed, while one that keeps
// sending stays open and answered well beyond it. The timeout is a kernel
// read deadline on a real socket, which a fake clock cannot drive, so the
// test uses a short real timeout and generous upper bounds.
func TestIdleTCPConnectionsAreClosed(t *testing.T) {
	sbt.CheckGoroutines(t)
	const idle = 300 * time.Millisecond
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	p := startTCPPlatform(t, platform.Config{TCP: []string{"127.0.0.1:0"}, TCPIdleTimeout: idle}, platform.WithLogger(log))
	start := time.Now()
	silent := dialFrom(t, "", p.Addr("tcp"))
	active := dialFrom(t, "", p.Addr("tcp"))

	type result struct {
		after time.Duration
		ok    bool
	}
	closed := make(chan result, 1)
	go func() {
		after, ok := closedByPeer(silent, start, start.Add(5*time.Second))
		closed <- result{after, ok}
	}()
	// Three timeouts' worth of traffic on the active connection, a request
	// every third of a timeout.
	for time.Since(start) < 3*idle {
		if got := tcpOptions(active, 2*time.Second); !strings.HasPrefix(got, "SIP/2.0 200") {
			t.Fatalf("active connection after %s: OPTIONS got %q", time.Since(start), got)
		}
		time.Sleep(idle / 3)
	}
	r := <-closed
	if !r.ok {
		t.Fatal("the silent connection was still open 5s after it was opened")
	}
	if r.after < idle || r.after > idle+2*time.Second {
		t.Errorf("the silent connection was closed after %s, want about %s", r.after, idle)
	}
	if got := tcpOptions(active, 2*time.Second); !strings.HasPrefix(got, "SIP/2.0 200") {
		t.Fatalf("active connection at the end: OPTIONS got %q", got)
	}
	// sipgo must take the idle close for a closed connection (a debug
	// line), not a read error.
	if strings.Contains(logs.String(), "error") {
		t.Errorf("the idle close was logged as an error:\n%s", logs.String())
	}
}

// TestConnectionsPerSourceAreCapped: with MaxConnsPerSource 3, a fourth
// connection from 127.0.0.1 is closed at once (and logged once, however
// many are refused), a connection from 127.0.0.2 is served, and once one of
// the three closes 127.0.0.1 is served again.
func TestConnectionsPerSourceAreCapped(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs the whole of 127.0.0.0/8 on loopback")
	}
	sbt.CheckGoroutines(t)
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	p := startTCPPlatform(t, platform.Config{TCP: []string{"127.0.0.1:0"}, MaxConnsPerSource: 3}, platform.WithLogger(log))
	addr := p.Addr("tcp")

	var first []net.Conn
	for i := range 3 {
		c := dialFrom(t, "127.0.0.1", addr)
		if got := tcpOptions(c, 2*time.Second); !strings.HasPrefix(got, "SIP/2.0 200") {
			t.Fatalf("connection %d: OPTIONS got %q", i+1, got)
		}
		first = append(first, c)
	}
	for i := 4; i <= 5; i++ {
		over := dialFrom(t, "127.0.0.1", addr)
		start := time.Now()
		_, _ = over.Write([]byte("OPTIONS sip:anyone@127.0.0.1 SIP/2.0\r\n"))
		after, ok := closedByPeer(over, start, start.Add(2*time.Second))
		if !ok {
			t.Fatalf("connection %d from 127.0.0.1 was not closed", i)
		}
		if after > time.Second {
			t.Errorf("connection %d from 127.0.0.1 was closed only after %s", i, after)
		}
	}
	if n := strings.Count(logs.String(), "per-source cap"); n != 1 {
		t.Errorf("%d log lines about the cap for one source, want 1:\n%s", n, logs.String())
	}
	other := dialFrom(t, "127.0.0.2", addr)
	if got := tcpOptions(other, 2*time.Second); !strings.HasPrefix(got, "SIP/2.0 200") {
		t.Fatalf("connection from 127.0.0.2: OPTIONS got %q", got)
	}
	for _, c := range first {
		if got := tcpOptions(c, 2*time.Second); !strings.HasPrefix(got, "SIP/2.0 200") {
			t.Fatalf("a connection under the cap is no longer served: %q", got)
		}
	}

	// The server learns of the close when its read returns EOF; retry for
	// a while.
	first[0].Close()
	deadline := time.Now().Add(3 * time.Second)
	for {
		c := dialFrom(t, "127.0.0.1", addr)
		if got := tcpOptions(c, time.Second); strings.HasPrefix(got, "SIP/2.0 200") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("127.0.0.1 is not served again after one of its connections closed")
		}
		c.Close()
		time.Sleep(20 * time.Millisecond)
	}
}

// TestIdleTimeoutValidated: a positive TCPIdleTimeout too short to be
// meant (a bare YAML number is nanoseconds) is refused.
func TestIdleTimeoutValidated(t *testing.T) {
	p, err := platform.New(platform.Config{TCP: []string{"127.0.0.1:0"}, TCPIdleTimeout: 5})
	if err == nil {
		p.Close()
		t.Fatal("New accepted a 5ns idle timeout")
	}
}

const fdHelperEnv = "SWITCHBOARD_TEST_FD_HELPER"

// helperFDLimit is the RLIMIT_NOFILE of the helper server process.
const helperFDLimit = 64

// TestFDHelperServer is not a test: TestTCPServedAgainAfterFDExhaustion
// runs the test binary again with it as a child process, a platform
// serving TCP with few file descriptors. It prints "PORT <port>" on
// stdout, logs on stderr, and serves until its stdin closes.
func TestFDHelperServer(t *testing.T) {
	if os.Getenv(fdHelperEnv) != "1" {
		t.Skip("helper process of TestTCPServedAgainAfterFDExhaustion")
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	lim.Cur = helperFDLimit
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	// No cap and no idle timeout: only the descriptor limit is at work.
	p, err := platform.New(platform.Config{TCP: []string{"127.0.0.1:0"}, MaxConnsPerSource: -1, TCPIdleTimeout: -1},
		platform.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("PORT %d\n", p.Addr("tcp").(*net.TCPAddr).Port)
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// TestTCPServedAgainAfterFDExhaustion: a child server process with
// RLIMIT_NOFILE 64 is sent TCP connections until it cannot accept more
// (an OPTIONS on the newest goes unanswered and the child logs "too many
// open files"); once they are all closed, a fresh TCP OPTIONS is answered
// 200 within a second.
func TestTCPServedAgainAfterFDExhaustion(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("RLIMIT_NOFILE behaviour is Linux's")
	}
	if os.Getenv(fdHelperEnv) != "" {
		t.Skip("in the helper process")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFDHelperServer$", "-test.count=1")
	cmd.Env = append(os.Environ(), fdHelperEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var (
		childLog  syncBuffer
		exhausted = make(chan struct{})
		logDone   = make(chan struct{})
	)
	go func() {
		defer close(logDone)
		var once sync.Once
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			fmt.Fprintln(&childLog, sc.Text())
			if strings.Contains(sc.Text(), "too many open files") {
				once.Do(func() { close(exhausted) })
			}
		}
	}()
	ports := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if port, ok := strings.CutPrefix(sc.Text(), "PORT "); ok {
				ports <- port
			}
		}
		close(ports)
	}()
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() {
			<-logDone
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill() // by PID: this child only
			<-logDone
		}
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("child log:\n%s", childLog.String())
		}
	})

	var port string
	select {
	case port = <-ports:
	case <-time.After(30 * time.Second):
		t.Fatal("the child printed no port")
	}
	if port == "" {
		t.Fatal("the child exited without a port")
	}
	addr, err := net.ResolveTCPAddr("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}

	var conns []net.Conn
	closeAll := func() {
		for _, c := range conns {
			c.Close()
		}
		conns = nil
	}
	defer closeAll()
	served := 0
	for len(conns) < 4*helperFDLimit {
		c, err := net.DialTimeout("tcp", addr.String(), 2*time.Second)
		if err != nil {
			t.Fatalf("dial %d: %v", len(conns)+1, err)
		}
		conns = append(conns, c)
		if got := tcpOptions(c, 500*time.Millisecond); got == "" {
			break
		} else if !strings.HasPrefix(got, "SIP/2.0 200") {
			t.Fatalf("connection %d: OPTIONS got %q", len(conns), got)
		}
		served++
	}
	if served == len(conns) {
		t.Fatalf("all %d connections were served: the descriptor limit was never reached", served)
	}
	select {
	case <-exhausted:
	case <-time.After(5 * time.Second):
		t.Fatal("connection went unanswered but the child logged no accept failure")
	}
	t.Logf("%d connections served before accept failed", served)

	closeAll()
	start := time.Now()
	c, err := net.DialTimeout("tcp", addr.String(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := tcpOptions(c, time.Second-time.Since(start)); !strings.HasPrefix(got, "SIP/2.0 200") {
		t.Fatalf("after the connections closed, a fresh TCP OPTIONS got %q within 1s", got)
	}
	t.Logf("served again %s after the connections closed", time.Since(start))
}

// TestIdleTLSConnectionsAreClosed: the idle timeout applies beneath TLS
// too: a connection that completes its handshake and then sends nothing is
// closed after TCPIdleTimeout.
func TestIdleTLSConnectionsAreClosed(t *testing.T) {
	sbt.CheckGoroutines(t)
	const idle = 300 * time.Millisecond
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	dir := t.TempDir()
	ca := issue(t, "test-ca", nil, true)
	srvCert, srvKey := issue(t, "switchboard", ca, false).files(t, dir, "server")
	p := startTCPPlatform(t, platform.Config{
		TLS:            []platform.TLSListener{{Addr: "127.0.0.1:0", CertFile: srvCert, KeyFile: srvKey}},
		TCPIdleTimeout: idle,
	}, platform.WithLogger(log))
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	start := time.Now()
	conn, err := tls.Dial("tcp", p.Addr("tls").String(), &tls.Config{RootCAs: pool, ServerName: "switchboard"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	after, ok := closedByPeer(conn, start, start.Add(5*time.Second))
	if !ok {
		t.Fatal("the silent TLS connection was still open 5s after it was opened")
	}
	if after < idle || after > idle+2*time.Second {
		t.Errorf("the silent TLS connection was closed after %s, want about %s", after, idle)
	}
	if strings.Contains(logs.String(), "error") {
		t.Errorf("the idle close was logged as an error:\n%s", logs.String())
	}
}
