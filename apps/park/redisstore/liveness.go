package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-sip/switchboard/apps/park"
)

// loop heartbeats every ReleaseAfter/5, reconciles this node's parks when
// in doubt, and releases the orbits of dead nodes. A node releases others'
// orbits only after it has been in touch with Redis for a whole heartbeat
// TTL, so that after an outage every live node has refreshed its
// heartbeat before anyone judges it dead.
func (s *Store) loop() {
	interval := s.cfg.ReleaseAfter / 5
	t := time.NewTicker(interval)
	defer t.Stop()
	connected := time.Now() // New's heartbeat succeeded
	up := true
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		ctx, cancel := s.ctx()
		err := s.beat(ctx)
		switch {
		case err != nil && up:
			s.log.Warn("park: Redis unreachable", "error", err)
			up = false
		case err == nil && !up:
			s.log.Info("park: Redis reachable again")
			up, connected = true, time.Now()
		}
		if d := s.confs.Load(); err == nil && d != nil {
			d.refresh(ctx)
		}
		if err == nil && time.Since(connected) >= s.ttl() {
			if err := s.reap(ctx); err != nil {
				s.log.Warn("park: releasing the orbits of dead nodes", "error", err)
			}
		}
		cancel()
	}
}

func (s *Store) ttl() time.Duration { return s.cfg.ReleaseAfter / 2 }

// beat refreshes the heartbeat and reconciles when this node may have lost
// parks: Redis came back empty (a new epoch), the heartbeat had expired (the
// survivors may have released this node's orbits), or a reply was lost.
func (s *Store) beat(ctx context.Context) error {
	r, err := heartbeatScript.Run(ctx, s.rdb, []string{s.k.node(s.node), s.k.meta}, s.ttl().Milliseconds(), s.cfg.Address).Slice()
	if err != nil {
		return unavailable("heartbeat", err)
	}
	alive, _ := r[0].(int64)
	meta, _ := r[1].(string)
	if meta == "" {
		if _, err := s.ensureMeta(ctx); err != nil { // sets doubt for a new epoch
			return err
		}
	} else if !strings.HasPrefix(meta, s.sig+"|") {
		return fmt.Errorf("redisstore: heartbeat: %w: the pool in Redis changed", park.ErrStoreUnavailable)
	}
	s.mu.Lock()
	if meta != "" && meta != s.epoch {
		s.epoch, s.doubt = meta, true
	}
	if alive == 0 {
		s.doubt = true
	}
	doubt := s.doubt
	s.mu.Unlock()
	if doubt {
		return s.reconcile(ctx)
	}
	return nil
}

// reconcile releases the tokens whose reply was lost and puts back this
// node's parks that Redis no longer has.
func (s *Store) reconcile(ctx context.Context) error {
	s.mu.Lock()
	s.doubt = false
	pending := make([]string, 0, len(s.pending))
	for t := range s.pending {
		pending = append(pending, t)
	}
	args := []any{s.node}
	snap := make(map[int]string, len(s.held))
	for i, e := range s.held {
		args = append(args, i, e.Token, e.CallID, s.encode(e))
		snap[i] = e.Token
	}
	s.mu.Unlock()
	fail := func(err error) error {
		s.mu.Lock()
		s.doubt = true
		s.mu.Unlock()
		return err
	}
	k := []string{s.k.meta, s.k.orbits, s.k.calls, s.k.tokens}
	for _, t := range pending {
		if _, err := s.run(ctx, "release", releaseScript, k, "", t, s.k.changes, s.node); err != nil {
			return fail(err)
		}
		s.mu.Lock()
		delete(s.pending, t)
		s.mu.Unlock()
	}
	r, err := s.run(ctx, "restore", restoreScript, append(k, s.k.nodes), args...)
	if err != nil {
		return fail(err)
	}
	// A park released or claimed while the script was on its way may have
	// been put back: release it at the next heartbeat.
	s.mu.Lock()
	for i, t := range snap {
		if h, ok := s.held[i]; !ok || h.Token != t {
			s.pending[t], s.doubt = struct{}{}, true
		}
	}
	s.mu.Unlock()
	for i := range snap {
		s.publish(ctx, "", i)
	}
	lost, _ := r[1].([]any)
	for _, x := range lost {
		i, _ := strconv.Atoi(fmt.Sprint(x))
		s.mu.Lock()
		e, ok := s.held[i]
		if !ok || e.Token != snap[i] {
			s.mu.Unlock()
			continue // released or replaced meanwhile
		}
		delete(s.held, i)
		s.mu.Unlock()
		s.log.Error("park: orbit taken by another park while this node was cut off from Redis; the call here no longer holds it",
			"orbit", e.Orbit, "call_id", e.CallID)
	}
	return nil
}

// reap releases the orbits of nodes whose heartbeat expired.
func (s *Store) reap(ctx context.Context) error {
	nodes, err := s.rdb.SMembers(ctx, s.k.nodes).Result()
	if err != nil {
		return unavailable("reap", err)
	}
	for _, n := range nodes {
		if n == s.node {
			continue
		}
		if err := s.reapNode(ctx, n, false); err != nil {
			return err
		}
	}
	return nil
}

// reapNode releases node n's orbits: those of a dead node (its heartbeat
// expired), or with force those this node's id still holds in Redis when it
// starts.
func (s *Store) reapNode(ctx context.Context, n string, force bool) error {
	f := "0"
	if force {
		f = "1"
	}
	freed, err := reapScript.Run(ctx, s.rdb, []string{s.k.node(n), s.k.orbits, s.k.calls, s.k.tokens, s.k.nodes}, n, f).StringSlice()
	if err != nil {
		return unavailable("reap", err)
	}
	if len(freed) == 0 {
		return nil
	}
	orbits := make([]string, len(freed))
	for j, f := range freed {
		i, _ := strconv.Atoi(f)
		orbits[j] = s.pool.orbit(i)
		s.publish(ctx, "", i)
	}
	if force {
		s.log.Warn("park: orbits left by a previous run of this node released", "orbits", orbits)
	} else {
		s.log.Warn("park: node dead, its orbits released", "dead_node", n, "orbits", orbits)
	}
	return nil
}
