package peers

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/media/audio"
)

// installHint is appended to every failure caused by a missing peer.
const installHint = "run scripts/test, which installs the real SIP peers " +
	"(apt-get install -y --no-install-recommends sip-tester baresip-core sox)"

// baresipModuleDirs lists where distributions install baresip's modules.
func baresipModuleDirs() []string {
	return []string{
		"/usr/lib/baresip/modules",
		"/usr/lib/x86_64-linux-gnu/baresip/modules",
		"/usr/lib/aarch64-linux-gnu/baresip/modules",
		"/usr/local/lib/baresip/modules",
	}
}

// codecModule returns the baresip module that provides a codec named as in
// SDP (case-insensitive). Codecs it does not know need their module named in
// ExtraConfig.
func codecModule(codec string) (string, bool) {
	switch strings.ToUpper(codec) {
	case "PCMU", "PCMA":
		return "g711.so", true
	case "G722":
		return "g722.so", true
	case "GSM":
		return "gsm.so", true
	case "L16":
		return "l16.so", true
	case "OPUS":
		return "opus.so", true
	}
	return "", false
}

// Timeouts used by the baresip driver.
const (
	baresipStartTimeout   = 5 * time.Second
	baresipCommandTimeout = 10 * time.Second
	baresipStopTimeout    = 3 * time.Second
	recordingTimeout      = 10 * time.Second
	baresipStartAttempts  = 3
	baresipRTPPorts       = 64
	silenceSeconds        = 120
)

// BaresipOptions configures a baresip instance started by StartBaresip.
type BaresipOptions struct {
	// User is the account's user part; the default is "alice".
	User string
	// AudioFile is a 16-bit PCM WAV file that baresip sends as its
	// microphone (aufile module). Its rate and channel count are read from
	// its header (8000 or 48000 Hz mono are the tested cases). baresip hangs
	// up the call when the file ends. Empty means two minutes of silence.
	AudioFile string
	// Codecs, when not empty, restricts the audio codecs the account offers
	// and accepts, e.g. {"PCMU"} or {"PCMA"}, using the account parameter
	// audio_codecs, in that order of preference. The modules for PCMU,
	// PCMA, G722, GSM, L16 and opus are loaded as needed; G.711's is loaded
	// when Codecs is empty or names PCMU or PCMA, so {"G722"} is a
	// wideband-only phone.
	Codecs []string
	// AutoAnswer makes the account answer incoming calls at once
	// (answermode=auto). Otherwise calls ring until Accept.
	AutoAnswer bool
	// ExtraConfig is appended to baresip's config file. baresip honours the
	// first occurrence of a key, so a key given here replaces the harness's
	// default for it, except sip_listen, ctrl_tcp_listen and snd_path, which
	// the harness needs; module lines are always added.
	ExtraConfig string
	// AccountParams are appended to the account line, e.g.
	// ";mediaenc=srtp-mand" (with "module srtp.so" in ExtraConfig).
	AccountParams string
}

// Event is one event that baresip pushed over ctrl_tcp.
type Event struct {
	// Type is the event name, e.g. CALL_INCOMING, CALL_RINGING,
	// CALL_ESTABLISHED, CALL_RTPESTAB, CALL_DTMF_START, CALL_DTMF_END,
	// CALL_CLOSED, CALL_RTCP, AUDIO_ERROR, CALL_LOCAL_SDP, CALL_REMOTE_SDP.
	Type string
	// Class is baresip's event class, e.g. "call" or "other".
	Class string
	// Param is the event's parameter: the DTMF key for CALL_DTMF_START, the
	// reason for CALL_CLOSED, the peer's URI for CALL_ESTABLISHED.
	Param string
	// PeerURI is the URI of the remote party.
	PeerURI string
	// ID is the call's identifier (its SIP Call-ID).
	ID string
	// Direction is "incoming" or "outgoing".
	Direction string
	// AccountAOR is the address of record of the account the event is for.
	AccountAOR string
	// Raw holds the whole decoded JSON object.
	Raw map[string]any
}

// ctrlResponse is baresip's answer to one ctrl_tcp command.
type ctrlResponse struct {
	OK   bool   `json:"ok"`
	Data string `json:"data"`
}

// Baresip is a running baresip process driven over its ctrl_tcp interface.
// Its methods may be called from any goroutine.
type Baresip struct {
	user     string
	dir      string
	sndDir   string
	sipPort  int
	ctrlPort int
	log      *syncBuffer
	cmd      *exec.Cmd
	exited   chan struct{}
	conn     net.Conn

	writeMu sync.Mutex

	mu      sync.Mutex
	seq     int
	events  []Event
	next    map[string]int
	changed chan struct{}
	pending map[string]chan ctrlResponse
	readErr error
}

