package redisstore

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboard-sip/switchboard/apps/park"
	"github.com/switchboard-sip/switchboard/internal/serial"
)

// Config configures a Store. The zero value is valid except for Orbits,
// which every node of a deployment must set alike.
type Config struct {
	// Orbits are the orbit ranges (park.ValidateRanges). All nodes sharing
	// a Redis must configure the same ranges and allocation: New refuses a
	// pool that differs from the one in Redis.
	Orbits []park.OrbitRange `yaml:"orbits"`
	// Allocation is the policy of non-directed parks: park.FirstFree
	// (default) or park.NextFree.
	Allocation park.Allocation `yaml:"allocation"`
	// ReleaseAfter bounds how long the orbits of a dead node stay held:
	// each node refreshes a heartbeat every ReleaseAfter/5 with a TTL of
	// ReleaseAfter/2, and every node releases the orbits of nodes whose
	// heartbeat expired. Default 10s.
	ReleaseAfter time.Duration `yaml:"release_after"`
	// Timeout bounds each Redis operation, including dialling. Default 2s.
	Timeout time.Duration `yaml:"timeout"`
	// Address is where the other nodes send SIP requests for this node's
	// park service (host:port, e.g. "10.0.0.2:5060"): a retrieval of an
	// orbit whose call this node holds, arriving at another node, is
	// bridged there. It is published with the heartbeat. Default none:
	// other nodes cannot retrieve this node's parks.
	Address string `yaml:"address"`
	// Prefix starts every key. Default "switchboard:park:{default}:"; the
	// braces are a Redis Cluster hash tag keeping all keys in one slot.
	Prefix string `yaml:"prefix"`
}

// Option sets a dependency of a Store.
type Option func(*Store)

// WithLogger sets the logger of liveness events (Redis lost and back,
// dead nodes' orbits released, orbits lost); default: none.
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.log = l } }

// WithTLS connects with TLS using c (a rediss:// URL uses TLS with a
// default configuration without this option).
func WithTLS(c *tls.Config) Option { return func(s *Store) { s.tls = c } }

// WithPassword sets the password (and with a non-empty user, the ACL user),
// overriding any in the URL.
func WithPassword(user, password string) Option {
	return func(s *Store) { s.user, s.password = user, password }
}

// Store is a park.Store in Redis, shared by the nodes of a deployment.
// Its methods are safe for concurrent use. The park.Store methods use
// Config.Timeout as their deadline; the Context variants take one.
//
// While Redis is unreachable, operations fail with errors wrapping
// park.ErrStoreUnavailable (Get, ByToken and List report nothing, Release
// false) and the client dials again on the next operation; no command is
// retried blindly, since a script whose reply was lost may have run.
// Instead the store remembers the calls its own node holds and, after a
// lost reply, a restart of Redis without persistence or an expired
// heartbeat, puts back those Redis no longer has (and releases the
// allocations whose reply was lost), before its orbits can be taken by
// another node: parks are refused for ReleaseAfter/2 after Redis comes back
// empty. A call whose orbit was nevertheless taken meanwhile (the node was
// cut off from Redis for longer than ReleaseAfter/2, so the survivors
// released its orbits) is logged and forgotten by the store.
//
// Close stops the heartbeat and deletes it, so the survivors release the
// node's remaining orbits at their next check.
type Store struct {
	cfg  Config
	node string
	sig  string
	pool pool
	rdb  *redis.Client
	log  *slog.Logger

	tls            *tls.Config
	user, password string

	k keys

	mu      sync.Mutex
	epoch   string              // meta value this node last saw
	held    map[int]park.Entry  // this node's parks, by pool index
	pending map[string]struct{} // tokens whose Allocate or Replace reply was lost
	doubt   bool                // reconcile held with Redis at the next heartbeat

	onChange serial.Handlers[string]
	changeMu sync.Mutex
	ps       *redis.PubSub // the change subscription (changeMu)

	confOnce sync.Once
	confs    atomic.Pointer[Conferences] // the conference directory, made on first use

	once sync.Once
	stop chan struct{}
	wg   sync.WaitGroup
}

