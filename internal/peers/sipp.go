package peers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// sippStopTimeout is how long SIPp gets to quit after SIGUSR1 before it is
// killed. SIPp lets running calls finish first, and the built-in UAS keeps
// each call for four seconds after its BYE.
const sippStopTimeout = 10 * time.Second

// SIPpResult describes one finished SIPp run.
type SIPpResult struct {
	// ExitCode is SIPp's exit status: 0 when every call succeeded, 1 when
	// some failed, 97 after an internal exit command, 99 when no call was
	// processed, 255 and 254 for fatal errors (socket binding for 254), and
	// -1 when it was killed by a signal.
	ExitCode int
	// Stdout and Stderr are SIPp's output; stdout ends with its final
	// statistics screen.
	Stdout, Stderr string
	// Stats is the last line of the -trace_stat CSV file, keyed by the
	// file's header, e.g. "SuccessfulCall(C)" or "FailedCall(C)". It is nil
	// if SIPp wrote no statistics.
	Stats map[string]string
	// Successful and Failed are the cumulative successful and failed call
	// counts, from Stats or, failing that, from the final screen.
	Successful, Failed int
	// Dir is the private working directory holding SIPp's log files.
	Dir string
	// ErrorLog is the content of the -trace_err log (unexpected messages).
	ErrorLog string
}

// SIPpProcess is a SIPp process started by StartSIPp.
type SIPpProcess struct {
	dir     string
	cmd     *exec.Cmd
	stdout  *syncBuffer
	stderr  *syncBuffer
	exited  chan struct{}
	once    sync.Once
	result  SIPpResult
	waitErr error
}

// RequireSIPp returns the path of the sipp binary, or fails the test with
// instructions to install it.
func RequireSIPp(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("sipp")
	if err != nil {
		t.Fatalf("peers: sipp not found (%v): %s", err, installHint)
	}
	return path
}

// WriteScenario writes a SIPp XML scenario to a file in a new temporary
// directory and returns its absolute path, for use with -sf.
func WriteScenario(t testing.TB, xml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "scenario.xml")
	if err := os.WriteFile(path, []byte(xml), 0o644); err != nil {
		t.Fatalf("peers: writing SIPp scenario: %v", err)
	}
	return path
}

// RunSIPp runs SIPp with args until it exits and returns the result; see
// StartSIPp for the arguments it adds. When ctx ends, SIPp is asked to stop
// (SIGUSR1) and killed ten seconds later if it has not.
func RunSIPp(t testing.TB, ctx context.Context, args ...string) SIPpResult {
	t.Helper()
	return StartSIPp(t, ctx, args...).Wait()
}

// StartSIPp starts SIPp with args in a private working directory (relative
// paths in args resolve there, so pass absolute ones) and returns at once.
// It adds -nostdin, "-i 127.0.0.1" unless args set -i, a safety -timeout
// past the test's deadline unless args set -timeout, and always
// "-trace_stat -stf DIR/stat.csv -trace_err -error_file DIR/errors.log"
// (so args must not set -stf or -error_file). When ctx ends, or at the end of
// the test, SIPp is stopped as by Stop. If the test failed, SIPp's output is
// logged.
func StartSIPp(t testing.TB, ctx context.Context, args ...string) *SIPpProcess {
	t.Helper()
	bin := RequireSIPp(t)
	dir := t.TempDir()
	full := append([]string(nil), args...)
	if !contains(args, "-nostdin") {
		full = append(full, "-nostdin")
	}
	if !contains(args, "-i") {
		full = append(full, "-i", loopback)
	}
	if !contains(args, "-timeout") {
		full = append(full, "-timeout", fmt.Sprintf("%ds", int(peerLifetime(t)/time.Second)))
	}
	full = append(full,
		"-trace_stat", "-stf", filepath.Join(dir, "stat.csv"),
		"-trace_err", "-error_file", filepath.Join(dir, "errors.log"))

	p := &SIPpProcess{
		dir:    dir,
		stdout: &syncBuffer{},
		stderr: &syncBuffer{},
		exited: make(chan struct{}),
	}
	p.cmd = exec.CommandContext(ctx, bin, full...)
	p.cmd.Dir = dir
	p.cmd.Stdin = nil
	p.cmd.Stdout = p.stdout
	p.cmd.Stderr = p.stderr
	p.cmd.Cancel = func() error { return p.cmd.Process.Signal(syscall.SIGUSR1) }
	p.cmd.WaitDelay = sippStopTimeout
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("peers: starting sipp: %v", err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		res := p.Stop()
		if t.Failed() {
			t.Logf("sipp %s exited with %d\nstdout:\n%s\nstderr:\n%s\nerrors log:\n%s",
				strings.Join(full, " "), res.ExitCode, res.Stdout, res.Stderr, res.ErrorLog)
		}
	})
	return p
}