// RequireBaresip returns the path of the baresip binary, or fails the test
// with instructions to install it.
func RequireBaresip(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("baresip")
	if err != nil {
		t.Fatalf("peers: baresip not found (%v): %s", err, installHint)
	}
	return path
}

// baresipModuleDir returns the directory holding baresip's modules, or fails
// the test.
func baresipModuleDir(t testing.TB) string {
	t.Helper()
	for _, dir := range baresipModuleDirs() {
		if _, err := os.Stat(filepath.Join(dir, "ctrl_tcp.so")); err == nil {
			return dir
		}
	}
	t.Fatalf("peers: baresip modules (ctrl_tcp.so) not found in %v: %s", baresipModuleDirs(), installHint)
	return ""
}

// StartBaresip starts a baresip process listening on 127.0.0.1 with a
// private config directory, free SIP, RTP and control ports, and a recording
// directory, and connects to its ctrl_tcp interface. The process is stopped
// when the test ends; if the test failed, its log is written with t.Log.
func StartBaresip(t testing.TB, opts BaresipOptions) *Baresip {
	t.Helper()
	bin := RequireBaresip(t)
	modDir := baresipModuleDir(t)
	if opts.User == "" {
		opts.User = "alice"
	}
	audio := opts.AudioFile
	if audio == "" {
		audio = WriteWAV(t, make([]int16, 8000*silenceSeconds), 8000)
	}
	rate, channels := wavFormat(t, audio)
	for _, c := range opts.Codecs {
		if m, ok := codecModule(c); ok {
			if _, err := os.Stat(filepath.Join(modDir, m)); err != nil {
				t.Fatalf("peers: baresip module %s for codec %s is missing: %s", m, c, installHint)
			}
		}
	}

	var lastLog string
	for attempt := 1; attempt <= baresipStartAttempts; attempt++ {
		b, err := startBaresipOnce(t, bin, modDir, audio, rate, channels, opts)
		if err == nil {
			t.Cleanup(func() {
				b.stop()
				if t.Failed() {
					t.Logf("baresip %s log:\n%s", b.URI(), b.Log())
				}
			})
			return b
		}
		lastLog = err.Error()
		t.Logf("peers: baresip start attempt %d failed (retrying with new ports): %v", attempt, err)
	}
	t.Fatalf("peers: baresip did not start after %d attempts; last failure: %s", baresipStartAttempts, lastLog)
	return nil
}

// startBaresipOnce makes one attempt to start baresip on freshly chosen
// ports. On failure the process is stopped and the error includes its log.
func startBaresipOnce(t testing.TB, bin, modDir, audio string, rate, channels int, opts BaresipOptions) (*Baresip, error) {
	t.Helper()
	dir := t.TempDir()
	b := &Baresip{
		user:     opts.User,
		dir:      dir,
		sndDir:   filepath.Join(dir, "recordings"),
		sipPort:  FreeSIPPort(t),
		ctrlPort: FreeTCPPort(t),
		log:      &syncBuffer{},
		exited:   make(chan struct{}),
		next:     make(map[string]int),
		changed:  make(chan struct{}),
		pending:  make(map[string]chan ctrlResponse),
	}
	rtpLo, rtpHi := freeRTPRange(t, baresipRTPPorts)
	if err := os.Mkdir(b.sndDir, 0o755); err != nil {
		t.Fatalf("peers: %v", err)
	}
	config := baresipConfig(b, modDir, audio, rate, channels, rtpLo, rtpHi, opts)
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(config), 0o644); err != nil {
		t.Fatalf("peers: writing baresip config: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "accounts"), []byte(baresipAccount(b, opts)+"\n"), 0o644); err != nil {
		t.Fatalf("peers: writing baresip accounts: %v", err)
	}

	// -t is a safety net: baresip quits by itself if the test binary dies
	// without running its cleanups.
	lifetime := int(peerLifetime(t) / time.Second)
	b.cmd = exec.Command(bin, "-f", dir, "-t", strconv.Itoa(lifetime))
	b.cmd.Dir = dir
	b.cmd.Stdin = nil // /dev/null: baresip must not load stdio.so.
	b.cmd.Stdout = b.log
	b.cmd.Stderr = b.log
	b.cmd.WaitDelay = time.Second
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("peers: starting baresip: %v", err)
	}
	go func() {
		_ = b.cmd.Wait()
		close(b.exited)
	}()

	if err := b.connect(); err != nil {
		b.stop()
		return nil, fmt.Errorf("%w; log:\n%s", err, b.Log())
	}
	return b, nil
}