var _ park.SharedStore = (*Store)(nil)

type keys struct {
	meta, recover, orbits, calls, tokens, last, nodes, prefix, changes string
}

func (k keys) node(id string) string { return k.prefix + "node:" + id }

// New connects to the Redis at url (redis://[user:password@]host:port/db or
// rediss:// for TLS; go-redis URL parameters such as dial_timeout are
// honoured) as node, an id unique among the nodes and stable across the
// node's restarts (e.g. its host name). It checks that the pool in Redis
// matches cfg, sends the first heartbeat and starts the liveness loop; ctx
// bounds this start only. An unreachable Redis gives an error wrapping
// park.ErrStoreUnavailable.
//
// A store starts holding no calls, so the orbits Redis still records for
// node belong to a previous run of it that ended without Close (a crash,
// kill -9) and whose calls are gone: New releases them. Without this, a
// node restarted within its heartbeat's TTL, or the only node of a
// deployment, would leave them held for good (no node reaps its own id).
// Two live stores must therefore never share a node id.
func New(ctx context.Context, url, node string, cfg Config, opts ...Option) (*Store, error) {
	if node == "" || strings.ContainsAny(node, " |") {
		return nil, fmt.Errorf("redisstore: invalid node id %q", node)
	}
	if err := park.ValidateRanges(cfg.Orbits); err != nil {
		return nil, err
	}
	switch cfg.Allocation {
	case "":
		cfg.Allocation = park.FirstFree
	case park.FirstFree, park.NextFree:
	default:
		return nil, fmt.Errorf("redisstore: unknown allocation policy %q (want %q or %q)", cfg.Allocation, park.FirstFree, park.NextFree)
	}
	if cfg.ReleaseAfter <= 0 {
		cfg.ReleaseAfter = 10 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "switchboard:park:{default}:"
	}
	ro, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	s := &Store{cfg: cfg, node: node, pool: newPool(cfg.Orbits),
		held: map[int]park.Entry{}, pending: map[string]struct{}{}, stop: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("node", node)
	if s.tls != nil {
		ro.TLSConfig = s.tls
	}
	if s.password != "" {
		ro.Username, ro.Password = s.user, s.password
	}
	// A lost reply does not tell whether a script ran: never resend one.
	ro.MaxRetries = -1
	// Fail fast while Redis is down; the next operation dials again.
	ro.DialerRetries = 1
	ro.DialTimeout = cfg.Timeout
	ro.ReadTimeout = cfg.Timeout
	ro.WriteTimeout = cfg.Timeout
	s.rdb = redis.NewClient(ro)

	var b strings.Builder
	for _, r := range cfg.Orbits {
		b.WriteString(r.String() + ",")
	}
	s.sig = b.String() + string(cfg.Allocation)
	p := cfg.Prefix
	s.k = keys{meta: p + "meta", recover: p + "recover", orbits: p + "orbits", calls: p + "calls",
		tokens: p + "tokens", last: p + "last", nodes: p + "nodes", prefix: p, changes: p + "changes"}

	if _, err := s.ensureMeta(ctx); err != nil {
		_ = s.rdb.Close()
		return nil, err
	}
	if err := s.reapNode(ctx, node, true); err != nil {
		_ = s.rdb.Close()
		return nil, err
	}
	if err := s.beat(ctx); err != nil {
		_ = s.rdb.Close()
		return nil, err
	}
	s.subscribe(ctx)
	s.wg.Go(s.loop)
	return s, nil
}

// Node returns the node id of this store.
func (s *Store) Node() string { return s.node }

// Close stops the liveness loop, deletes the node's heartbeat and closes
// the client. It is idempotent; afterwards operations fail.
func (s *Store) Close() error {
	var err error
	s.once.Do(func() {
		close(s.stop)
		s.wg.Wait()
		if d := s.confs.Load(); d != nil {
			d.close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
		defer cancel()
		_ = s.rdb.Del(ctx, s.k.node(s.node)).Err()
		err = s.rdb.Close()
	})
	return err
}

// unavailable wraps a Redis error as park.ErrStoreUnavailable.
func unavailable(op string, err error) error {
	return fmt.Errorf("redisstore: %s: %w: %w", op, park.ErrStoreUnavailable, err)
}

// ensureMeta creates the meta key if missing (with a recovery window when
// parks may have been lost) and checks the pool signature.
func (s *Store) ensureMeta(ctx context.Context) (string, error) {
	window := s.cfg.ReleaseAfter / 2
	m, err := initScript.Run(ctx, s.rdb, []string{s.k.meta, s.k.recover},
		s.sig+"|"+rand.Text(), window.Milliseconds()).Text()
	if err != nil {
		return "", unavailable("init", err)
	}
	if !strings.HasPrefix(m, s.sig+"|") {
		return "", fmt.Errorf("redisstore: the pool in Redis (%q) differs from this node's (%q)", strings.SplitN(m, "|", 2)[0], s.sig)
	}
	s.mu.Lock()
	if s.epoch != "" && s.epoch != m {
		s.doubt = true
	}
	s.epoch = m
	s.mu.Unlock()
	return m, nil
}

// run runs a script that starts with metaCheck, creating the meta key and
// retrying once when Redis has none.
func (s *Store) run(ctx context.Context, op string, sc *redis.Script, keys []string, args ...any) ([]any, error) {
	for try := 0; ; try++ {
		r, err := sc.Run(ctx, s.rdb, keys, append([]any{s.sig}, args...)...).Slice()
		if err != nil {
			return nil, unavailable(op, err)
		}
		if st, _ := r[0].(string); st == "NOMETA" && try == 0 {
			if _, err := s.ensureMeta(ctx); err != nil {
				return nil, err
			}
			continue
		} else if st == "NOMETA" || st == "POOL" {
			return nil, fmt.Errorf("redisstore: %s: %w: the pool in Redis changed", op, park.ErrStoreUnavailable)
		}
		return r, nil
	}
}

func (s *Store) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.cfg.Timeout)
}

