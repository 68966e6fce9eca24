package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeConfig writes body to a file in a temporary directory, with the
// recording and message directories pointed inside it so that checking
// leaves nothing behind in the package directory.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "switchboard.yaml")
	body = strings.ReplaceAll(body, "$DIR", dir)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func checkCmd(t *testing.T, path string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run([]string{"check-config", "-config", path}, &out, &errb)
	return code, out.String(), errb.String()
}

// TestCheckConfigReportsEveryErrorAtOnce: each kind of mistake, all in
// one file, each reported with file:line:column, the key path and words
// about the user's units.
func TestCheckConfigReportsEveryErrorAtOnce(t *testing.T) {
	p := writeConfig(t, `calls:
  session_expires: 1800s
  rtp_timeout: 30
drain_timeout: soon
apps:
  music:
    enabled: maybe
  park:
    orbits:
      - {start: "7000", end: "7099"}
      - {start: "8000", ned: "8099"}
  recording:
    dir: $DIR
  ivr:
    message_dir: $DIR
platfrom: {}
`)
	code, _, stderr := checkCmd(t, p)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, stderr)
	}
	for _, want := range []string{
		p + `:3:16: calls.rtp_timeout: 30 is not a duration: write it with a unit, such as 30s (or 500ms, 2m, 1h)`,
		p + `:4:16: drain_timeout: "soon" is not a duration: want a number with a unit, such as 30s, 500ms, 2m or 1h`,
		p + `:7:14: apps.music.enabled: "maybe" is not true or false`,
		p + `:11:25: apps.park.orbits[1].ned: unknown key (did you mean end?) (known: start, end)`,
		p + `:16:1: platfrom: unknown key (did you mean platform?)`,
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("missing %q in:\n%s", want, stderr)
		}
	}
	if n := strings.Count(stderr, p+":"); n != 5 {
		t.Errorf("%d errors reported, want 5:\n%s", n, stderr)
	}
}

// TestCheckConfigAppErrors: what only an app can judge (a timer out of its
// range, a bad stop digit, an admin API open to the network without a
// token) is reported too, every app's at once, at the line of the app's
// section in the file.
func TestCheckConfigAppErrors(t *testing.T) {
	p := writeConfig(t, `admin:
  listen: "0.0.0.0:8080"
apps:
  park:
    pickup_timeout: 5s
  recording:
    dir: $DIR
    stop_digit: "x"
  ivr:
    message_dir: $DIR
`)
	code, _, stderr := checkCmd(t, p)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, stderr)
	}
	for _, want := range []string{
		p + ":4:3: apps.park: park: pickup timeout 5s outside 10s–10m",
		p + `:6:3: apps.recording: recording: stop digit "x"`,
		p + `:1:1: admin: a listen address other than loopback needs a token: "0.0.0.0:8080"`,
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("missing %q in:\n%s", want, stderr)
		}
	}

	p = writeConfig(t, "apps:\n  conference:\n    enabled: true\n    codecs: [G722, G729, PCMU]\n")
	if code, _, stderr := checkCmd(t, p); code != 1 || !strings.Contains(stderr, p+`:2:3: apps.conference: conference: endpoint: unsupported codec "G729"`) {
		t.Errorf("bad conference codec: exit %d\n%s", code, stderr)
	}

	p = writeConfig(t, "platform:\n  udp: [\"127.0.0.1:99999\"]\n")
	if code, _, stderr := checkCmd(t, p); code != 1 || !strings.Contains(stderr, p+":1:1: platform: udp 127.0.0.1:99999") {
		t.Errorf("bad listen address: exit %d\n%s", code, stderr)
	}
}

// busyPorts binds a UDP and a TCP port on loopback and returns them; they
// stay bound until the test ends.
func busyPorts(t *testing.T) (udp, tcp int) {
	t.Helper()
	u, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close(); l.Close() })
	return u.LocalAddr().(*net.UDPAddr).Port, l.Addr().(*net.TCPAddr).Port
}

// TestCheckConfigBindsNothing: a valid config whose SIP and admin ports
// are in use passes check-config, which therefore binds none of them, as
// `kamailio -c` does not.
func TestCheckConfigBindsNothing(t *testing.T) {
	udp, tcp := busyPorts(t)
	p := writeConfig(t, fmt.Sprintf(`platform:
  udp: ["127.0.0.1:%d"]
  tcp: ["127.0.0.1:%d"]
admin:
  listen: "127.0.0.1:%d"
apps:
  recording: {dir: $DIR}
  ivr: {message_dir: $DIR}
`, udp, tcp, tcp))
	code, stdout, stderr := checkCmd(t, p)
	if code != 0 || !strings.Contains(stdout, "config OK") {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
}

// TestServeValidatesBeforeBinding: serve with a file that binds a port in
// use and has an app error reports the app error, not "address already in
// use": it validated everything before it bound anything.
func TestServeValidatesBeforeBinding(t *testing.T) {
	udp, _ := busyPorts(t)
	p := writeConfig(t, fmt.Sprintf(`platform:
  udp: ["127.0.0.1:%d"]
  tcp: []
admin: {listen: ""}
apps:
  park: {allocation: random}
  recording: {dir: $DIR}
  ivr: {message_dir: $DIR}
`, udp))
	var out, errb bytes.Buffer
	code := run([]string{"serve", "-config", p}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), `apps.park: park: allocation "random": want first-free or next`) ||
		strings.Contains(errb.String(), "address already in use") {
		t.Fatalf("exit %d:\n%s", code, errb.String())
	}
}

func TestHelpAndVersionFlags(t *testing.T) {
	for _, arg := range []string{"help", "-h", "--help"} {
		var out, errb bytes.Buffer
		if code := run([]string{arg}, &out, &errb); code != 0 || !strings.Contains(out.String(), "check-config") {
			t.Errorf("%s: exit %d, %q", arg, code, out.String())
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"--version"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "switchboard ") {
		t.Errorf("--version: exit %d, %q", code, out.String())
	}
	if code := run([]string{"frobnicate"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "usage:") {
		t.Errorf("unknown command: exit %d, %q", code, errb.String())
	}
}
