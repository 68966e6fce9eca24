// Command switchboard runs Switchboard's bundled apps on a SIP platform.
//
//	switchboard serve [-config FILE]   run the server (embedded default config)
//	switchboard config                 print the embedded default config
//	switchboard version                print the version
//
// SIGTERM drains (new calls get 503, established calls run up to
// drain_timeout, then get BYE); SIGINT stops at once.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/switchboard-sip/switchboard/apps/announce"
	"github.com/switchboard-sip/switchboard/apps/echo"
	"github.com/switchboard-sip/switchboard/apps/holdmusic"
	"github.com/switchboard-sip/switchboard/apps/park"
	"github.com/switchboard-sip/switchboard/conference"
	"github.com/switchboard-sip/switchboard/endpoint"
	"github.com/switchboard-sip/switchboard/platform"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: switchboard serve [-config FILE] | config | version")
		return 2
	}
	switch args[0] {
	case "version":
		fmt.Fprintln(stdout, "switchboard", version())
		return 0
	case "config":
		_, _ = stdout.Write(defaultConfig)
		return 0
	case "serve":
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(stderr)
		path := fs.String("config", "", "YAML config file read on top of the embedded default")
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		cfg, err := loadConfig(*path)
		if err != nil {
			fmt.Fprintln(stderr, "switchboard:", err)
			return 1
		}
		if err := serve(cfg); err != nil {
			fmt.Fprintln(stderr, "switchboard:", err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(stderr, "switchboard: unknown command %q\n", args[0])
	return 2
}

func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
	}
	return v + " " + bi.GoVersion
}

// Server is the wired platform and apps.
type Server struct {
	Platform    *platform.Platform
	Endpoints   []*endpoint.Endpoint
	Conferences *conference.Service // nil when disabled
	Music       *holdmusic.Service  // nil when disabled
	Park        *park.Service       // nil when disabled
	cfg         Config
}

// newServer builds the platform and puts the apps of the dial plan on it.
func newServer(cfg Config, log *slog.Logger, opts ...platform.Option) (*Server, error) {
	p, err := platform.New(cfg.Platform, append([]platform.Option{platform.WithLogger(log)}, opts...)...)
	if err != nil {
		return nil, err
	}
	s := &Server{Platform: p, cfg: cfg}
	add := func(user string, h endpoint.Handler) error {
		if user == "" {
			return nil
		}
		ep, err := endpoint.NewApplication(p, endpoint.Settings{
			OwnerURI:       "sip:" + user + "@" + p.Host(),
			SessionExpires: cfg.Calls.SessionExpires,
			RTPTimeout:     cfg.Calls.RTPTimeout,
		})
		if err != nil {
			return err
		}
		ep.HandleCalls(h)
		s.Endpoints = append(s.Endpoints, ep)
		return nil
	}
	hello, err := announce.New(cfg.Apps.Hello.Config)
	if err != nil {
		p.Close()
		return nil, err
	}
	if err := errors.Join(add(cfg.Apps.Echo.User, echo.Handler()), add(cfg.Apps.Hello.User, hello)); err != nil {
		p.Close()
		return nil, err
	}
	if cfg.Apps.Music.Enabled {
		if s.Music, err = holdmusic.New(cfg.Apps.Music.Config, holdmusic.WithLogger(log)); err != nil {
			p.Close()
			return nil, err
		}
		if _, err := s.Music.Register(p, p.Host()); err != nil {
			p.Close()
			return nil, err
		}
	}
	if cfg.Apps.Park.Enabled {
		var popts []park.Option
		if s.Music != nil {
			popts = append(popts, park.WithMusic(s.Music, cfg.Apps.Music.Default))
		}
		if s.Park, err = park.New(p, cfg.Apps.Park.Config, append(popts, park.WithLogger(log))...); err != nil {
			p.Close()
			return nil, err
		}
		if err := s.Park.Register(); err != nil {
			p.Close()
			return nil, err
		}
	}
	if cfg.Apps.Conference.Enabled {
		if s.Conferences, err = conference.NewService(p, cfg.Apps.Conference.Config, conference.WithLogger(log)); err != nil {
			p.Close()
			return nil, err
		}
	}
	return s, nil
}

func serve(cfg Config) error {
	log, err := cfg.Log.logger()
	if err != nil {
		return err
	}
	s, err := newServer(cfg, log)
	if err != nil {
		return err
	}
	if err := s.Platform.Start(); err != nil {
		return err
	}
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	switch <-sig {
	case syscall.SIGTERM:
		drain := cfg.DrainTimeout
		log.Info("SIGTERM: draining", "timeout", drain.String())
		ctx, cancel := context.WithTimeout(context.Background(), drain)
		defer cancel()
		go func() {
			<-sig // a second signal stops at once
			s.Platform.Close()
		}()
		if err := s.Platform.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, platform.ErrClosed) {
			return err
		}
	default:
		log.Info("SIGINT: stopping")
		s.Platform.Close()
	}
	return nil
}