// record is an entry as stored in Redis.
type record struct {
	Token  string `json:"t"`
	CallID string `json:"c"`
	Parker string `json:"pr,omitempty"`
	Parked string `json:"pd,omitempty"`
	Since  string `json:"s"` // Unix ns: exact, unlike a Lua number
	Node   string `json:"n"`
}

func (s *Store) encode(e park.Entry) string {
	b, _ := json.Marshal(record{Token: e.Token, CallID: e.CallID, Parker: e.Parker, Parked: e.Parked,
		Since: strconv.FormatInt(e.Since.UnixNano(), 10), Node: s.node})
	return string(b)
}

func (s *Store) decode(i int, v string) (park.Entry, string, bool) {
	var r record
	if json.Unmarshal([]byte(v), &r) != nil {
		return park.Entry{}, "", false
	}
	ns, _ := strconv.ParseInt(r.Since, 10, 64)
	return park.Entry{Orbit: s.pool.orbit(i), Token: r.Token, CallID: r.CallID, Parker: r.Parker,
		Parked: r.Parked, Since: time.Unix(0, ns)}, r.Node, true
}

// normal gives e the Since that a read from Redis returns.
func normal(e park.Entry) park.Entry {
	if e.Since.IsZero() {
		e.Since = time.Now()
	}
	e.Since = time.Unix(0, e.Since.UnixNano())
	return e
}

func (s *Store) doubtful(token string) {
	s.mu.Lock()
	if token != "" {
		s.pending[token] = struct{}{}
	}
	s.doubt = true
	s.mu.Unlock()
}

func (s *Store) orbitOf(r []any) string {
	i, _ := strconv.Atoi(fmt.Sprint(r[1]))
	return s.pool.orbit(i)
}

// Allocate implements park.Store.
func (s *Store) Allocate(directed string, e park.Entry) (park.Entry, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	return s.AllocateContext(ctx, directed, e)
}

