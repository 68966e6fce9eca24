// Package kamailio_test runs deploy/kamailio/kamailio.cfg, unchanged, in
// front of three `switchboard serve` processes sharing one redis-server —
// the topology of issue 17 on one machine: Kamailio on 127.0.0.1, nodes on
// 127.0.0.2, 127.0.0.3 and 127.0.0.4 (Linux routes all of 127.0.0.0/8 to
// lo). The test starts every process itself, on free ports, and stops each
// by its PID.
package kamailio_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/internal/peers"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

const hint = "run scripts/test, which installs kamailio, redis-server, sip-tester and baresip-core"

// syncBuffer is a log written by a child process and read by the test.
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

// proc is a child process this test started; it is stopped by its PID.
type proc struct {
	name   string
	cmd    *exec.Cmd
	log    *syncBuffer
	exited chan struct{}
}

func startProc(t *testing.T, name string, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{name: name, cmd: cmd, log: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	return p
}

func (p *proc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// signal sends sig to the process (to its process group when it leads
// one, as Kamailio does with its workers).
func (p *proc) signal(sig syscall.Signal) {
	if !p.alive() {
		return
	}
	pid := p.cmd.Process.Pid
	if p.cmd.SysProcAttr != nil && p.cmd.SysProcAttr.Setpgid {
		pid = -pid
	}
	_ = syscall.Kill(pid, sig)
}

// stop sends SIGTERM, then SIGKILL after grace, and waits.
func (p *proc) stop(grace time.Duration) {
	p.signal(syscall.SIGCONT)
	p.signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		p.signal(syscall.SIGKILL)
		<-p.exited
	}
}

// node is one `switchboard serve` process.
type node struct {
	*proc
	id, ip    string
	port      int // SIP, UDP
	adminPort int
}

func (n *node) addr() string { return fmt.Sprintf("%s:%d", n.ip, n.port) }

// orbits returns the orbits of the parked calls the node's admin API lists
// (every node's, from the shared store).
func (n *node) orbits(t *testing.T) []string {
	t.Helper()
	var out []string
	for o := range n.parked(t) {
		out = append(out, o)
	}
	slices.Sort(out)
	return out
}

// parked returns the Call-ID of each parked call by orbit.
func (n *node) parked(t *testing.T) map[string]string {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://%s:%d/api/v1/orbits", n.ip, n.adminPort))
	if err != nil {
		t.Fatalf("%s admin: %v", n.id, err)
	}
	defer resp.Body.Close()
	var v struct {
		Orbits []struct {
			Orbit  string `json:"orbit"`
			CallID string `json:"call_id"`
		} `json:"orbits"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("%s admin orbits: %v", n.id, err)
	}
	out := map[string]string{}
	for _, o := range v.Orbits {
		out[o.Orbit] = o.CallID
	}
	return out
}

// cluster is Redis, three nodes and Kamailio.
type cluster struct {
	dir      string
	bin      string
	redis    *proc
	redisURL string
	nodes    []*node
	kam      *proc
	kamPort  int
}

// freeTCPPort returns a TCP port free on ip.
func freeTCPPort(t *testing.T, ip string) int {
	t.Helper()
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// freeUDPPort returns a UDP port free on ip.
func freeUDPPort(t *testing.T, ip string) int {
	t.Helper()
	for range 50 {
		c, err := net.ListenPacket("udp", ip+":0")
		if err != nil {
			t.Fatal(err)
		}
		port := c.LocalAddr().(*net.UDPAddr).Port
		c.Close()
		if port < 40000 || port > 49999 { // clear of the RTP ranges below
			return port
		}
	}
	t.Fatal("no free UDP port")
	return 0
}

// repoRoot is the module root (this package is deploy/kamailio).
func repoRoot(t *testing.T) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(filepath.Dir(wd))
}

// startCluster starts Redis, three nodes (node-1..3 on 127.0.0.2..4) and
// Kamailio in front of them, with orbits 7000..7000+orbits-1.
func startCluster(t *testing.T, orbits int) *cluster {
	t.Helper()
	for _, bin := range []string{"kamailio", "redis-server", "sipp", "baresip"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not found (%v): %s", bin, err, hint)
		}
	}
	c := &cluster{dir: t.TempDir()}
	c.bin = filepath.Join(c.dir, "switchboard")
	build := exec.Command("go", "build", "-o", c.bin, "./cmd/switchboard")
	build.Dir = repoRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	c.startRedis(t, 0)
	t.Cleanup(func() {
		// Kamailio first, then the nodes, then Redis: each by its PID.
		if c.kam != nil {
			c.kam.stop(3 * time.Second)
		}
		for _, n := range c.nodes {
			n.stop(5 * time.Second)
		}
		c.redis.stop(2 * time.Second)
		if t.Failed() {
			if c.kam != nil {
				t.Logf("kamailio log (tail):\n%s", tail(c.kam.log.String(), 6000))
			}
			for _, n := range c.nodes {
				t.Logf("%s log (tail):\n%s", n.id, tail(n.log.String(), 4000))
			}
		}
	})
	for i := range 3 {
		c.nodes = append(c.nodes, c.startNode(t, i, orbits))
	}
	c.startKamailio(t)
	c.waitParkReady(t)
	return c
}

// waitParkReady waits out the store's recovery window after Redis first
// starts (release_after/2): until a probe call to node-1's park address is
// parked; it then hangs up and waits for the orbit to be free.
func (c *cluster) waitParkReady(t *testing.T) {
	t.Helper()
	ph := sbt.NewPhone(t, "probe")
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		pc, err := ph.DialContext(ctx, "sip:park@"+c.nodes[0].addr(), endpoint.EstablishOptions{})
		cancel()
		if err == nil {
			pc.Hangup(t)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("parks still refused after 20 s: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for deadline := time.Now().Add(10 * time.Second); len(c.nodes[0].orbits(t)) != 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("probe orbit not freed: %v", c.nodes[0].orbits(t))
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// startRedis starts redis-server on port (0: a free one).
func (c *cluster) startRedis(t *testing.T, port int) {
	t.Helper()
	if port == 0 {
		port = freeTCPPort(t, "127.0.0.1")
	}
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", c.dir)
	c.redis = startProc(t, "redis", cmd)
	c.redisURL = fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return
		}
		if !c.redis.alive() || time.Now().After(deadline) {
			t.Fatalf("redis-server on %s not up: %v\n%s", addr, err, c.redis.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startNode starts node i (node-<i+1> on 127.0.0.<i+2>).
func (c *cluster) startNode(t *testing.T, i, orbits int) *node {
	t.Helper()
	ip := fmt.Sprintf("127.0.0.%d", i+2)
	n := &node{id: fmt.Sprintf("node-%d", i+1), ip: ip, port: freeUDPPort(t, ip), adminPort: freeTCPPort(t, ip)}
	dir := filepath.Join(c.dir, n.id)
	for _, d := range []string{dir, filepath.Join(dir, "recs"), filepath.Join(dir, "msgs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	rtp := 40000 + i*3000
	cfg := fmt.Sprintf(`platform:
  udp: ["%[1]s:%[2]d"]
  tcp: []
  host: "%[1]s"
  domains: ["127.0.0.1"]      # the proxy's host: Request-URIs name it
  media_ip: "%[1]s"
  rtp_port_min: %[3]d
  rtp_port_max: %[4]d
  trusted_peers: ["127.0.0.0/8"]
drain_timeout: 8s
admin:
  listen: "%[1]s:%[5]d"
apps:
  park:
    store: %[6]q
    node: %[7]s
    orbits: [{start: "7000", end: "%[8]d"}]
    pickup_timeout: 10m
    announce: false
  recording:
    dir: %[9]q
  ivr:
    message_dir: %[10]q
`, ip, n.port, rtp, rtp+2998, n.adminPort, c.redisURL, n.id, 7000+orbits-1,
		filepath.Join(dir, "recs"), filepath.Join(dir, "msgs"))
	path := filepath.Join(dir, "switchboard.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	c.launch(t, n)
	return n
}

// launch starts (or restarts, on the same addresses) node n's process.
func (c *cluster) launch(t *testing.T, n *node) {
	t.Helper()
	dir := filepath.Join(c.dir, n.id)
	cmd := exec.Command(c.bin, "serve", "-config", filepath.Join(dir, "switchboard.yaml"))
	cmd.Dir = dir
	n.proc = startProc(t, n.id, cmd)
	c.waitNode(t, n)
}

// waitKamLog waits until Kamailio's log, after its first from bytes,
// contains one of ss; it returns how long that took.
func (c *cluster) waitKamLog(t *testing.T, from int, within time.Duration, ss ...string) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		for _, s := range ss {
			if strings.Contains(c.kam.log.String()[from:], s) {
				return time.Since(start)
			}
		}
		if time.Since(start) > within {
			t.Fatalf("Kamailio did not log %q within %v", ss, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *cluster) kamLogLen() int { return len(c.kam.log.String()) }

// waitNode waits until the node answers OPTIONS with 200.
func (c *cluster) waitNode(t *testing.T, n *node) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if code := options(n.addr(), 500*time.Millisecond); code == 200 {
			return
		}
		if !n.alive() || time.Now().After(deadline) {
			t.Fatalf("%s did not start:\n%s", n.id, n.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// options sends one OPTIONS to addr and returns the status code (0: none).
func options(addr string, timeout time.Duration) int {
	conn, err := net.Dial("udp", addr)
	if err != nil {
		return 0
	}
	defer conn.Close()
	la := conn.LocalAddr().(*net.UDPAddr)
	msg := fmt.Sprintf("OPTIONS sip:%[1]s SIP/2.0\r\nVia: SIP/2.0/UDP %[2]s;branch=z9hG4bK%[3]d\r\n"+
		"From: <sip:probe@%[2]s>;tag=%[3]d\r\nTo: <sip:%[1]s>\r\nCall-ID: probe-%[3]d\r\nCSeq: 1 OPTIONS\r\n"+
		"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n", addr, la.String(), time.Now().UnixNano())
	if _, err := conn.Write([]byte(msg)); err != nil {
		return 0
	}
	_ = conn.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return 0
		}
		var code int
		if _, err := fmt.Sscanf(string(buf[:n]), "SIP/2.0 %d", &code); err == nil && code >= 200 {
			return code
		}
	}
}

// startKamailio runs deploy/kamailio/kamailio.cfg as it is in the repo,
// given its listen socket, dispatcher list and a 1 s ping interval with -A.
func (c *cluster) startKamailio(t *testing.T) {
	t.Helper()
	dir := filepath.Join(c.dir, "kamailio")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var list strings.Builder
	list.WriteString("# setid destination (written by the test)\n")
	for _, n := range c.nodes {
		fmt.Fprintf(&list, "1 sip:%s\n", n.addr())
	}
	lf := filepath.Join(dir, "dispatcher.list")
	if err := os.WriteFile(lf, []byte(list.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(repoRoot(t), "deploy", "kamailio", "kamailio.cfg")
	for attempt := 1; ; attempt++ {
		c.kamPort = freeUDPPort(t, "127.0.0.1")
		cmd := exec.Command("kamailio", "-f", cfg, "-DD", "-E", "-Y", dir, "-m", "64", "-M", "8",
			"-A", fmt.Sprintf("LISTEN=udp:127.0.0.1:%d", c.kamPort),
			"-A", fmt.Sprintf("DISPATCHER_LIST=%q", lf),
			"-A", "PING_INTERVAL=1", "-A", "FR_TIMER=1000", "-A", "CHILDREN=4")
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		c.kam = startProc(t, "kamailio", cmd)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		go func() { <-c.kam.exited; cancel() }()
		err := peers.WaitUDPListening(ctx, c.kamPort)
		cancel()
		if err == nil && c.kam.alive() {
			return
		}
		c.kam.stop(time.Second)
		if attempt == 3 {
			t.Fatalf("kamailio did not start: %v\n%s", err, c.kam.log.String())
		}
	}
}

// uri is a SIP URI with user at the proxy.
func (c *cluster) uri(user string) string {
	return fmt.Sprintf("sip:%s@127.0.0.1:%d", user, c.kamPort)
}

func (c *cluster) kamAddr() string { return fmt.Sprintf("127.0.0.1:%d", c.kamPort) }

var frontLine = regexp.MustCompile(`switchboard-front: (\S+) (\S+) to sip:(\S+) \(Call-ID (\S+)\)`)

// landed returns the node that Kamailio sent the first request with
// Request-URI ru (and method) to, after the first skip such lines.
func (c *cluster) landings(method, ru string) []*node {
	var out []*node
	for _, m := range frontLine.FindAllStringSubmatch(c.kam.log.String(), -1) {
		if m[1] != method || m[2] != ru {
			continue
		}
		for _, n := range c.nodes {
			if n.addr() == m[3] {
				out = append(out, n)
			}
		}
	}
	return out
}

// byAddr returns the node at host:port.
func (c *cluster) byAddr(addr string) *node {
	for _, n := range c.nodes {
		if n.addr() == addr {
			return n
		}
	}
	return nil
}
