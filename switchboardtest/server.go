package switchboardtest

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/platform"
)

// Server is a platform serving UDP and TCP on 127.0.0.1 ephemeral ports.
type Server struct {
	*platform.Platform
}

// NewServer starts a platform for the test with cfg (listen addresses in
// cfg are ignored) and closes it on cleanup. Set SWITCHBOARD_TEST_LOG=1 to
// see its logs.
func NewServer(t testing.TB, cfgs ...platform.Config) *Server {
	t.Helper()
	var cfg platform.Config
	if len(cfgs) > 0 {
		cfg = cfgs[0]
	}
	return newServer(t, cfg, nil, Logger(t))
}

// newServer starts a platform with cfg's settings, UDP and TCP on
// ephemeral ports and the given TLS listeners.
func newServer(t testing.TB, cfg platform.Config, tlsListeners []platform.TLSListener, log *slog.Logger) *Server {
	t.Helper()
	cfg.UDP, cfg.TCP, cfg.TLS, cfg.WS = nil, nil, tlsListeners, nil
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	uc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p, err := platform.New(cfg, platform.WithUDPConn(uc), platform.WithTCPListener(tl), platform.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	})
	return &Server{Platform: p}
}

// Logger returns a logger that writes to the test log when
// SWITCHBOARD_TEST_LOG is set, and discards otherwise.
func Logger(t testing.TB) *slog.Logger {
	if os.Getenv("SWITCHBOARD_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(string(b))
	return len(b), nil
}

// Port returns the UDP port of the server.
func (s *Server) Port() int { return s.Addr("udp").(*net.UDPAddr).Port }

// URI returns sip:user@127.0.0.1:port for the server's UDP listener.
func (s *Server) URI(user string) string {
	return fmt.Sprintf("sip:%s@127.0.0.1:%d", user, s.Port())
}

// TCPURI returns the server's URI for user over TCP.
func (s *Server) TCPURI(user string) string {
	return fmt.Sprintf("sip:%s@127.0.0.1:%d;transport=tcp", user, s.Addr("tcp").(*net.TCPAddr).Port)
}

// Handle creates an application endpoint for user on the server, serving
// incoming calls with h.
func (s *Server) Handle(t testing.TB, user string, h endpoint.Handler) *endpoint.Endpoint {
	t.Helper()
	return s.HandleWith(t, endpoint.Settings{OwnerURI: "sip:" + user + "@127.0.0.1"}, h)
}

// HandleWith creates an application endpoint with settings st.
func (s *Server) HandleWith(t testing.TB, st endpoint.Settings, h endpoint.Handler) *endpoint.Endpoint {
	t.Helper()
	ep, err := endpoint.NewApplication(s.Platform, st)
	if err != nil {
		t.Fatal(err)
	}
	if h != nil {
		ep.HandleCalls(h)
	}
	t.Cleanup(func() { _ = ep.Close() })
	return ep
}
