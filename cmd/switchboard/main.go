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
	ivrapp "github.com/switchboard-sip/switchboard/apps/ivr"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/switchboard-sip/switchboard/admin"
	"github.com/switchboard-sip/switchboard/apps"
	"github.com/switchboard-sip/switchboard/apps/announce"
	"github.com/switchboard-sip/switchboard/apps/echo"
	"github.com/switchboard-sip/switchboard/apps/holdmusic"
	"github.com/switchboard-sip/switchboard/apps/park"
	"github.com/switchboard-sip/switchboard/apps/recording"
	"github.com/switchboard-sip/switchboard/conference"
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

// Server is the wired platform and apps. Every app is registered with the
// platform, so closing the platform closes them all, last started first.
type Server struct {
	Platform    *platform.Platform
	Echo        *echo.App           // nil when disabled
	Hello       *announce.App       // nil when disabled
	Conferences *conference.Service // nil when disabled
	Music       *holdmusic.Service  // nil when disabled
	Park        *park.Service       // nil when disabled
	Recording   *recording.Service  // nil when disabled
	IVR         *ivrapp.App         // nil when disabled
	cfg         Config
	adminAddr   net.Addr // the admin API's address, nil when disabled
}

// newServer builds the platform and puts the apps of the dial plan on it.
// On failure it closes the platform, which closes the apps started so far.
func newServer(cfg Config, log *slog.Logger, opts ...platform.Option) (*Server, error) {
	p, err := platform.New(cfg.Platform, append([]platform.Option{platform.WithLogger(log)}, opts...)...)
	if err != nil {
		return nil, err
	}
	s := &Server{Platform: p, cfg: cfg}
	if err := s.startApps(log); err != nil {
		_ = p.Close()
		return nil, err
	}
	return s, nil
}

// startApps starts the apps the dial plan enables, in dependency order
// (park plays the music; the recorder records in conferences).
func (s *Server) startApps(log *slog.Logger) error {
	p, cfg, err := s.Platform, s.cfg, error(nil)
	timers := [2]time.Duration{cfg.Calls.SessionExpires, cfg.Calls.RTPTimeout}
	if cfg.Apps.Echo.User != "" {
		if s.Echo, err = echo.New(p, cfg.Apps.Echo, apps.WithCallTimers(timers[0], timers[1])); err != nil {
			return err
		}
	}
	if cfg.Apps.Hello.User != "" {
		if s.Hello, err = announce.New(p, cfg.Apps.Hello, apps.WithCallTimers(timers[0], timers[1])); err != nil {
			return err
		}
	}
	if cfg.Apps.Music.Enabled {
		if s.Music, err = holdmusic.New(p, cfg.Apps.Music.Config, holdmusic.WithLogger(log)); err != nil {
			return err
		}
	}
	if cfg.Apps.Park.Enabled {
		popts := []park.Option{park.WithLogger(log)}
		if s.Music != nil {
			popts = append(popts, park.WithMusic(s.Music, cfg.Apps.Music.Default))
		}
		st, err := parkStore(p, cfg, log)
		if err != nil {
			return err
		}
		if st != nil {
			popts = append(popts, park.WithStore(st))
		}
		if s.Park, err = park.New(p, cfg.Apps.Park.Config, popts...); err != nil {
			return err
		}
	}
	if cfg.Apps.Conference.Enabled {
		if s.Conferences, err = conference.New(p, cfg.Apps.Conference.Config, conference.WithLogger(log)); err != nil {
			return err
		}
	}
	if cfg.Apps.Recording.Enabled {
		if s.Conferences == nil {
			return errors.New("apps.recording needs apps.conference (callers are recorded in a private conference)")
		}
		if s.Recording, err = recording.New(p, s.Conferences, cfg.Apps.Recording.Config, recording.WithLogger(log)); err != nil {
			return err
		}
	}
	if cfg.Apps.IVR.Enabled {
		iopts := []ivrapp.Option{ivrapp.WithLogger(log)}
		if s.Conferences != nil {
			iopts = append(iopts, ivrapp.WithConferences(s.Conferences))
		}
		if s.IVR, err = ivrapp.New(p, cfg.Apps.IVR.Config, iopts...); err != nil {
			return err
		}
	}
	return nil
}

func serve(cfg Config) error {
	log, err := cfg.Log.logger()
	if err != nil {
		return err
	}
	metrics := admin.NewMetrics()
	s, err := newServer(cfg, log, platform.WithObserver(metrics))
	if err != nil {
		return err
	}
	defer s.Platform.Close() // every path closes the platform and its apps
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	a, err := s.startAdmin(metrics, nil, func() {
		select {
		case sig <- syscall.SIGTERM: // drain as SIGTERM does
		default:
		}
	})
	if err != nil {
		return err
	}
	defer a.Close()
	if err := s.Platform.Start(); err != nil {
		return err
	}
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
