package peers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// kamailioInstallHint is appended to failures caused by a missing Kamailio.
const kamailioInstallHint = "run scripts/test, which installs the real SIP peers " +
	"(apt-get install -y --no-install-recommends kamailio)"

// Timeouts used by the Kamailio driver.
const (
	kamailioStartTimeout  = 10 * time.Second
	kamailioStopTimeout   = 3 * time.Second
	kamailioStartAttempts = 3
)

// kamailioModuleDirs lists where distributions install Kamailio's modules.
func kamailioModuleDirs() []string {
	return []string{
		"/usr/lib/x86_64-linux-gnu/kamailio/modules",
		"/usr/lib/aarch64-linux-gnu/kamailio/modules",
		"/usr/lib/kamailio/modules",
		"/usr/local/lib64/kamailio/modules",
		"/usr/local/lib/kamailio/modules",
	}
}

// KamailioOptions configures a Kamailio proxy started by StartKamailio.
type KamailioOptions struct {
	// Backend is the host:port every initial request is sent to, e.g. the
	// address of a Switchboard server. Required.
	Backend string
}

// Kamailio is a running Kamailio 5.6 proxy in front of one backend.
type Kamailio struct {
	port   int
	log    *syncBuffer
	cmd    *exec.Cmd
	exited chan struct{}
}

// RequireKamailio returns the path of the kamailio binary, or fails the test
// with instructions to install it.
func RequireKamailio(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("kamailio")
	if err != nil {
		t.Fatalf("peers: kamailio not found (%v): %s", err, kamailioInstallHint)
	}
	return path
}

// kamailioModuleDir returns the directory holding Kamailio's modules, or fails
// the test.
func kamailioModuleDir(t testing.TB) string {
	t.Helper()
	for _, dir := range kamailioModuleDirs() {
		if _, err := os.Stat(filepath.Join(dir, "rr.so")); err == nil {
			return dir
		}
	}
	t.Fatalf("peers: Kamailio modules (rr.so) not found in %v: %s", kamailioModuleDirs(), kamailioInstallHint)
	return ""
}

// StartKamailio starts a stateless, record-routing Kamailio proxy on
// 127.0.0.1, UDP, on a free port, with a config written to a private
// directory: initial requests (and ACKs outside a route set) go to
// opts.Backend, INVITE, SUBSCRIBE and REFER are record-routed, and in-dialog
// requests follow their Route headers (loose_route), so a dialog's requests
// in both directions pass through the proxy. Replies follow their Via
// headers. Every message received is logged for Trace. It returns once the proxy's port is open; the process is stopped
// when the test ends, and its log written with t.Log if the test failed.
func StartKamailio(t testing.TB, opts KamailioOptions) *Kamailio {
	t.Helper()
	bin := RequireKamailio(t)
	modDir := kamailioModuleDir(t)
	if opts.Backend == "" {
		t.Fatal("peers: KamailioOptions.Backend is required")
	}
	var lastErr error
	for attempt := 1; attempt <= kamailioStartAttempts; attempt++ {
		k, err := startKamailioOnce(t, bin, modDir, opts)
		if err == nil {
			t.Cleanup(func() {
				k.stop()
				if t.Failed() {
					t.Logf("kamailio %s log:\n%s", k.Addr(), k.Log())
				}
			})
			return k
		}
		lastErr = err
		t.Logf("peers: kamailio start attempt %d failed (retrying with a new port): %v", attempt, err)
	}
	t.Fatalf("peers: kamailio did not start after %d attempts; last failure: %v", kamailioStartAttempts, lastErr)
	return nil
}

