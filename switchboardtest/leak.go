package switchboardtest

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// CheckGoroutines records the number of goroutines now and, at cleanup,
// fails the test if more remain after a grace period (timers of finished
// SIP transactions may keep a few alive briefly). Call it first in a test,
// before NewServer, so its cleanup runs last.
func CheckGoroutines(t testing.TB) {
	t.Helper()
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= base {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutine leak: %d goroutines, baseline %d\n%s", n, base, trimStacks(string(buf)))
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

func trimStacks(s string) string {
	if len(s) > 20000 {
		return s[:20000] + "\n..."
	}
	return strings.TrimSpace(s)
}

// OpenSockets counts the sockets this process has open (RTP, RTCP and SIP
// alike, the test's phones included), from /proc/self/fd: a test compares
// the count before and after a call to see how many sockets it took.
func OpenSockets(t testing.TB) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		if l, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && strings.HasPrefix(l, "socket:") {
			n++
		}
	}
	return n
}
