package redisstore

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// OnOrbitChange implements park.SharedStore: f is told the orbits that
// other nodes parked, retrieved, released or replaced, and those that the
// liveness sweep released (on any node, this one included), through Redis
// pub/sub. After the subscription was lost (Redis unreachable) and is back,
// f is called with "": changes may have been missed. Every function added
// runs, in the order added, on the store's subscriber goroutine, one call
// at a time, and must not block; remove removes this one (idempotent).
// Changes made by this node's own operations are not reported: the caller
// of the operation knows them.
func (s *Store) OnOrbitChange(f func(orbit string)) (remove func()) {
	return s.onChange.Add(f)
}

func (s *Store) changed(orbit string) { s.onChange.Run(orbit) }

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
	s.changeMu.Lock()
	s.ps = ps
	s.changeMu.Unlock()
	s.wg.Go(func() {
		<-s.stop
		s.changeMu.Lock()
		defer s.changeMu.Unlock()
		_ = s.ps.Close() // unblocks Receive
	})
	s.wg.Go(func() { s.receive(ps, first) })
}

// receive delivers the changes of other nodes until the store stops.
// go-redis dials again and resubscribes on the Receive after an error; a
// new subscription confirmation then means changes may have been missed.
// An idle subscription is pinged every ReleaseAfter/5; when even the ping
// gets no answer within that time (a silent network path, which TCP would
// notice only after minutes), the subscription is replaced.
func (s *Store) receive(ps *redis.PubSub, subscribed bool) {
	idle := s.cfg.ReleaseAfter / 5
	backoff := 50 * time.Millisecond
	lost, pinged := false, false
	for {
		m, err := ps.ReceiveTimeout(context.Background(), idle)
		if err != nil {
			select {
			case <-s.stop:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if !pinged {
					ctx, cancel := s.ctx()
					_ = ps.Ping(ctx)
					cancel()
					pinged = true
					continue
				}
				if !lost {
					s.log.Warn("park: Redis change subscription silent; subscribing again")
				}
				if ps = s.resubscribe(ps); ps == nil {
					return
				}
				lost, pinged = true, false
				continue
			}
			select {
			case <-s.stop:
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
			lost, pinged = true, false
			continue
		}
		backoff, pinged = 50*time.Millisecond, false
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

// resubscribe closes old and subscribes on a new connection; nil when the
// store is stopping.
func (s *Store) resubscribe(old *redis.PubSub) *redis.PubSub {
	_ = old.Close()
	s.changeMu.Lock()
	defer s.changeMu.Unlock()
	select {
	case <-s.stop:
		return nil
	default:
	}
	ctx, cancel := s.ctx()
	defer cancel()
	s.ps = s.rdb.Subscribe(ctx, s.k.changes)
	return s.ps
}
