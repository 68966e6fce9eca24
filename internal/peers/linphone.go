package peers

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/media/audio"
)

// linphoneInstallHint is appended to failures caused by a missing linphonec.
const linphoneInstallHint = "run scripts/test, which installs the real SIP peers " +
	"(apt-get install -y --no-install-recommends linphone-cli)"

// Timeouts used by the linphone driver.
const (
	linphoneStartTimeout  = 10 * time.Second
	linphoneStopTimeout   = 3 * time.Second
	linphoneStartAttempts = 3
	linphoneRTPPorts      = 64
)

// LinphoneOptions configures a linphonec instance started by StartLinphone.
type LinphoneOptions struct {
	// User is the user part of the instance's identity (its From and
	// Contact); the default is "linda".
	User string
	// AudioFile is a 16-bit PCM WAV file that linphone sends as its
	// microphone ("soundcard use files", then "play FILE"). Empty means two
	// minutes of silence.
	AudioFile string
	// AutoAnswer starts linphonec with -a: incoming calls are answered at
	// once. Otherwise they ring until Answer.
	AutoAnswer bool
}

// Linphone is a running linphonec 5.1 process driven through its standard
// input. Its methods may be called from any goroutine.
//
// linphonec prints what happens to its calls as lines on standard output;
// the driver turns the lines about calls into Events named as baresip's:
// CALL_INCOMING ("Receiving new incoming call from URI, assigned id N"),
// CALL_ESTABLISHED ("Call N with URI connected."), CALL_RTPESTAB ("Media
// streams established with URI for call N"), CALL_CLOSED ("Call N with URI
// ended (reason)."). Param holds the whole line; ID the call's number.
type Linphone struct {
	user    string
	dir     string
	recDir  string
	sipPort int
	log     *syncBuffer
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	exited  chan struct{}

	writeMu sync.Mutex

	mu      sync.Mutex
	events  []Event
	next    map[string]int
	changed chan struct{}
	recs    int
}

// RequireLinphone returns the path of the linphonec binary, or fails the test
// with instructions to install it.
func RequireLinphone(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("linphonec")
	if err != nil {
		t.Fatalf("peers: linphonec not found (%v): %s", err, linphoneInstallHint)
	}
	return path
}

// StartLinphone starts linphonec on 127.0.0.1 with a private HOME and config
// file, free SIP and RTP ports, files instead of a sound card, and video off.
// It returns once linphonec's SIP port is open. The process is stopped when
// the test ends; if the test failed, its log is written with t.Log.
//
// Every call's received audio is recorded to a new file in a private
// directory, see Recordings. Behaviour of linphonec 5.1 the driver relies
// on: it never opens its SIP port unless $HOME/.local/share/linphone
// exists; its config migration turns IPv6 on unless use_ipv6=0 and
// ipv6_migration_done=1; sip_tcp_port=-1 means a random port, so TCP and TLS
// are switched off with 0.
func StartLinphone(t testing.TB, opts LinphoneOptions) *Linphone {
	t.Helper()
	bin := RequireLinphone(t)
	if opts.User == "" {
		opts.User = "linda"
	}
	audio := opts.AudioFile
	if audio == "" {
		audio = WriteWAV(t, make([]int16, 8000*silenceSeconds), 8000)
	}
	var lastErr error
	for attempt := 1; attempt <= linphoneStartAttempts; attempt++ {
		l, err := startLinphoneOnce(t, bin, audio, opts)
		if err == nil {
			t.Cleanup(func() {
				l.stop()
				if t.Failed() {
					t.Logf("linphonec %s log:\n%s", l.URI(), l.Log())
				}
			})
			return l
		}
		lastErr = err
		t.Logf("peers: linphonec start attempt %d failed (retrying with new ports): %v", attempt, err)
	}
	t.Fatalf("peers: linphonec did not start after %d attempts; last failure: %v", linphoneStartAttempts, lastErr)
	return nil
}