// AllocateContext is Allocate with a deadline. Since defaults to
// time.Now() and is kept to the nanosecond (no monotonic reading, local
// time zone); a directed park does not move the NextFree rotation. While
// Redis recovers from a data loss it fails with park.ErrStoreUnavailable.
func (s *Store) AllocateContext(ctx context.Context, directed string, e park.Entry) (park.Entry, error) {
	if e.CallID == "" {
		return park.Entry{}, park.ErrNoCallID
	}
	idx := -1
	if directed != "" {
		var ok bool
		if idx, ok = s.pool.index(directed); !ok {
			return park.Entry{}, fmt.Errorf("%w: %q", park.ErrNoSuchOrbit, directed)
		}
	}
	e = normal(e)
	for {
		e.Token = rand.Text()
		r, err := s.run(ctx, "allocate", allocateScript,
			[]string{s.k.meta, s.k.orbits, s.k.calls, s.k.tokens, s.k.last, s.k.nodes, s.k.recover},
			s.node, string(s.cfg.Allocation), s.pool.size, idx, e.Token, s.encode(e), e.CallID, s.k.changes)
		if err != nil {
			s.doubtful(e.Token)
			return park.Entry{}, err
		}
		switch r[0] {
		case "OK":
			i, _ := strconv.Atoi(fmt.Sprint(r[1]))
			e.Orbit = s.pool.orbit(i)
			s.mu.Lock()
			s.held[i] = e
			s.mu.Unlock()
			return e, nil
		case "DUPTOKEN":
			continue
		case "DOUBLE":
			return park.Entry{}, fmt.Errorf("%w: Call-ID %q is in orbit %s", park.ErrDoublePark, e.CallID, s.orbitOf(r))
		case "BUSY":
			return park.Entry{}, fmt.Errorf("%w: %s", park.ErrOrbitBusy, directed)
		case "FULL":
			return park.Entry{}, park.ErrNoFreeOrbit
		case "RECOVERING":
			return park.Entry{}, fmt.Errorf("redisstore: allocate: %w: recovering from a Redis data loss", park.ErrStoreUnavailable)
		}
		return park.Entry{}, fmt.Errorf("redisstore: allocate: unexpected reply %v", r)
	}
}

// Get implements park.Store; it reports nothing when Redis is unreachable.
func (s *Store) Get(orbit string) (park.Entry, bool) {
	ctx, cancel := s.ctx()
	defer cancel()
	e, ok, _ := s.GetContext(ctx, orbit)
	return e, ok
}

// GetContext returns the entry in an orbit and the node that holds it.
func (s *Store) GetContext(ctx context.Context, orbit string) (park.Entry, bool, error) {
	e, _, ok, err := s.Owner(ctx, orbit)
	return e, ok, err
}

// Owner returns the entry in an orbit and the id of the node that holds
// the parked call.
func (s *Store) Owner(ctx context.Context, orbit string) (e park.Entry, node string, ok bool, err error) {
	i, ok := s.pool.index(orbit)
	if !ok {
		return park.Entry{}, "", false, nil
	}
	v, err := s.rdb.HGet(ctx, s.k.orbits, strconv.Itoa(i)).Result()
	if errors.Is(err, redis.Nil) {
		return park.Entry{}, "", false, nil
	}
	if err != nil {
		return park.Entry{}, "", false, unavailable("get", err)
	}
	e, node, ok = s.decode(i, v)
	return e, node, ok, nil
}

// ByToken implements park.Store; it reports nothing when Redis is
// unreachable.
func (s *Store) ByToken(token string) (park.Entry, bool) {
	ctx, cancel := s.ctx()
	defer cancel()
	e, ok, _ := s.ByTokenContext(ctx, token)
	return e, ok
}