// startKamailioOnce makes one attempt to start Kamailio on a freshly chosen
// port. On failure the process is stopped and the error includes its log.
func startKamailioOnce(t testing.TB, bin, modDir string, opts KamailioOptions) (*Kamailio, error) {
	t.Helper()
	dir := t.TempDir()
	k := &Kamailio{port: FreeUDPPort(t), log: &syncBuffer{}, exited: make(chan struct{})}
	cfg := filepath.Join(dir, "kamailio.cfg")
	if err := os.WriteFile(cfg, []byte(kamailioConfig(k.port, modDir, opts.Backend)), 0o644); err != nil {
		t.Fatalf("peers: writing kamailio config: %v", err)
	}
	// -DD: stay in the foreground, -E: log to stderr, -Y: private run
	// directory (control sockets), small memory pools.
	k.cmd = exec.Command(bin, "-f", cfg, "-DD", "-E", "-Y", dir, "-m", "32", "-M", "8")
	k.cmd.Dir = dir
	k.cmd.Stdout = k.log
	k.cmd.Stderr = k.log
	k.cmd.WaitDelay = time.Second
	// Kamailio forks its workers; they get a process group of their own,
	// led by the process started here, so a kill reaches them too.
	k.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := k.cmd.Start(); err != nil {
		t.Fatalf("peers: starting kamailio: %v", err)
	}
	go func() {
		_ = k.cmd.Wait()
		close(k.exited)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), kamailioStartTimeout)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- WaitUDPListening(ctx, k.port) }()
	var err error
	select {
	case err = <-errc:
	case <-k.exited:
		err = errors.New("kamailio exited during start-up")
	}
	if err == nil {
		select {
		case <-k.exited:
			err = errors.New("kamailio exited during start-up")
		default:
		}
	}
	if err != nil {
		k.stop()
		return nil, fmt.Errorf("%w; log:\n%s", err, k.Log())
	}
	return k, nil
}

// kamailioConfig renders the proxy's config.
func kamailioConfig(port int, modDir, backend string) string {
	return fmt.Sprintf(`#!KAMAILIO
# Written by internal/peers for one test.
debug=2
log_stderror=yes
children=2
auto_aliases=no
listen=udp:%[1]s:%[2]d
alias="%[1]s:%[2]d"
mpath="%[3]s"

loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "siputils.so"
loadmodule "textops.so"
loadmodule "xlog.so"

modparam("rr", "enable_full_lr", 1)
modparam("rr", "append_fromtag", 1)

request_route {
	xlog("L_NOTICE", "peers-trace: $TV(Sn) $rm $ru from $si:$sp Call-ID $ci Referred-By $hdr(Referred-By)\n");
	if (!mf_process_maxfwd_header("10")) {
		sl_send_reply("483", "Too Many Hops");
		exit;
	}
	if (has_totag()) {
		if (loose_route()) {
			forward();
			exit;
		}
		if (is_method("ACK")) {
			$du = "sip:%[4]s";
			forward();
			exit;
		}
		sl_send_reply("404", "Not Here");
		exit;
	}
	if (is_method("CANCEL")) {
		$du = "sip:%[4]s";
		forward();
		exit;
	}
	remove_hf("Route");
	if (is_method("INVITE|SUBSCRIBE|REFER")) {
		record_route();
	}
	$du = "sip:%[4]s";
	forward();
}

reply_route {
	xlog("L_NOTICE", "peers-trace: $TV(Sn) $rs $rm from $si:$sp Call-ID $ci\n");
}
`, loopback, port, modDir, backend)
}

// stop ends the process: SIGTERM, which makes Kamailio stop its workers,
// then SIGKILL to the process group it leads.
func (k *Kamailio) stop() {
	select {
	case <-k.exited:
		return
	default:
	}
	_ = k.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-k.exited:
	case <-time.After(kamailioStopTimeout):
		_ = syscall.Kill(-k.cmd.Process.Pid, syscall.SIGKILL)
		<-k.exited
	}
}

// Addr returns the proxy's address, 127.0.0.1:port.
func (k *Kamailio) Addr() string { return loopback + ":" + strconv.Itoa(k.port) }

// Port returns the proxy's UDP port.
func (k *Kamailio) Port() int { return k.port }

// URI returns a SIP URI with the given user part at the proxy, e.g.
// sip:park@127.0.0.1:port.
func (k *Kamailio) URI(user string) string {
	return "sip:" + user + "@" + k.Addr()
}

// Trace returns one line per message the proxy has received so far, oldest
// first: "SECONDS.MICROS METHOD URI from IP:PORT Call-ID ID Referred-By
// VALUE" for requests (VALUE is <null> without the header),
// "SECONDS.MICROS CODE CSEQ-METHOD from IP:PORT Call-ID ID" for replies.
func (k *Kamailio) Trace() []string {
	var out []string
	for _, line := range strings.Split(k.Log(), "\n") {
		if _, msg, ok := strings.Cut(line, "peers-trace: "); ok {
			out = append(out, msg)
		}
	}
	return out
}

// Log returns everything Kamailio has written so far.
func (k *Kamailio) Log() string { return k.log.String() }