// baresipConfig renders baresip's config file.
func baresipConfig(b *Baresip, modDir, audio string, rate, channels, rtpLo, rtpHi int, opts BaresipOptions) string {
	type line struct{ key, value string }
	defaults := []line{
		{"sip_listen", fmt.Sprintf("%s:%d", loopback, b.sipPort)},
		{"net_interface", loopback},
		// No name lookups are expected; should one happen it stays local.
		{"dns_server", loopback + ":53"},
		{"call_local_timeout", "120"},
		{"call_max_calls", "4"},
		{"audio_source", "aufile," + audio},
		{"ausrc_srate", strconv.Itoa(rate)},
		{"ausrc_channels", strconv.Itoa(channels)},
		{"rtp_ports", fmt.Sprintf("%d-%d", rtpLo, rtpHi)},
		{"rtcp_mux", "no"},
		{"jitter_buffer_delay", "5-10"},
		{"module_path", modDir},
		{"ctrl_tcp_listen", fmt.Sprintf("%s:%d", loopback, b.ctrlPort)},
		{"snd_path", b.sndDir},
		{"statmode_default", "off"},
		{"menu_bell", "no"},
		{"ringback_disabled", "yes"},
	}
	protected := map[string]bool{"sip_listen": true, "ctrl_tcp_listen": true, "snd_path": true}
	overridden := map[string]bool{}
	for _, l := range strings.Split(opts.ExtraConfig, "\n") {
		if f := strings.Fields(l); len(f) > 0 && !strings.HasPrefix(f[0], "#") && !protected[f[0]] {
			overridden[f[0]] = true
		}
	}

	// G.711 is loaded unless Codecs names other codecs only, so that a
	// wideband-only phone (Codecs: {"G722"}) cannot fall back to it.
	var modules []string
	if len(opts.Codecs) == 0 || slices.ContainsFunc(opts.Codecs, func(c string) bool {
		return strings.EqualFold(c, "PCMU") || strings.EqualFold(c, "PCMA")
	}) {
		modules = append(modules, "g711.so")
	}
	for _, c := range opts.Codecs {
		if m, ok := codecModule(c); ok && !contains(modules, m) {
			modules = append(modules, m)
		}
	}
	modules = append(modules, "aufile.so", "sndfile.so")

	var sb strings.Builder
	sb.WriteString("# Written by internal/peers for one test.\n")
	for _, l := range defaults {
		if !overridden[l.key] {
			fmt.Fprintf(&sb, "%s\t%s\n", l.key, l.value)
		}
	}
	for _, m := range modules {
		fmt.Fprintf(&sb, "module\t%s\n", m)
	}
	sb.WriteString("module_tmp\taccount.so\n")
	// menu provides dial, accept, hangup and sndcode; ctrl_tcp exposes them.
	sb.WriteString("module_app\tmenu.so\n")
	sb.WriteString("module_app\tctrl_tcp.so\n")
	if opts.ExtraConfig != "" {
		sb.WriteString("# ExtraConfig\n")
		sb.WriteString(opts.ExtraConfig)
		sb.WriteString("\n")
	}
	return sb.String()
}

// baresipAccount renders the single line of baresip's accounts file.
func baresipAccount(b *Baresip, opts BaresipOptions) string {
	answer := "manual"
	if opts.AutoAnswer {
		answer = "auto"
	}
	acc := fmt.Sprintf("<%s>;regint=0;answermode=%s", b.URI(), answer)
	if len(opts.Codecs) > 0 {
		names := make([]string, len(opts.Codecs))
		for i, c := range opts.Codecs {
			names[i] = c
			if strings.EqualFold(c, "G722") {
				// baresip names codecs by their audio rate, not by
				// G.722's RTP clock rate of 8000 (RFC 3551 section 4.5.2).
				names[i] = "G722/16000"
			}
		}
		acc += ";audio_codecs=" + strings.Join(names, ",")
	}
	return acc + opts.AccountParams
}

