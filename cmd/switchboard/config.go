package main

import (
	_ "embed"
	"fmt"
	ivrapp "github.com/switchboard-sip/switchboard/apps/ivr"
	"log/slog"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/switchboard-sip/switchboard/internal/yamlconf"

	"github.com/switchboard-sip/switchboard/admin"
	"github.com/switchboard-sip/switchboard/apps/announce"
	"github.com/switchboard-sip/switchboard/apps/echo"
	"github.com/switchboard-sip/switchboard/apps/holdmusic"
	"github.com/switchboard-sip/switchboard/apps/park"
	"github.com/switchboard-sip/switchboard/apps/recording"
	"github.com/switchboard-sip/switchboard/apps/route"
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
	// Routes send the calls no app takes elsewhere, as a trusted B2BUA
	// (apps/route); evaluated in order, SIGHUP replaces them.
	Routes []route.Rule `yaml:"routes"`
	// Users may authenticate by SIP digest where a decision needs to know
	// who calls (retrieval by orbit from an untrusted source): name and
	// HA1 = MD5(name:realm:password), realm being platform.realm (default
	// the platform's host). See platform.User.
	Users []platform.User `yaml:"users"`

	file string     // the file read on top of the default, "" for none
	doc  *yaml.Node // its parsed document, to place errors
}

// explain places an error found in the section at key path (such as
// apps.park) at that key's line in the config file when the file sets it,
// else names the embedded default.
func (c Config) explain(path string, err error) error {
	e := &yamlconf.Error{File: "embedded config", Path: path, Msg: strings.TrimPrefix(err.Error(), path+": ")}
	if c.doc != nil {
		if n := lookup(c.doc, path); n != nil {
			e.File, e.Line, e.Column = c.file, n.Line, n.Column
		} else if c.file != "" {
			e.File = c.file + " (or the embedded default it extends)"
		}
	}
	return e
}

// lookup returns the key node at a dotted path in doc, nil if not set.
func lookup(doc *yaml.Node, path string) *yaml.Node {
	n := doc
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	var key *yaml.Node
	for _, k := range strings.Split(path, ".") {
		if n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				key, next = n.Content[i], n.Content[i+1]
			}
		}
		if next == nil {
			return nil
		}
		n = next
	}
	return key
}

// CallsConfig holds the call timers every app endpoint uses.
type CallsConfig struct {
	SessionExpires time.Duration `yaml:"session_expires"`
	RTPTimeout     time.Duration `yaml:"rtp_timeout"`
	// SRTP is every endpoint's media encryption (SDES, RFC 4568): off
	// (default), optional (offer and accept SRTP, fall back to RTP) or
	// required (RTP/SAVP only; plain offers get 488).
	SRTP string `yaml:"srtp"`
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
		// Address is where the other nodes reach this node's park
		// service (host:port of this node itself, not of a proxy in
		// front), published in the shared store so that a retrieval
		// arriving at another node is bridged here. Default: the
		// platform's advertised host and UDP port.
		Address string `yaml:"address"`
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
	// Route is the callers' side of the routes (the routes themselves
	// are the top-level routes: list).
	Route struct {
		// Codecs are what callers of a route are answered with, in order
		// of preference (default PCMU, PCMA, telephone-event; add G722
		// for wideband callers).
		Codecs []string `yaml:"codecs"`
	} `yaml:"route"`
}

// loadConfig reads the embedded default and then, if path is set, the file
// on top of it. Every mistake in the file is reported at once, each with
// file:line:column and its key path (yamlconf.Errors).
func loadConfig(path string) (Config, error) {
	var c Config
	if err := yamlconf.Decode("embedded config", defaultConfig, &c); err != nil {
		return c, err
	}
	if path == "" {
		return c, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	doc, err := yamlconf.Parse(path, b)
	if err != nil {
		return c, err
	}
	// Lists in the file replace the default lists rather than merge: a
	// file that sets udp listens only where it says.
	if len(doc.Content) > 0 {
		for _, key := range listKeys(doc.Content[0], "platform") {
			switch key {
			case "udp":
				c.Platform.UDP = nil
			case "tcp":
				c.Platform.TCP = nil
			case "tls":
				c.Platform.TLS = nil
			case "ws":
				c.Platform.WS = nil
			}
		}
	}
	if err := yamlconf.DecodeNode(path, doc, &c); err != nil {
		return c, err
	}
	c.file, c.doc = path, doc
	return c, nil
}

// listKeys returns the keys set under the mapping key name of m.
func listKeys(m *yaml.Node, name string) []string {
	if m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == name {
			return yamlconf.SortedKeys(m.Content[i+1])
		}
	}
	return nil
}

// level parses the log level.
func (l LogConfig) level() (slog.Level, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(strings.ToUpper(orDefault(l.Level, "info")))); err != nil {
		return lvl, fmt.Errorf("level %q: want debug, info, warn or error", l.Level)
	}
	return lvl, nil
}

// logger builds the logger; its level is level, set here and changed by a
// reload.
func (l LogConfig) logger(level *slog.LevelVar) (*slog.Logger, error) {
	lvl, err := l.level()
	if err != nil {
		return nil, err
	}
	level.Set(lvl)
	opts := &slog.HandlerOptions{Level: level}
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
