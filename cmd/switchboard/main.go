// Command switchboard runs Switchboard's bundled apps on a SIP platform.
//
//	switchboard serve [-config FILE]   run the server (embedded default config)
//	switchboard config                 print the embedded default config
//	switchboard phone dial|answer ...  a command-line phone (see phone.go)
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
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/switchboard-sip/switchboard/admin"
	"github.com/switchboard-sip/switchboard/apps/announce"
	"github.com/switchboard-sip/switchboard/apps/echo"
	"github.com/switchboard-sip/switchboard/apps/holdmusic"
	"github.com/switchboard-sip/switchboard/apps/park"
	"github.com/switchboard-sip/switchboard/apps/park/redisstore"
	"github.com/switchboard-sip/switchboard/apps/recording"
	"github.com/switchboard-sip/switchboard/apps/route"
	"github.com/switchboard-sip/switchboard/conference"
	"github.com/switchboard-sip/switchboard/platform"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "switchboard", version())
		return 0
	case "config":
		_, _ = stdout.Write(defaultConfig)
		return 0
	case "phone":
		return phoneCommand(args[1:], stdout, stderr)
	case "calls", "orbits", "conferences":
		return listCommand(args[0], args[1:], stdout, stderr)
	case "serve", "check-config":
		fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
		fs.SetOutput(stderr)
		path := fs.String("config", "", "YAML config file read on top of the embedded default")
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		cfg, err := loadConfig(*path)
		if err == nil {
			// serve validates everything before it binds anything.
			err = checkConfig(cfg)
		}
		if err != nil {
			fmt.Fprintln(stderr, "switchboard:", indentLines(err.Error()))
			return 1
		}
		if args[0] == "check-config" {
			fmt.Fprintln(stdout, "switchboard: config OK")
			return 0
		}
		if err := serve(cfg, *path); err != nil {
			fmt.Fprintln(stderr, "switchboard:", err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(stderr, "switchboard: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// indentLines puts every error after the first on its own indented line.
func indentLines(s string) string {
	return strings.ReplaceAll(s, "\n", "\n  ")
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
	Routes      *route.App          // the dial plan's last step (404 without rules)
	cfg         Config
	adminAddr   net.Addr // the admin API's address, nil when disabled
	checkOnly   bool     // check-config: report every app's error, serve nothing
}

// newServer builds the platform and puts the apps of the dial plan on it.
// On failure it closes the platform, which closes the apps started so far.
func newServer(cfg Config, log *slog.Logger, opts ...platform.Option) (*Server, error) {
	cfg.Platform.Users = cfg.Users
	p, err := platform.New(cfg.Platform, append([]platform.Option{platform.WithLogger(log),
		platform.WithCallDefaults(platform.CallDefaults{SessionExpires: cfg.Calls.SessionExpires, RTPTimeout: cfg.Calls.RTPTimeout})},
		opts...)...)
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
	p, cfg := s.Platform, s.cfg
	var errs []error
	// failed records err under the app's config key; it reports whether
	// to stop (a server stops at the first error, a check goes on to
	// report every app's).
	failed := func(key string, err error) bool {
		if err == nil {
			return false
		}
		errs = append(errs, cfg.explain(key, err))
		return !s.checkOnly
	}
	var err error
	if cfg.Apps.Echo.User != "" {
		if s.Echo, err = echo.New(p, cfg.Apps.Echo); failed("apps.echo", err) {
			return errors.Join(errs...)
		}
	}
	if cfg.Apps.Hello.User != "" {
		if s.Hello, err = announce.New(p, cfg.Apps.Hello); failed("apps.hello", err) {
			return errors.Join(errs...)
		}
	}
	if cfg.Apps.Music.Enabled {
		if s.Music, err = holdmusic.New(p, cfg.Apps.Music.Config, holdmusic.WithLogger(log)); failed("apps.music", err) {
			return errors.Join(errs...)
		}
	}
	var shared *redisstore.Store // a Redis park store also holds the conference directory
	if cfg.Apps.Park.Enabled {
		popts := []park.Option{park.WithLogger(log)}
		if s.Music != nil {
			// "": the music's default source, whatever a reload makes it.
			popts = append(popts, park.WithMusic(s.Music, ""))
		}
		st, err := parkStore(p, cfg, log, s.checkOnly)
		if failed("apps.park.store", err) {
			return errors.Join(errs...)
		}
		if st != nil {
			popts = append(popts, park.WithStore(st))
			shared, _ = st.(*redisstore.Store)
		}
		if s.Park, err = park.New(p, cfg.Apps.Park.Config, popts...); failed("apps.park", err) {
			return errors.Join(errs...)
		}
	}
	if cfg.Apps.Conference.Enabled {
		copts := []conference.Option{conference.WithLogger(log)}
		if shared != nil {
			// Several nodes: each conference is pinned to one of them.
			copts = append(copts, conference.WithDirectory(shared.Conferences()))
		}
		if s.Conferences, err = conference.New(p, cfg.Apps.Conference.Config, copts...); failed("apps.conference", err) {
			return errors.Join(errs...)
		}
	}
	if cfg.Apps.Recording.Enabled {
		if s.Conferences == nil {
			err = errors.New("needs apps.conference (callers are recorded in a private conference)")
		} else {
			s.Recording, err = recording.New(p, s.Conferences, cfg.Apps.Recording.Config, recording.WithLogger(log))
		}
		if failed("apps.recording", err) {
			return errors.Join(errs...)
		}
	}
	if cfg.Apps.IVR.Enabled {
		iopts := []ivrapp.Option{ivrapp.WithLogger(log)}
		if s.Conferences != nil {
			iopts = append(iopts, ivrapp.WithConferences(s.Conferences))
		}
		if s.Park != nil {
			iopts = append(iopts, ivrapp.WithPark(s.Park))
		}
		if s.IVR, err = ivrapp.New(p, cfg.Apps.IVR.Config, iopts...); failed("apps.ivr", err) {
			return errors.Join(errs...)
		}
	}
	ropts := []route.Option{route.WithLogger(log)}
	if s.Park != nil {
		ropts = append(ropts, route.WithTransfers(s.Park.TransferInProcess))
	}
	if s.Routes, err = route.New(p, route.Config{Rules: cfg.Routes, Codecs: cfg.Apps.Route.Codecs,
		RecordingDir: cfg.Apps.Recording.Dir}, ropts...); failed("routes", err) {
		return errors.Join(errs...)
	}
	return errors.Join(errs...)
}

// checkConfig validates cfg as serve would, apps and admin API included,
// without binding a socket, and returns every error found.
func checkConfig(cfg Config) error {
	var errs []error
	log, err := cfg.Log.logger(new(slog.LevelVar))
	if err != nil {
		errs = append(errs, cfg.explain("log", err))
		log = slog.New(slog.DiscardHandler)
	}
	cfg.Platform.Users = cfg.Users
	p, err := platform.New(cfg.Platform, platform.WithLogger(slog.New(slog.DiscardHandler)), platform.CheckOnly())
	if err != nil {
		at := "platform"
		if strings.Contains(err.Error(), "platform: user ") {
			at = "users"
		}
		return errors.Join(append(errs, cfg.explain(at, err))...)
	}
	defer p.Close()
	s := &Server{Platform: p, cfg: cfg, checkOnly: true}
	if err := s.startApps(log); err != nil {
		errs = append(errs, err)
	}
	if cfg.Admin.Listen != "" {
		if _, err := net.ResolveTCPAddr("tcp", cfg.Admin.Listen); err != nil {
			errs = append(errs, cfg.explain("admin.listen", err))
		}
	}
	a, err := admin.New(cfg.Admin, admin.Services{Platform: p})
	if err != nil {
		errs = append(errs, cfg.explain("admin", err))
	} else {
		_ = a.Close()
	}
	return errors.Join(errs...)
}

func serve(cfg Config, path string) error {
	level := new(slog.LevelVar)
	log, err := cfg.Log.logger(level)
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
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var drain atomic.Int64 // drain_timeout, which a reload may change
	drain.Store(int64(cfg.DrainTimeout))
	stopReload := make(chan struct{})
	defer close(stopReload)
	go reclaimMemory(log, stopReload)
	go func() {
		running := cfg
		for {
			select {
			case <-hup:
				running = reload(log, level, s, running, path)
				drain.Store(int64(running.DrainTimeout))
			case <-stopReload:
				return
			}
		}
	}()
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
		drain := time.Duration(drain.Load())
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