// connect dials ctrl_tcp until it answers or baresip exits, starts the event
// reader, and checks that the process behind the port is this baresip.
func (b *Baresip) connect() error {
	deadline := time.Now().Add(baresipStartTimeout)
	addr := net.JoinHostPort(loopback, strconv.Itoa(b.ctrlPort))
	// baresip exits when its SIP port is taken, but runs on without
	// ctrl_tcp when the control port is; it reports both before "ready".
	for !strings.Contains(b.Log(), "baresip is ready") {
		select {
		case <-b.exited:
			return errors.New("baresip exited during start-up")
		default:
		}
		if time.Now().After(deadline) {
			return errors.New("baresip did not become ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if strings.Contains(b.Log(), "ctrl_tcp: failed to listen") {
		return fmt.Errorf("ctrl_tcp could not listen on %s", addr)
	}
	for {
		select {
		case <-b.exited:
			return errors.New("baresip exited during start-up")
		default:
		}
		conn, err := net.DialTimeout("tcp4", addr, time.Second)
		if err == nil {
			b.conn = conn
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ctrl_tcp on %s did not answer: %v", addr, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
	go b.readLoop()
	// Another process may have taken the control port first; make sure the
	// one answering has our account.
	data, err := b.Command("reginfo", "")
	if err != nil {
		return fmt.Errorf("ctrl_tcp on %s: %w", addr, err)
	}
	if !strings.Contains(data, b.URI()) {
		return fmt.Errorf("ctrl_tcp on %s belongs to another baresip: reginfo says %q", addr, data)
	}
	return nil
}

// stop closes the control connection and ends the process: SIGTERM first,
// which lets baresip hang up its calls, then SIGKILL.
func (b *Baresip) stop() {
	if b.conn != nil {
		_ = b.conn.Close()
	}
	select {
	case <-b.exited:
		return
	default:
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.exited:
	case <-time.After(baresipStopTimeout):
		_ = b.cmd.Process.Kill()
		<-b.exited
	}
}

// URI returns the account's SIP URI, sip:user@127.0.0.1:port, which other
// peers dial to reach this instance.
func (b *Baresip) URI() string {
	return fmt.Sprintf("sip:%s@%s:%d", b.user, loopback, b.sipPort)
}

// SIPPort returns the port baresip listens on for SIP over UDP and TCP.
func (b *Baresip) SIPPort() int { return b.sipPort }

// Dir returns baresip's private config directory.
func (b *Baresip) Dir() string { return b.dir }

// Log returns everything baresip has written to stdout and stderr so far.
func (b *Baresip) Log() string { return b.log.String() }

// Dial places a call to uri. It returns once baresip has accepted the
// command; wait for CALL_ESTABLISHED or CALL_CLOSED to learn the outcome.
func (b *Baresip) Dial(uri string) error {
	_, err := b.Command("dial", uri)
	return err
}

// Hangup ends the current call.
func (b *Baresip) Hangup() error {
	_, err := b.Command("hangup", "")
	return err
}

// Accept answers the ringing incoming call (after CALL_INCOMING).
func (b *Baresip) Accept() error {
	_, err := b.Command("accept", "")
	return err
}

// SendDTMF sends digits (0-9, *, #, A-D) on the current call as RFC 4733
// telephone-events, using baresip's sndcode command. It fails when there is
// no call.
func (b *Baresip) SendDTMF(digits string) error {
	_, err := b.Command("sndcode", digits)
	return err
}

// Command sends one ctrl_tcp command with its parameters and returns the
// response's data (baresip's text output). It returns an error, with the data
// in its message, when baresip reports the command failed, when no response
// arrives within ten seconds, or when the connection is gone.
func (b *Baresip) Command(cmd, params string) (string, error) {
	b.mu.Lock()
	if b.readErr != nil {
		err := b.readErr
		b.mu.Unlock()
		return "", fmt.Errorf("baresip %s: %w", cmd, err)
	}
	b.seq++
	token := strconv.Itoa(b.seq)
	ch := make(chan ctrlResponse, 1)
	b.pending[token] = ch
	closed := b.changed
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.pending, token)
		b.mu.Unlock()
	}()

	body, err := json.Marshal(map[string]string{"command": cmd, "params": params, "token": token})
	if err != nil {
		return "", err
	}
	b.writeMu.Lock()
	_ = b.conn.SetWriteDeadline(time.Now().Add(baresipCommandTimeout))
	_, err = fmt.Fprintf(b.conn, "%d:%s,", len(body), body)
	b.writeMu.Unlock()
	if err != nil {
		return "", fmt.Errorf("baresip %s: %w", cmd, err)
	}

	timer := time.NewTimer(baresipCommandTimeout)
	defer timer.Stop()
	for {
		select {
		case r := <-ch:
			if !r.OK {
				return r.Data, fmt.Errorf("baresip %s %q failed: %s", cmd, params, strings.TrimSpace(r.Data))
			}
			return r.Data, nil
		case <-closed:
			b.mu.Lock()
			err, closed = b.readErr, b.changed
			b.mu.Unlock()
			if err != nil {
				return "", fmt.Errorf("baresip %s: %w", cmd, err)
			}
		case <-timer.C:
			return "", fmt.Errorf("baresip %s: no response within %v", cmd, baresipCommandTimeout)
		}
	}
}

// WaitEvent returns the next event of type typ that no earlier WaitEvent for
// that type has returned, waiting for it if needed. Events are buffered from
// the moment baresip starts, so an event that arrived before the call is
// found. Calling it four times for CALL_DTMF_START returns four digits in
// order. It fails when ctx ends or when baresip's connection is gone and no
// such event is buffered.
func (b *Baresip) WaitEvent(ctx context.Context, typ string) (Event, error) {
	for {
		b.mu.Lock()
		for i := b.next[typ]; i < len(b.events); i++ {
			if b.events[i].Type == typ {
				b.next[typ] = i + 1
				ev := b.events[i]
				b.mu.Unlock()
				return ev, nil
			}
		}
		b.next[typ] = len(b.events)
		changed, readErr := b.changed, b.readErr
		b.mu.Unlock()
		if readErr != nil {
			return Event{}, fmt.Errorf("waiting for baresip event %s: %w", typ, readErr)
		}
		select {
		case <-ctx.Done():
			return Event{}, fmt.Errorf("waiting for baresip event %s (seen: %s): %w", typ, b.eventSummary(), ctx.Err())
		case <-changed:
		}
	}
}

// Events returns a copy of every event received so far, oldest first.
func (b *Baresip) Events() []Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Event(nil), b.events...)
}

