package platform

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// failingListener fails Accept with EMFILE a number of times, then hands
// out one end of a pipe; after Close it fails with net.ErrClosed.
type failingListener struct {
	fails  int
	closed chan struct{}
}

func (l *failingListener) Accept() (net.Conn, error) {
	select {
	case <-l.closed:
		return nil, net.ErrClosed
	default:
	}
	if l.fails > 0 {
		l.fails--
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	c, _ := net.Pipe()
	return c, nil
}

func (l *failingListener) Close() error   { close(l.closed); return nil }
func (l *failingListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// TestAcceptBacksOff: accept errors are retried with a growing delay (5, 10,
// 20, 40 ms for four failures) until Accept succeeds, and Close ends an
// Accept that is backing off.
func TestAcceptBacksOff(t *testing.T) {
	g := newConnGuard(-1, -1, slog.New(slog.DiscardHandler))
	l := g.listen(&failingListener{fails: 4, closed: make(chan struct{})}, "tcp")
	start := time.Now()
	c, err := l.Accept()
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	c.Close()
	if d := time.Since(start); d < 75*time.Millisecond {
		t.Errorf("four failures retried within %s: no backoff", d)
	}

	l = g.listen(&failingListener{fails: 1 << 30, closed: make(chan struct{})}, "tcp")
	errc := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		errc <- err
	}()
	time.Sleep(100 * time.Millisecond)
	l.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept after Close returned %v, want net.ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Accept still backing off after Close")
	}
}
