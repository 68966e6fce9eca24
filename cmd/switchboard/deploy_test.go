package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemdUnitVerifies runs `systemd-analyze verify` on
// deploy/switchboard.service, with the binary path pointed at a binary
// built from this tree (verify checks that ExecStart is executable); the
// unit reloads with SIGHUP, stops with SIGTERM (drain) and checks the
// config before it starts.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatalf("systemd-analyze not found (%v): run scripts/test, which installs systemd", err)
	}
	unit, err := os.ReadFile(filepath.Join("..", "..", "deploy", "switchboard.service"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := buildSwitchboard(t, dir)
	path := filepath.Join(dir, "switchboard.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/switchboard", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	for _, want := range []string{"ExecReload=/bin/kill -HUP $MAINPID", "KillSignal=SIGTERM", "check-config -config /etc/switchboard/switchboard.yaml"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("the unit lacks %q", want)
		}
	}
}