// eventSummary lists the types of the events received so far.
func (b *Baresip) eventSummary() string {
	var types []string
	for _, e := range b.Events() {
		if e.Type != "CALL_RTCP" {
			types = append(types, e.Type)
		}
	}
	if len(types) == 0 {
		return "none"
	}
	return strings.Join(types, " ")
}

// readLoop reads netstrings from ctrl_tcp until the connection ends, filing
// responses by token and appending events.
func (b *Baresip) readLoop() {
	r := bufio.NewReader(b.conn)
	var err error
	for {
		var msg []byte
		msg, err = readNetstring(r)
		if err != nil {
			break
		}
		var raw map[string]any
		if jerr := json.Unmarshal(msg, &raw); jerr != nil {
			fmt.Fprintf(b.log, "\npeers: undecodable ctrl_tcp message %q: %v\n", msg, jerr)
			continue
		}
		switch {
		case raw["response"] == true:
			var resp ctrlResponse
			_ = json.Unmarshal(msg, &resp)
			token, _ := raw["token"].(string)
			b.mu.Lock()
			if ch, ok := b.pending[token]; ok {
				ch <- resp
			}
			b.mu.Unlock()
		case raw["event"] == true:
			ev := Event{Raw: raw}
			ev.Type, _ = raw["type"].(string)
			ev.Class, _ = raw["class"].(string)
			ev.Param, _ = raw["param"].(string)
			ev.PeerURI, _ = raw["peeruri"].(string)
			ev.ID, _ = raw["id"].(string)
			ev.Direction, _ = raw["direction"].(string)
			ev.AccountAOR, _ = raw["accountaor"].(string)
			b.mu.Lock()
			b.events = append(b.events, ev)
			close(b.changed)
			b.changed = make(chan struct{})
			b.mu.Unlock()
		}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		err = errors.New("ctrl_tcp connection closed (baresip stopped?)")
	}
	b.mu.Lock()
	b.readErr = err
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}

// readNetstring reads one netstring ("len:payload,") from r.
func readNetstring(r *bufio.Reader) ([]byte, error) {
	head, err := r.ReadString(':')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(head[:len(head)-1]))
	if err != nil || n < 0 || n > 16<<20 {
		return nil, fmt.Errorf("bad netstring length %q", head)
	}
	buf := make([]byte, n+1)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	if buf[n] != ',' {
		return nil, fmt.Errorf("netstring not terminated by a comma")
	}
	return buf[:n], nil
}