// startLinphoneOnce makes one attempt to start linphonec on freshly chosen
// ports. On failure the process is stopped and the error includes its log.
func startLinphoneOnce(t testing.TB, bin, audio string, opts LinphoneOptions) (*Linphone, error) {
	t.Helper()
	dir := t.TempDir()
	l := &Linphone{
		user:    opts.User,
		dir:     dir,
		recDir:  filepath.Join(dir, "recordings"),
		sipPort: FreeSIPPort(t),
		log:     &syncBuffer{},
		exited:  make(chan struct{}),
		next:    make(map[string]int),
		changed: make(chan struct{}),
	}
	home := filepath.Join(dir, "home")
	for _, d := range []string{l.recDir, filepath.Join(home, ".local", "share", "linphone")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("peers: %v", err)
		}
	}
	rtpLo, rtpHi := freeRTPRange(t, linphoneRTPPorts)
	rc := filepath.Join(dir, "linphonerc")
	if err := os.WriteFile(rc, []byte(linphoneConfig(l, rtpLo, rtpHi)), 0o644); err != nil {
		t.Fatalf("peers: writing linphonec config: %v", err)
	}
	args := []string{"-c", rc}
	if opts.AutoAnswer {
		args = append(args, "-a")
	}
	l.cmd = exec.Command(bin, args...)
	l.cmd.Dir = dir
	l.cmd.Env = append(os.Environ(), "HOME="+home)
	pr, pw := io.Pipe()
	l.cmd.Stdout = io.MultiWriter(l.log, pw)
	l.cmd.Stderr = l.log
	l.cmd.WaitDelay = time.Second
	stdin, err := l.cmd.StdinPipe()
	if err != nil {
		t.Fatalf("peers: linphonec stdin: %v", err)
	}
	l.stdin = stdin
	if err := l.cmd.Start(); err != nil {
		t.Fatalf("peers: starting linphonec: %v", err)
	}
	go func() {
		_ = l.cmd.Wait()
		pw.Close()
		close(l.exited)
	}()
	go l.readLoop(pr)

	ctx, cancel := context.WithTimeout(context.Background(), linphoneStartTimeout)
	defer cancel()
	// The port may be taken by someone else: then linphonec's own socket
	// never shows up in its log, which says "Could not bind".
	err = WaitUDPListening(ctx, l.sipPort)
	if err == nil && strings.Contains(l.Log(), "Could not bind") {
		err = errors.New("SIP port taken")
	}
	if err == nil {
		for _, c := range []string{"soundcard use files", "play " + audio} {
			if err = l.Command(c); err != nil {
				break
			}
		}
	}
	if err == nil {
		_, err = l.NewRecording()
	}
	if err != nil {
		l.stop()
		return nil, fmt.Errorf("%w; log:\n%s", err, l.Log())
	}
	return l, nil
}

// linphoneConfig renders linphonec's config file (linphonerc).
func linphoneConfig(l *Linphone, rtpLo, rtpHi int) string {
	return fmt.Sprintf(`# Written by internal/peers for one test.
[sip]
sip_port=%d
sip_tcp_port=0
sip_tls_port=0
bind_address=%s
use_ipv6=0
ipv6_migration_done=1
guess_hostname=0
contact="%s" <sip:%s@%s>
register_only_when_network_is_up=0
[rtp]
audio_rtp_port=%d-%d
[video]
enabled=0
capture=0
display=0
automatically_initiate=0
automatically_accept=0
[sound]
echocancellation=0
`, l.sipPort, loopback, l.user, l.user, loopback, rtpLo, rtpHi)
}

// readLoop turns linphonec's output lines into events until it exits.
func (l *Linphone) readLoop(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		for strings.HasPrefix(line, "linphonec>") {
			line = strings.TrimSpace(strings.TrimPrefix(line, "linphonec>"))
		}
		if ev, ok := linphoneEvent(line); ok {
			l.mu.Lock()
			l.events = append(l.events, ev)
			close(l.changed)
			l.changed = make(chan struct{})
			l.mu.Unlock()
		}
	}
	_, _ = io.Copy(io.Discard, r)
	l.mu.Lock()
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

// linphoneEvent parses one output line of linphonec 5.1 about a call.
func linphoneEvent(line string) (Event, bool) {
	ev := Event{Class: "call", Param: line}
	var id int
	var rest string
	switch {
	case strings.HasPrefix(line, "Receiving new incoming call from "):
		ev.Type, ev.Direction = "CALL_INCOMING", "incoming"
		rest = strings.TrimPrefix(line, "Receiving new incoming call from ")
		if i := strings.LastIndex(rest, ", assigned id "); i >= 0 {
			ev.PeerURI, ev.ID = rest[:i], rest[i+len(", assigned id "):]
		}
		return ev, true
	case strings.HasPrefix(line, "Media streams established with "):
		ev.Type = "CALL_RTPESTAB"
		rest = strings.TrimPrefix(line, "Media streams established with ")
		if i := strings.Index(rest, " for call "); i >= 0 {
			ev.PeerURI = rest[:i]
			ev.ID = strings.Fields(rest[i+len(" for call "):])[0]
		}
		return ev, true
	case strings.HasPrefix(line, "Call "):
		if _, err := fmt.Sscanf(line, "Call %d ", &id); err != nil {
			return ev, false
		}
		ev.ID = fmt.Sprint(id)
		fields := strings.Fields(line)
		if len(fields) >= 4 && (fields[2] == "with" || fields[2] == "to") {
			ev.PeerURI = fields[3]
		}
		switch {
		case strings.HasSuffix(line, " connected."):
			ev.Type = "CALL_ESTABLISHED"
		case strings.Contains(line, " ended ("):
			ev.Type = "CALL_CLOSED"
		case strings.HasSuffix(line, " ringing."):
			ev.Type = "CALL_RINGING"
		default:
			return ev, false
		}
		return ev, true
	}
	return ev, false
}

// stop ends the process: "quit" first, which hangs up its calls, then
// SIGTERM and SIGKILL.
func (l *Linphone) stop() {
	select {
	case <-l.exited:
		return
	default:
	}
	_ = l.Command("quit")
	select {
	case <-l.exited:
		return
	case <-time.After(linphoneStopTimeout):
	}
	_ = l.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-l.exited:
	case <-time.After(linphoneStopTimeout):
		_ = l.cmd.Process.Kill()
		<-l.exited
	}
}

