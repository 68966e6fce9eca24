package redisstore

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// OnOrbitChange implements park.SharedStore: f is told the orbits that
// other nodes parked, retrieved, released or replaced, and those that the
// liveness sweep released (on any node, this one included), through Redis
// pub/sub. After the subscription was lost (Redis unreachable) and is back,
// f is called with "": changes may have been missed. f runs on the store's
// subscriber goroutine, one call at a time, and must not block; nil removes
// it. Changes made by this node's own operations are not reported: the
// caller of the operation knows them.
func (s *Store) OnOrbitChange(f func(orbit string)) {
	s.changeMu.Lock()
	s.onChange = f
	s.changeMu.Unlock()
}

func (s *Store) changed(orbit string) {
	s.changeMu.Lock()
	f := s.onChange
	s.changeMu.Unlock()
	if f != nil {
		f(orbit)
	}
}

// publish announces a change of the orbit at pool index i; origin is the
// node whose operation it was ("" for the sweep and restores). A failure
// is not reported: the operation itself succeeded, and the watchers of
// other nodes resynchronise when their subscription comes back.
func (s *Store) publish(ctx context.Context, origin string, i int) {
	_ = s.rdb.Publish(ctx, s.k.changes, origin+"|"+strconv.Itoa(i)).Err()
}

// subscribe subscribes to the change channel, waits (within ctx) for the
// confirmation so that no change published after New returns is missed,
// and starts the subscriber goroutine.
func (s *Store) subscribe(ctx context.Context) {
	ps := s.rdb.Subscribe(ctx, s.k.changes)
	first := false
	if m, err := ps.Receive(ctx); err == nil {
		_, first = m.(*redis.Subscription)
	}
	s.wg.Go(func() {
		<-s.stop
		_ = ps.Close() // unblocks Receive
	})
	s.wg.Go(func() { s.receive(ps, first) })
}

// receive delivers the changes of other nodes until the store stops.
// go-redis dials again and resubscribes on the Receive after an error; a
// new subscription confirmation then means changes may have been missed.
func (s *Store) receive(ps *redis.PubSub, subscribed bool) {
	backoff := 50 * time.Millisecond
	lost := false
	for {
		m, err := ps.Receive(context.Background())
		if err != nil {
			select {
			case <-s.stop:
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
			lost = true
			continue
		}
		backoff = 50 * time.Millisecond
		switch m := m.(type) {
		case *redis.Subscription:
			if lost || !subscribed {
				s.changed("")
			}
			lost, subscribed = false, true
		case *redis.Message:
			origin, idx, ok := strings.Cut(m.Payload, "|")
			if !ok || origin == s.node {
				continue
			}
			i, err := strconv.Atoi(idx)
			if o := s.pool.orbit(i); err == nil && o != "" {
				s.changed(o)
			}
		}
	}
}
