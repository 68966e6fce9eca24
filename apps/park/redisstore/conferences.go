package redisstore

import (
	"context"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Conferences is the conference directory (conference.Directory) kept in
// the store's Redis next to the park state: one key per conference,
// <prefix>conf:<id> = the id of the node hosting it. An entry is valid
// while its node's heartbeat is alive; its TTL (ReleaseAfter) is refreshed
// by the node's heartbeat and it is deleted when the conference ends, so a
// dead node's entries are taken over at once by the next claim and vanish
// from Redis within ReleaseAfter.
//
// Claim and Release are safe for concurrent use; after the store's Close
// they fail (Claim) or do nothing (Release).
type Conferences struct {
	s *Store

	mu     sync.Mutex
	owned  map[string]struct{} // ids this node holds, refreshed by the heartbeat
	closed bool                // the store closed: no more releases started
	wg     sync.WaitGroup      // releases in flight
}

// confClaimScript returns the owner of a conference and its address, taking
// it for this node when it has none or its owner's heartbeat has expired.
// KEYS: conference key. ARGV: node, TTL ms, node key prefix.
var confClaimScript = redis.NewScript(`
local owner = redis.call('GET', KEYS[1])
if owner and owner ~= ARGV[1] then
  local addr = redis.call('GET', ARGV[3] .. owner)
  if addr then return {owner, addr} end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {ARGV[1], ''}
`)

// confReleaseScript deletes a conference's entry if this node owns it.
// KEYS: conference key. ARGV: node.
var confReleaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
`)

// Conferences returns the store's conference directory (always the same).
func (s *Store) Conferences() *Conferences {
	s.confOnce.Do(func() { s.confs.Store(&Conferences{s: s, owned: map[string]struct{}{}}) })
	return s.confs.Load()
}

func (d *Conferences) key(id string) string { return d.s.k.prefix + "conf:" + id }

// Claim implements conference.Directory: it returns "" when this node now
// hosts conference id, else the SIP address (host:port) of the live node
// that does. A node that publishes no address cannot be sent callers, so
// its entry is taken over like a dead node's.
func (d *Conferences) Claim(ctx context.Context, id string) (string, error) {
	r, err := confClaimScript.Run(ctx, d.s.rdb, []string{d.key(id)}, d.s.node,
		d.s.cfg.ReleaseAfter.Milliseconds(), d.s.k.prefix+"node:").StringSlice()
	if err != nil {
		return "", fmt.Errorf("redisstore: conference directory: claim %s: %w", id, err)
	}
	if len(r) != 2 {
		return "", fmt.Errorf("redisstore: conference directory: claim %s: unexpected reply %v", id, r)
	}
	if r[0] != d.s.node {
		return r[1], nil
	}
	d.mu.Lock()
	d.owned[id] = struct{}{}
	d.mu.Unlock()
	return "", nil
}

// Release implements conference.Directory: it deletes id's entry if this
// node owns it, on a goroutine of the store (the conference that ends does
// not wait for Redis); an unreachable Redis leaves the entry to its TTL.
func (d *Conferences) Release(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.owned[id]
	delete(d.owned, id)
	if !ok || d.closed {
		return
	}
	d.wg.Go(func() {
		ctx, cancel := d.s.ctx()
		defer cancel()
		if err := confReleaseScript.Run(ctx, d.s.rdb, []string{d.key(id)}, d.s.node).Err(); err != nil {
			d.s.log.Warn("park: conference directory: release", "conference", id, "error", err)
		}
	})
}

// close waits for the releases in flight and refuses new ones; the
// store's Close calls it before closing the client.
func (d *Conferences) close() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.wg.Wait()
}

// refresh extends the TTL of this node's entries (the heartbeat calls it).
func (d *Conferences) refresh(ctx context.Context) {
	d.mu.Lock()
	ids := make([]string, 0, len(d.owned))
	for id := range d.owned {
		ids = append(ids, id)
	}
	d.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	pipe := d.s.rdb.Pipeline()
	for _, id := range ids {
		pipe.PExpire(ctx, d.key(id), d.s.cfg.ReleaseAfter)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		d.s.log.Warn("park: conference directory: refresh", "entries", len(ids), "error", err)
	}
}