// URI returns the instance's SIP URI, sip:user@127.0.0.1:port, which other
// peers dial to reach it.
func (l *Linphone) URI() string {
	return fmt.Sprintf("sip:%s@%s:%d", l.user, loopback, l.sipPort)
}

// SIPPort returns the UDP port linphonec listens on for SIP.
func (l *Linphone) SIPPort() int { return l.sipPort }

// Log returns everything linphonec has written to stdout and stderr so far.
func (l *Linphone) Log() string { return l.log.String() }

// Command writes one line to linphonec's standard input. linphonec gives no
// answer that the driver could wait for; watch the events instead.
func (l *Linphone) Command(line string) error {
	select {
	case <-l.exited:
		return errors.New("linphonec: process has exited")
	default:
	}
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if _, err := io.WriteString(l.stdin, line+"\n"); err != nil {
		return fmt.Errorf("linphonec %q: %w", line, err)
	}
	return nil
}

// Dial places a call to uri; wait for CALL_ESTABLISHED or CALL_CLOSED.
func (l *Linphone) Dial(uri string) error { return l.Command("call " + uri) }

// Answer answers the ringing incoming call.
func (l *Linphone) Answer() error { return l.Command("answer") }

// Hangup ends the current call.
func (l *Linphone) Hangup() error { return l.Command("terminate") }

// Transfer blind-transfers the current call to uri (a REFER).
func (l *Linphone) Transfer(uri string) error { return l.Command("transfer " + uri) }

// NewRecording makes the calls that start from now on record their received
// audio to a new file, and returns its path. linphonec records every call
// to the file named last; StartLinphone names the first.
func (l *Linphone) NewRecording() (string, error) {
	l.mu.Lock()
	l.recs++
	path := filepath.Join(l.recDir, fmt.Sprintf("rec-%03d.wav", l.recs))
	l.mu.Unlock()
	return path, l.Command("record " + path)
}

// RecordingSamples waits until the recording at path is complete (linphonec
// writes its WAV header sizes when the call ends), reads it and returns its
// samples as mono and its sample rate. It fails the test if that does not
// happen within ten seconds: hang up first.
func (l *Linphone) RecordingSamples(t testing.TB, path string) ([]int16, int) {
	t.Helper()
	deadline := time.Now().Add(recordingTimeout)
	for {
		clip, err := readLinphoneWAV(path)
		if err == nil {
			w := wavFile{Clip: clip, finalized: true}
			return w.mono(), w.SampleRate
		}
		if time.Now().After(deadline) {
			t.Fatalf("peers: linphonec recording %s not complete within %v (%v); hang up and wait for CALL_CLOSED first",
				path, recordingTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readLinphoneWAV reads a recording made by linphonec 5.1. While recording,
// its canonical 44-byte header has zero sizes; at the end of the call they
// are written, but larger than what the file holds (by 44 bytes or more,
// seen on this machine), which media/audio rightly rejects as truncated.
// Once the sizes are set, they are corrected to the file's length.
func readLinphoneWAV(path string) (*audio.Clip, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(data) < 44 || string(data[36:40]) != "data" {
		return nil, fmt.Errorf("%s: no canonical WAV header yet", path)
	}
	if binary.LittleEndian.Uint32(data[40:]) == 0 {
		return nil, fmt.Errorf("%s: still being written", path)
	}
	n := (len(data) - 44) &^ 1
	data = data[:44+n]
	binary.LittleEndian.PutUint32(data[4:], uint32(len(data)-8))
	binary.LittleEndian.PutUint32(data[40:], uint32(n))
	clip, err := audio.ReadWAV(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return clip, nil
}

// WaitEvent returns the next event of type typ that no earlier WaitEvent for
// that type has returned, waiting for it if needed, like Baresip.WaitEvent.
// It fails when ctx ends or linphonec has exited with no such event
// buffered.
func (l *Linphone) WaitEvent(ctx context.Context, typ string) (Event, error) {
	for {
		l.mu.Lock()
		for i := l.next[typ]; i < len(l.events); i++ {
			if l.events[i].Type == typ {
				l.next[typ] = i + 1
				ev := l.events[i]
				l.mu.Unlock()
				return ev, nil
			}
		}
		l.next[typ] = len(l.events)
		changed := l.changed
		l.mu.Unlock()
		select {
		case <-l.exited:
			return Event{}, fmt.Errorf("waiting for linphonec event %s: process has exited", typ)
		default:
		}
		select {
		case <-ctx.Done():
			return Event{}, fmt.Errorf("waiting for linphonec event %s (seen: %s): %w", typ, l.eventSummary(), ctx.Err())
		case <-changed:
		case <-l.exited:
		}
	}
}

// Events returns a copy of every event seen so far, oldest first.
func (l *Linphone) Events() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Event(nil), l.events...)
}

// eventSummary lists the types of the events seen so far.
func (l *Linphone) eventSummary() string {
	var types []string
	for _, e := range l.Events() {
		types = append(types, e.Type+"("+e.ID+")")
	}
	if len(types) == 0 {
		return "none"
	}
	return strings.Join(types, " ")
}