// Dir returns the process's private working directory.
func (p *SIPpProcess) Dir() string { return p.dir }

// Exited returns a channel that is closed when SIPp has exited.
func (p *SIPpProcess) Exited() <-chan struct{} { return p.exited }

// Wait waits for SIPp to exit and returns the result. It may be called more
// than once and from any goroutine.
func (p *SIPpProcess) Wait() SIPpResult {
	<-p.exited
	p.once.Do(p.collect)
	return p.result
}

// Stop asks SIPp to quit gracefully with SIGUSR1: it places no new calls,
// lets running calls end (the built-in UAS holds each call four seconds after
// its BYE), writes its final statistics and exits. Stop kills it if it has not
// exited within ten seconds, and returns the result. Stopping a process that
// has exited just returns its result. A second SIGUSR1 is never sent: it
// makes SIPp 3.6.1 abort its calls and then hang.
func (p *SIPpProcess) Stop() SIPpResult {
	select {
	case <-p.exited:
	default:
		_ = p.cmd.Process.Signal(syscall.SIGUSR1)
		select {
		case <-p.exited:
		case <-time.After(sippStopTimeout):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	}
	return p.Wait()
}

// collect builds the result once SIPp has exited.
func (p *SIPpProcess) collect() {
	res := SIPpResult{
		ExitCode: -1,
		Stdout:   p.stdout.String(),
		Stderr:   p.stderr.String(),
		Dir:      p.dir,
	}
	if p.cmd.ProcessState != nil {
		res.ExitCode = p.cmd.ProcessState.ExitCode()
	}
	var exitErr *exec.ExitError
	if p.waitErr != nil && !errors.As(p.waitErr, &exitErr) && res.Stderr == "" {
		res.Stderr = p.waitErr.Error()
	}
	if b, err := os.ReadFile(filepath.Join(p.dir, "errors.log")); err == nil {
		res.ErrorLog = string(b)
	}
	res.Stats = parseSIPpStats(filepath.Join(p.dir, "stat.csv"))
	if res.Stats != nil {
		res.Successful, _ = strconv.Atoi(res.Stats["SuccessfulCall(C)"])
		res.Failed, _ = strconv.Atoi(res.Stats["FailedCall(C)"])
	} else {
		res.Successful = screenCount(res.Stdout, "Successful call")
		res.Failed = screenCount(res.Stdout, "Failed call")
	}
	p.result = res
}

// parseSIPpStats returns the last line of a SIPp statistics file keyed by
// its header, or nil if the file has no data line.
func parseSIPpStats(path string) map[string]string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) < 2 {
		return nil
	}
	header := strings.Split(lines[0], ";")
	values := strings.Split(lines[len(lines)-1], ";")
	stats := make(map[string]string, len(header))
	for i, name := range header {
		if name = strings.TrimSpace(name); name != "" && i < len(values) {
			stats[name] = strings.TrimSpace(values[i])
		}
	}
	return stats
}

// screenCount reads a cumulative count such as "Successful call" from the
// last statistics screen SIPp printed.
func screenCount(screen, label string) int {
	re := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(label) + `\s*\|\s*\d+\s*\|\s*(\d+)`)
	m := re.FindAllStringSubmatch(screen, -1)
	if len(m) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(m[len(m)-1][1])
	return n
}

// ReadLogs returns the content of the -trace_logs files (the scenario's
// <log> actions) that SIPp wrote in dir.
func ReadLogs(t testing.TB, dir string) string {
	t.Helper()
	return readGlob(t, filepath.Join(dir, "*_logs.log"))
}

// ReadMessages returns the -trace_msg log (every message sent and
// received) that SIPp wrote in dir.
func ReadMessages(t testing.TB, dir string) string {
	t.Helper()
	return readGlob(t, filepath.Join(dir, "*_messages.log"))
}

func readGlob(t testing.TB, pattern string) string {
	t.Helper()
	files, _ := filepath.Glob(pattern)
	var sb strings.Builder
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("peers: %v", err)
		}
		sb.Write(b)
	}
	return sb.String()
}

// ReplyOK is a SIPp scenario step that answers the last request received
// with 200 OK (for BYE, NOTIFY and the like); scenarios written as Go raw
// strings splice it in: `...` + peers.ReplyOK + `...`.
const ReplyOK = `  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
`
