package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboard-sip/switchboard/apps/park"
	"github.com/switchboard-sip/switchboard/apps/park/redisstore"
	"github.com/switchboard-sip/switchboard/platform"
)

// parkStore opens the park store that apps.park.store names: nil for the
// in-memory default, else a Redis store registered with the platform
// before the park service, so that it is closed after it.
func parkStore(p *platform.Platform, cfg Config, log *slog.Logger, checkOnly bool) (park.Store, error) {
	c := cfg.Apps.Park
	switch {
	case c.Store == "" || c.Store == "memory":
		return nil, nil
	case strings.HasPrefix(c.Store, "redis://") || strings.HasPrefix(c.Store, "rediss://"):
	default:
		return nil, fmt.Errorf("apps.park.store: %q is neither memory nor a redis:// or rediss:// URL", c.Store)
	}
	node := c.Node
	if node == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("apps.park.node: not set and no host name: %w", err)
		}
		node = h
	}
	if checkOnly {
		// check-config connects to nothing: the URL is checked, Redis is not.
		if _, err := redis.ParseURL(c.Store); err != nil {
			return nil, fmt.Errorf("apps.park.store: %w", err)
		}
		return nil, nil
	}
	orbits := c.Orbits
	if len(orbits) == 0 {
		orbits = []park.OrbitRange{{Start: "7000", End: "7099"}} // park.Config's default
	}
	plog := log.With("subsystem", "park-redis")
	redis.SetLogger(redisLog{plog})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addr := c.Address
	if addr == "" {
		addr = p.URIHost()
	}
	st, err := redisstore.New(ctx, c.Store, node, redisstore.Config{Orbits: orbits, Allocation: c.Allocation,
		ReleaseAfter: c.ReleaseAfter, Address: addr}, redisstore.WithLogger(plog))
	if err != nil {
		return nil, fmt.Errorf("apps.park.store: %w", err)
	}
	if err := p.Register(st); err != nil {
		return nil, err
	}
	return st, nil
}

// redisLog sends go-redis's process-wide log to the server's logger.
type redisLog struct{ l *slog.Logger }

func (r redisLog) Printf(ctx context.Context, format string, v ...any) {
	r.l.WarnContext(ctx, fmt.Sprintf(format, v...))
}