// Recordings returns the paths of the recordings of decoded (received)
// audio, <snd_path>/dump-*-dec.wav, oldest first. A recording is complete
// only once its call has ended.
func (b *Baresip) Recordings() []string {
	paths, _ := filepath.Glob(filepath.Join(b.sndDir, "dump-*-dec.wav"))
	sort.Strings(paths) // The names embed the start time.
	return paths
}

// RecordingSamples waits until the newest recording of received audio is
// finalized (baresip writes its header sizes when the call ends), reads it,
// and returns its samples as mono and its sample rate. It fails the test if
// no finalized recording appears within ten seconds: hang up first.
func (b *Baresip) RecordingSamples(t testing.TB) ([]int16, int) {
	t.Helper()
	deadline := time.Now().Add(recordingTimeout)
	for {
		recs := b.Recordings()
		var lastErr error
		if len(recs) > 0 {
			w, err := readWAVFile(recs[len(recs)-1])
			if err == nil && w.finalized {
				return w.mono(), w.SampleRate
			}
			lastErr = err
			if err == nil {
				lastErr = errors.New("still being written")
			}
		}
		if time.Now().After(deadline) {
			if len(recs) == 0 {
				t.Fatalf("peers: baresip %s made no recording in %s (did a call start?)", b.URI(), b.sndDir)
			}
			t.Fatalf("peers: baresip recording %s not finalized within %v (%v); hang up and wait for CALL_CLOSED first",
				recs[len(recs)-1], recordingTimeout, lastErr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// peerLifetime is how long a peer may outlive its start: until the test's
// deadline plus a minute, or thirty minutes when there is no deadline. The
// peers quit by themselves after it in case the test binary dies.
func peerLifetime(t testing.TB) time.Duration {
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := d.Deadline(); ok {
			if left := time.Until(dl) + time.Minute; left > time.Minute {
				return left
			}
			return time.Minute
		}
	}
	return 30 * time.Minute
}

// syncBuffer is a bytes.Buffer safe for concurrent writers and readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p to the buffer.
func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

// String returns the buffer's contents.
func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// contains reports whether list holds s.
func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// WriteWAV writes 16-bit mono PCM samples at the given rate to a new WAV file
// in a temporary directory and returns its path, e.g. as a baresip
// AudioFile.
func WriteWAV(t testing.TB, samples []int16, rate int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), fmt.Sprintf("audio-%dhz.wav", rate))
	f, err := os.Create(path)
	if err != nil {
		t.Fatalf("peers: writing WAV: %v", err)
	}
	defer f.Close()
	if err := audio.WriteWAV(f, &audio.Clip{SampleRate: rate, Channels: 1, Samples: samples}); err != nil {
		t.Fatalf("peers: writing WAV: %v", err)
	}
	return path
}

// ReadWAV reads a 16-bit PCM WAV file and returns its samples as mono
// (channels averaged) and its sample rate. It fails the test on error.
func ReadWAV(t testing.TB, path string) ([]int16, int) {
	t.Helper()
	w, err := readWAVFile(path)
	if err != nil {
		t.Fatalf("peers: %v", err)
	}
	return w.mono(), w.SampleRate
}

// wavFormat returns the sample rate and channel count of a WAV file,
// failing the test if it is not one.
func wavFormat(t testing.TB, path string) (rate, channels int) {
	t.Helper()
	w, err := readWAVFile(path)
	if err != nil {
		t.Fatalf("peers: baresip audio file: %v", err)
	}
	return w.SampleRate, w.Channels
}

// wavFile is a WAV file decoded by media/audio.
type wavFile struct {
	*audio.Clip
	// finalized reports whether the RIFF size matches the file size, which
	// is false while libsndfile is still writing it.
	finalized bool
}

// mono returns the samples with channels averaged.
func (w wavFile) mono() []int16 {
	if w.Channels <= 1 {
		return w.Samples
	}
	out := make([]int16, len(w.Samples)/w.Channels)
	for i := range out {
		sum := 0
		for c := range w.Channels {
			sum += int(w.Samples[i*w.Channels+c])
		}
		out[i] = int16(sum / w.Channels)
	}
	return out
}

// readWAVFile reads a WAV file with media/audio's reader and notes whether
// its writer has finalized the header sizes.
func readWAVFile(path string) (wavFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return wavFile{}, err
	}
	clip, err := audio.ReadWAV(bytes.NewReader(data))
	if err != nil {
		return wavFile{}, fmt.Errorf("%s: %w", path, err)
	}
	return wavFile{Clip: clip, finalized: len(data) >= 8 && int(binary.LittleEndian.Uint32(data[4:])) == len(data)-8}, nil
}
