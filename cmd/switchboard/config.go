package main

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	ivrapp "github.com/switchboard-sip/switchboard/apps/ivr"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/switchboard-sip/switchboard/admin"
	"github.com/switchboard-sip/switchboard/apps/announce"
	"github.com/switchboard-sip/switchboard/apps/echo"
	"github.com/switchboard-sip/switchboard/apps/holdmusic"
	"github.com/switchboard-sip/switchboard/apps/park"
	"github.com/switchboard-sip/switchboard/apps/recording"
	"github.com/switchboard-sip/switchboard/conference"
	"github.com/switchboard-sip/switchboard/platform"
)

//go:embed default.yaml
var defaultConfig []byte

// Config is the server's configuration file.
type Config struct {
	Platform     platform.Config `yaml:"platform"`
	Calls        CallsConfig     `yaml:"calls"`
	DrainTimeout time.Duration   `yaml:"drain_timeout"`
	Log          LogConfig       `yaml:"log"`
	Apps         AppsConfig      `yaml:"apps"`
	Admin        admin.Config    `yaml:"admin"`
}

// CallsConfig holds the call timers every app endpoint uses.
type CallsConfig struct {
	SessionExpires time.Duration `yaml:"session_expires"`
	RTPTimeout     time.Duration `yaml:"rtp_timeout"`
}

// LogConfig selects the log level and format.
type LogConfig struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// AppsConfig is the dial plan. An app with an empty user is disabled.
type AppsConfig struct {
	Echo  echo.Config     `yaml:"echo"`
	Hello announce.Config `yaml:"hello"`
	Music struct {
		Enabled          bool `yaml:"enabled"`
		holdmusic.Config `yaml:",inline"`
	} `yaml:"music"`
	Park struct {
		Enabled bool `yaml:"enabled"`
		// Store is where park state lives: "" or "memory" (default: this
		// node only), or a Redis URL shared by several nodes,
		// redis://[user:password@]host:port/db (rediss:// for TLS).
		Store string `yaml:"store"`
		// Node is this node's id in a shared store (default: the host
		// name); unique per node, stable across restarts.
		Node string `yaml:"node"`
		// ReleaseAfter bounds how long a dead node's orbits stay held in a
		// shared store. Default 10s.
		ReleaseAfter time.Duration `yaml:"release_after"`
		park.Config  `yaml:",inline"`
	} `yaml:"park"`
	Conference struct {
		Enabled           bool `yaml:"enabled"`
		conference.Config `yaml:",inline"`
	} `yaml:"conference"`
	Recording struct {
		Enabled          bool `yaml:"enabled"`
		recording.Config `yaml:",inline"`
	} `yaml:"recording"`
	IVR struct {
		Enabled       bool `yaml:"enabled"`
		ivrapp.Config `yaml:",inline"`
	} `yaml:"ivr"`
}

// loadConfig reads the embedded default and then, if path is set, the file
// on top of it. Unknown keys are errors.
func loadConfig(path string) (Config, error) {
	var c Config
	if err := decodeStrict(defaultConfig, &c); err != nil {
		return c, fmt.Errorf("embedded config: %w", err)
	}
	if path == "" {
		return c, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	// Lists in the file replace the default lists rather than merge.
	var probe struct {
		Platform map[string]any `yaml:"platform"`
	}
	_ = yaml.Unmarshal(b, &probe)
	if _, ok := probe.Platform["udp"]; ok {
		c.Platform.UDP = nil
	}
	if _, ok := probe.Platform["tcp"]; ok {
		c.Platform.TCP = nil
	}
	if _, ok := probe.Platform["tls"]; ok {
		c.Platform.TLS = nil
	}
	if _, ok := probe.Platform["ws"]; ok {
		c.Platform.WS = nil
	}
	if err := decodeStrict(b, &c); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

func decodeStrict(b []byte, v any) error {
	d := yaml.NewDecoder(bytes.NewReader(b))
	d.KnownFields(true)
	if err := d.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

func (l LogConfig) logger() (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(strings.ToUpper(orDefault(l.Level, "info")))); err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(orDefault(l.Format, "text")) {
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("log.format %q: want text or json", l.Format)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