// ByTokenContext is ByToken with a deadline and an error.
func (s *Store) ByTokenContext(ctx context.Context, token string) (park.Entry, bool, error) {
	if token == "" {
		return park.Entry{}, false, nil
	}
	f, err := s.rdb.HGet(ctx, s.k.tokens, token).Result()
	if errors.Is(err, redis.Nil) {
		return park.Entry{}, false, nil
	}
	if err != nil {
		return park.Entry{}, false, unavailable("by token", err)
	}
	i, _ := strconv.Atoi(f)
	v, err := s.rdb.HGet(ctx, s.k.orbits, f).Result()
	if errors.Is(err, redis.Nil) {
		return park.Entry{}, false, nil
	}
	if err != nil {
		return park.Entry{}, false, unavailable("by token", err)
	}
	// Two reads: the orbit may have changed hands in between.
	e, _, ok := s.decode(i, v)
	if !ok || e.Token != token {
		return park.Entry{}, false, nil
	}
	return e, true, nil
}

// Claim implements park.Store.
func (s *Store) Claim(orbit, token string) (park.Entry, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	return s.ClaimContext(ctx, orbit, token)
}

// ClaimContext is Claim with a deadline. Exactly one of many claimers on
// any nodes wins.
func (s *Store) ClaimContext(ctx context.Context, orbit, token string) (park.Entry, error) {
	return s.claim(ctx, orbit, token, "")
}

// ClaimHere implements park.SharedStore.
func (s *Store) ClaimHere(orbit, token string) (park.Entry, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	return s.ClaimHereContext(ctx, orbit, token)
}

// ClaimHereContext is ClaimHere with a deadline. For a park held by another
// node it returns a *park.ElsewhereError with the address that node
// publishes with its heartbeat ("" when it has none or is dead).
func (s *Store) ClaimHereContext(ctx context.Context, orbit, token string) (park.Entry, error) {
	return s.claim(ctx, orbit, token, s.node)
}

func (s *Store) claim(ctx context.Context, orbit, token, here string) (park.Entry, error) {
	i, ok := s.pool.index(orbit)
	if !ok {
		return park.Entry{}, fmt.Errorf("%w: %q", park.ErrNoSuchOrbit, orbit)
	}
	r, err := s.run(ctx, "claim", claimScript, []string{s.k.meta, s.k.orbits, s.k.calls, s.k.tokens}, i, token, here, s.k.changes, s.node)
	if err != nil {
		// If the claim ran, the orbit is free while this node may still
		// hold the call: put it back (reconcile) unless the caller retries.
		s.doubtful("")
		return park.Entry{}, err
	}
	switch r[0] {
	case "OK":
		e, _, _ := s.decode(i, fmt.Sprint(r[1]))
		s.mu.Lock()
		if h, ok := s.held[i]; ok && h.Token == e.Token {
			delete(s.held, i)
		}
		s.mu.Unlock()
		return e, nil
	case "ELSEWHERE":
		owner := fmt.Sprint(r[1])
		addr, err := s.rdb.Get(ctx, s.k.node(owner)).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return park.Entry{}, unavailable("claim", err)
		}
		return park.Entry{}, &park.ElsewhereError{Orbit: orbit, Node: owner, Address: addr}
	case "EMPTY":
		return park.Entry{}, fmt.Errorf("%w: %s", park.ErrOrbitEmpty, orbit)
	case "SAFE":
		return park.Entry{}, fmt.Errorf("%w: %s", park.ErrSafeRetrieve, orbit)
	}
	return park.Entry{}, fmt.Errorf("redisstore: claim: unexpected reply %v", r)
}

// Release implements park.Store. It reports false when Redis is
// unreachable; the release is then retried in the background, so the
// orbit is freed once Redis is back.
func (s *Store) Release(orbit, token string) bool {
	ctx, cancel := s.ctx()
	defer cancel()
	ok, _ := s.ReleaseContext(ctx, orbit, token)
	return ok
}

