package main

import (
	"log/slog"
	"reflect"
	"slices"
	"strings"

	"github.com/switchboard-sip/switchboard/apps/park"
)

// reload is SIGHUP: it reads the config file again and validates all of
// it (as check-config does). A file with errors changes nothing: every
// error is logged and the running config stays. A valid file applies at
// once what can change under live calls: the routes (for the calls that
// arrive next), the log level, drain_timeout, the music sources (new and
// changed sources for the calls that start next; listeners keep the
// player they hear) and the park timers (for the calls parked next);
// other changes to sections whose apps hold live calls (the dial plan,
// orbits, the listeners) are named in the log as needing a restart, since
// replacing those apps would drop their calls. It returns the config now
// in force.
func reload(log *slog.Logger, level *slog.LevelVar, s *Server, running Config, path string) Config {
	if path == "" {
		log.Warn("SIGHUP: serving the embedded default config, no file to reload")
		return running
	}
	next, err := loadConfig(path)
	if err == nil {
		err = checkConfig(next)
	}
	if err != nil {
		errs := strings.Split(err.Error(), "\n")
		log.Error("SIGHUP: config not reloaded, the running config stays", "file", path, "errors", len(errs))
		for _, e := range errs {
			log.Error("SIGHUP: config error", "error", e)
		}
		return running
	}
	applied := []string{}
	if next.Log.Level != running.Log.Level {
		lvl, _ := next.Log.level() // checked above
		level.Set(lvl)
		applied = append(applied, "log.level")
	}
	// Certificates are files: the same paths, new contents (a renewal)
	// are served to the next handshakes.
	if len(running.Platform.TLS) > 0 {
		if err := s.Platform.ReloadCertificates(); err != nil {
			log.Error("SIGHUP: TLS certificates not reloaded, the running ones stay", "error", err)
		} else {
			applied = append(applied, "tls.certificates")
		}
	}
	if next.DrainTimeout != running.DrainTimeout {
		applied = append(applied, "drain_timeout")
	}
	if !reflect.DeepEqual(next.Routes, running.Routes) {
		if err := s.Routes.SetRules(next.Routes); err != nil { // checked above; kept for safety
			log.Error("SIGHUP: routes not replaced", "error", err)
			next.Routes = running.Routes
		} else {
			applied = append(applied, "routes")
		}
	}
	// The apps now in force: the running ones with what is applied below.
	apps := running.Apps
	if s.Music != nil && next.Apps.Music.Enabled && !reflect.DeepEqual(next.Apps.Music.Config, running.Apps.Music.Config) {
		if opened, err := s.Music.SetSources(next.Apps.Music.Config); err != nil {
			log.Error("SIGHUP: music sources not replaced", "error", err)
		} else {
			apps.Music.Config = next.Apps.Music.Config
			applied = append(applied, "apps.music.sources")
			log.Info("SIGHUP: music sources replaced; listeners keep what they hear", "opened", strings.Join(opened, ","))
		}
	}
	if t := park.TimersOf(next.Apps.Park.Config); s.Park != nil && next.Apps.Park.Enabled && t != park.TimersOf(running.Apps.Park.Config) {
		if err := s.Park.SetTimers(t); err != nil {
			log.Error("SIGHUP: park timers not replaced", "error", err)
		} else {
			p := &apps.Park.Config
			p.PickupTimeout, p.MaxAttempts, p.RingTime, p.FallbackURI = t.PickupTimeout, t.MaxAttempts, t.RingTime, t.FallbackURI
			applied = append(applied, "apps.park.timers")
		}
	}
	var restart []string
	for key, same := range map[string]bool{
		"platform":   reflect.DeepEqual(next.Platform, running.Platform),
		"calls":      next.Calls == running.Calls,
		"log.format": strings.EqualFold(orDefault(next.Log.Format, "text"), orDefault(running.Log.Format, "text")),
		"apps":       reflect.DeepEqual(next.Apps, apps),
		"admin":      next.Admin == running.Admin,
	} {
		if !same {
			restart = append(restart, key)
		}
	}
	slices.Sort(restart)
	// The sections that need a restart keep their running values, so that
	// the next reload compares against what is really in force.
	kept := running
	kept.Log.Level, kept.DrainTimeout, kept.Routes, kept.Apps = next.Log.Level, next.DrainTimeout, next.Routes, apps
	kept.file, kept.doc = next.file, next.doc
	log.Info("SIGHUP: config reloaded", "file", path, "applied", strings.Join(applied, ","), "restart_needed", strings.Join(restart, ","))
	return kept
}
