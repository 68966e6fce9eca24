package main

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/internal/peers"
	"github.com/switchboard-sip/switchboard/platform"
	sbt "github.com/switchboard-sip/switchboard/switchboardtest"
)

// sipvicious runs one of sipvicious' tools (Debian package sipvicious,
// installed by scripts/test) and returns what it printed.
func sipvicious(t *testing.T, ctx context.Context, tool string, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath(tool)
	if err != nil {
		t.Fatalf("%s not found: run scripts/test, which installs sipvicious", tool)
	}
	start := time.Now()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	t.Logf("%s %s: %v", tool, strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	if ctx.Err() != nil {
		t.Errorf("%s %v: %v\n%s", tool, args, ctx.Err(), out)
	}
	_ = err // the tools exit non-zero when they find nothing
	return string(out)
}

// TestScannersLearnNothing runs sipvicious against the server on its
// embedded defaults with loopback no longer trusted and one digest user,
// while SIPp on another source places 50 calls per second: svwar's INVITE
// scan of numbers (the orbits among them) and of names lists only what
// the dial plan publishes (echo, hello, park, moh, conf-*, ivr) — empty
// orbits, directed park, users and unknown names all answer alike —;
// svcrack does not find alice's password, which is in its dictionary
// after more wrong ones than the lockout allows; and every SIPp call
// completes.
func TestScannersLearnNothing(t *testing.T) {
	sum := md5.Sum([]byte("alice:127.0.0.1:s3cret"))
	e := startAdminServer(t, "", func(c *Config) {
		c.Platform.TrustedPeers = nil
		// svcrack never ACKs a failure: with T1 100 ms our retransmissions
		// of it end after 6.4 s (Timer H), and so does svcrack.
		c.Platform.T1 = 100 * time.Millisecond
		c.Users = []platform.User{{Name: "alice", HA1: hex.EncodeToString(sum[:])}}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	sipp := peers.StartSIPp(t, ctx, "-sn", "uac", "-s", "echo", "-i", "127.0.0.3", "-r", "50", "-m", "1300", "-l", "200",
		"-d", "500", "-p", fmt.Sprint(peers.FreeSIPPort(t)), fmt.Sprintf("127.0.0.1:%d", e.port))
	port := fmt.Sprint(e.port)
	// A parked call on orbit 7000: alice's right password would take it
	// (200 OK), so svcrack would know it had found the password.
	parked := sbt.NewPhone(t, "parkee", sbt.PhoneOptions{Config: platform.Config{T1: 100 * time.Millisecond}}).Dial(t, fmt.Sprintf("sip:park@127.0.0.1:%d", e.port))
	defer parked.Hangup(t)
	waitFor(t, 10*time.Second, func() bool { return len(e.s.Park.List()) == 1 && e.s.Park.List()[0].Orbit == "7000" })
	if out := sipvicious(t, ctx, "svmap", "-p", port, "127.0.0.1"); !strings.Contains(out, "Switchboard") {
		t.Errorf("svmap did not find the server:\n%s", out)
	}
	dir := t.TempDir()
	names := filepath.Join(dir, "names")
	published := []string{"echo", "hello", "park", "moh", "conf-1", "ivr"}
	hidden := []string{"alice", "bob", "park-7000", "park-7001", "7000", "admin", "100"}
	if err := os.WriteFile(names, []byte(strings.Join(append(slices.Clone(published), hidden...), "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile(`(?m)^\| (\S+) +\| (\S+) +\|$`)
	// found lists what svwar reports as existing: answered (noauth) or
	// challenged differently from an unknown name (reqauth). Its third
	// verdict, "weird" (an answer it could not classify, such as a
	// directed park's "486 Orbit Busy" for the occupied orbit), is
	// logged, not counted.
	found := func(out string) []string {
		var ext []string
		for _, m := range row.FindAllStringSubmatch(out, -1) {
			switch {
			case m[1] == "Extension" || m[1] == "None": // svwar's header, and its row for a reply it could not place
			case m[2] == "weird":
				t.Logf("svwar could not place the answer for %s", m[1])
			default:
				ext = append(ext, m[1])
			}
		}
		slices.Sort(ext)
		return ext
	}
	pw := filepath.Join(dir, "passwords")
	if err := os.WriteFile(pw, []byte("1234\npassword\nalice\nqwerty\nletmein\n123456\nswitchboard\ns3cret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The scans run two at a time (their waits for silence add up
	// otherwise): first svwar's two, then svcrack's, which lock their
	// source out. sipvicious 0.3.3 ignores its -b (binding address), so
	// every tool sends from 127.0.0.1, and a lockout before svwar ran
	// would answer its scan 403 (which it reads as "exists, needs a
	// password"). svwar needs --force: every unknown extension is
	// challenged, which it takes for a server it cannot scan. svcrack
	// attacks an orbit, which challenges (retrieval needs an identity),
	// with REGISTER (which nothing here takes) and with INVITE.
	outs := make(map[string]string)
	var mu sync.Mutex
	run := func(scans map[string][]string) {
		var wg sync.WaitGroup
		for name, cmd := range scans {
			wg.Go(func() {
				out := sipvicious(t, ctx, cmd[0], cmd[1:]...)
				mu.Lock()
				outs[name] = out
				mu.Unlock()
			})
		}
		wg.Wait()
	}
	run(map[string][]string{
		"numbers": {"svwar", "--force", "-m", "INVITE", "-e", "6980-7040", "-p", port, "127.0.0.1"},
		"names":   {"svwar", "--force", "-m", "INVITE", "-d", names, "-p", port, "127.0.0.1"},
	})
	run(map[string][]string{
		"crack REGISTER": {"svcrack", "--maximumtime", "2", "-u", "alice", "-e", "7000", "-d", pw, "-m", "REGISTER", "-p", port, "127.0.0.1"},
		"crack INVITE":   {"svcrack", "--maximumtime", "2", "-u", "alice", "-e", "7000", "-d", pw, "-m", "INVITE", "-p", port, "127.0.0.1"},
	})
	if got := found(outs["numbers"]); len(got) != 0 {
		t.Errorf("svwar's number scan (orbits 7000-7040 among them) found %v, want nothing", got)
	}
	want := slices.Clone(published)
	slices.Sort(want)
	if got := found(outs["names"]); !slices.Equal(got, want) {
		t.Errorf("svwar's name scan found %v, want only the published %v\n%s", got, want, outs["names"])
	}
	for _, name := range []string{"crack REGISTER", "crack INVITE"} {
		if out := outs[name]; strings.Contains(out, "s3cret") || !strings.Contains(out, "found nothing") {
			t.Errorf("svcrack (%s):\n%s", name, out)
		}
	}
	// svcrack's right password came after more wrong ones than the
	// lockout allows: it was refused unseen.
	_, b := e.do(t, "GET", "/metrics", nil)
	if !regexp.MustCompile(`switchboard_sip_rejected_total\{method="INVITE",reason="locked_out"\} [1-9]`).Match(b) {
		t.Errorf("svcrack's source was never locked out:\n%s", grepLines(string(b), "rejected"))
	}
	if res := sipp.Wait(); res.ExitCode != 0 {
		t.Fatalf("SIPp at 50 calls/s during the scan: exit %d\n%s", res.ExitCode, res.ErrorLog)
	}
}