// ReleaseContext is Release with a deadline and an error.
func (s *Store) ReleaseContext(ctx context.Context, orbit, token string) (bool, error) {
	i, ok := s.pool.index(orbit)
	if !ok || token == "" {
		return false, nil
	}
	s.mu.Lock()
	if h, ok := s.held[i]; ok && h.Token == token {
		delete(s.held, i)
	}
	s.mu.Unlock()
	r, err := s.run(ctx, "release", releaseScript, []string{s.k.meta, s.k.orbits, s.k.calls, s.k.tokens}, i, token, s.k.changes, s.node)
	if err != nil {
		s.doubtful(token)
		return false, err
	}
	return fmt.Sprint(r[1]) == "1", nil
}

// Replace implements park.Store.
func (s *Store) Replace(orbit, token string, e park.Entry) (park.Entry, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	return s.ReplaceContext(ctx, orbit, token, e)
}

// ReplaceContext is Replace with a deadline. The successor is held by this
// node.
func (s *Store) ReplaceContext(ctx context.Context, orbit, token string, e park.Entry) (park.Entry, error) {
	if e.CallID == "" {
		return park.Entry{}, park.ErrNoCallID
	}
	i, ok := s.pool.index(orbit)
	if !ok {
		return park.Entry{}, fmt.Errorf("%w: %q", park.ErrNoSuchOrbit, orbit)
	}
	e = normal(e)
	e.Orbit = orbit
	for {
		e.Token = rand.Text()
		r, err := s.run(ctx, "replace", replaceScript, []string{s.k.meta, s.k.orbits, s.k.calls, s.k.tokens, s.k.nodes},
			i, token, e.Token, s.encode(e), e.CallID, s.node, s.k.changes)
		if err != nil {
			// If it ran, nobody knows the new token: free the orbit.
			s.doubtful(e.Token)
			return park.Entry{}, err
		}
		switch r[0] {
		case "OK":
			s.mu.Lock()
			s.held[i] = e
			s.mu.Unlock()
			return e, nil
		case "DUPTOKEN":
			continue
		case "EMPTY":
			return park.Entry{}, fmt.Errorf("%w: %s holds no park to replace", park.ErrOrbitEmpty, orbit)
		case "DOUBLE":
			return park.Entry{}, fmt.Errorf("%w: Call-ID %q is in orbit %s", park.ErrDoublePark, e.CallID, s.orbitOf(r))
		}
		return park.Entry{}, fmt.Errorf("redisstore: replace: unexpected reply %v", r)
	}
}

// List implements park.Store; it returns nothing when Redis is
// unreachable.
func (s *Store) List() []park.Entry {
	ctx, cancel := s.ctx()
	defer cancel()
	l, _ := s.ListContext(ctx)
	out := make([]park.Entry, len(l))
	for i, p := range l {
		out[i] = p.Entry
	}
	return out
}

// Parked is an entry and the node holding the call.
type Parked struct {
	park.Entry
	// Node is the id of the node that holds the parked call.
	Node string
}

// ListContext returns the parked calls of all nodes sorted by orbit.
func (s *Store) ListContext(ctx context.Context) ([]Parked, error) {
	m, err := s.rdb.HGetAll(ctx, s.k.orbits).Result()
	if err != nil {
		return nil, unavailable("list", err)
	}
	l := make([]Parked, 0, len(m))
	for f, v := range m {
		i, _ := strconv.Atoi(f)
		if e, n, ok := s.decode(i, v); ok {
			l = append(l, Parked{e, n})
		}
	}
	slices.SortFunc(l, func(a, b Parked) int { return strings.Compare(a.Orbit, b.Orbit) })
	return l, nil
}

// WaitReady waits until Redis accepts parks, i.e. no recovery window is
// in force (after New found Redis empty, parks are refused for
// ReleaseAfter/2).
func (s *Store) WaitReady(ctx context.Context) error {
	for {
		ms, err := s.rdb.PTTL(ctx, s.k.recover).Result()
		if err != nil {
			return unavailable("wait ready", err)
		}
		if ms < 0 { // -2: no window (-1, no expiry, cannot happen)
			return nil
		}
		// PTTL says 0 for the last millisecond of a key that still
		// exists (parks are still refused): wait at least that.
		t := time.NewTimer(max(ms, time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
