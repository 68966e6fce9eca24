package park

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Allocation is the policy that picks an orbit for a non-directed park.
type Allocation string

// Allocation policies.
const (
	// FirstFree takes the lowest free orbit (the default).
	FirstFree Allocation = "first-free"
	// NextFree takes the first free orbit after the one it allocated
	// last, wrapping around, so a just-freed orbit is not reused at once.
	NextFree Allocation = "next"
)

// Errors of a Store. Stores wrap them with the orbit or Call-ID concerned;
// test with errors.Is.
var (
	ErrNoFreeOrbit  = errors.New("park: no free orbit")
	ErrOrbitBusy    = errors.New("park: orbit busy")
	ErrNoSuchOrbit  = errors.New("park: no such orbit")
	ErrOrbitEmpty   = errors.New("park: orbit empty")
	ErrDoublePark   = errors.New("park: call already parked")
	ErrSafeRetrieve = errors.New("park: safe retrieve failed: the orbit holds another call")
	// ErrNoCallID is returned by Allocate for an entry without a Call-ID,
	// which could not be protected against double park.
	ErrNoCallID = errors.New("park: entry has no Call-ID")
	// ErrStoreUnavailable is wrapped by a shared store (Redis) that cannot
	// reach its server or is recovering from a data loss: the operation
	// was refused and may be retried later.
	ErrStoreUnavailable = errors.New("park: store unavailable")
)

// Entry is one parked call.
type Entry struct {
	// Orbit is the friendly orbit, e.g. "7005".
	Orbit string
	// Token is the safe-retrieve token: unguessable (128 random bits from
	// crypto/rand, URL-safe base32), unique per park. It is a secret of
	// the parker: never put it in a busy-lamp NOTIFY or a log.
	Token string
	// CallID is the Call-ID of the parked call.
	CallID string
	// Parker is the URI of who parked the call.
	Parker string
	// Parked is the URI of the parked party.
	Parked string
	// Since is when the call was parked.
	Since time.Time
}

// Store keeps park state; a shared store (Redis, SQL) can implement it later
// for several servers. Implementations are safe for concurrent use.
type Store interface {
	// Allocate parks e: in orbit directed when not empty (ErrNoSuchOrbit /
	// ErrOrbitBusy), else in an orbit chosen by the allocation policy
	// (ErrNoFreeOrbit when full). It fills e.Orbit and e.Token (and Since
	// if zero) and returns the stored entry. ErrDoublePark when e.CallID is
	// already parked.
	Allocate(directed string, e Entry) (Entry, error)
	// Get returns the entry in an orbit.
	Get(orbit string) (Entry, bool)
	// ByToken returns the entry parked with this safe-retrieve token, if it
	// is still parked.
	ByToken(token string) (Entry, bool)
	// Claim atomically removes and returns the entry in orbit (exactly one
	// of many concurrent claimers wins; the others get ErrOrbitEmpty). With
	// a non-empty token, the entry's token must match or ErrSafeRetrieve is
	// returned and nothing changes.
	Claim(orbit, token string) (Entry, error)
	// Release frees orbit if it still holds the park with this token (a
	// parked party hung up); it reports whether it did.
	Release(orbit, token string) bool
	// Replace atomically makes orbit hold e instead of the park with token
	// (an attended park completing: the parked party's call replaces the
	// parker's). The orbit is never free in between, so no concurrent
	// Allocate can take it. It fills e.Orbit and a new e.Token (the old
	// token no longer releases or retrieves anything) and Since if zero,
	// and returns the stored entry. ErrOrbitEmpty when the orbit no longer
	// holds that park, ErrDoublePark when e.CallID is parked elsewhere,
	// ErrNoCallID without a Call-ID.
	Replace(orbit, token string, e Entry) (Entry, error)
	// List returns the parked calls sorted by orbit.
	List() []Entry
}

// MemoryStore is a Store in memory, for one server. Every method takes one
// mutex, so allocation and claims are atomic: two calls parked at the same
// instant always get two orbits. Finding a free orbit costs at most one step
// per parked call.
type MemoryStore struct {
	pool   pool
	policy Allocation

	mu      sync.Mutex
	parked  map[int]Entry  // by pool index
	byCall  map[string]int // Call-ID -> pool index
	byToken map[string]int // token -> pool index
	last    int            // pool index NextFree allocated last; -1 before
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty store for the orbits of ranges (checked by
// ValidateRanges). An empty policy means FirstFree.
func NewMemoryStore(ranges []OrbitRange, policy Allocation) (*MemoryStore, error) {
	if err := ValidateRanges(ranges); err != nil {
		return nil, err
	}
	switch policy {
	case "":
		policy = FirstFree
	case FirstFree, NextFree:
	default:
		return nil, fmt.Errorf("park: unknown allocation policy %q (want %q or %q)", policy, FirstFree, NextFree)
	}
	return &MemoryStore{
		pool:    newPool(ranges),
		policy:  policy,
		parked:  make(map[int]Entry),
		byCall:  make(map[string]int),
		byToken: make(map[string]int),
		last:    -1,
	}, nil
}

// Capacity returns the number of orbits; the pool is full when len(List())
// reaches it.
func (s *MemoryStore) Capacity() int { return s.pool.size }

// Allocate implements Store. Since defaults to time.Now(); a directed park
// does not move the NextFree rotation.
func (s *MemoryStore) Allocate(directed string, e Entry) (Entry, error) {
	if e.CallID == "" {
		return Entry{}, ErrNoCallID
	}
	token := rand.Text()
	s.mu.Lock()
	defer s.mu.Unlock()
	if i, ok := s.byCall[e.CallID]; ok {
		return Entry{}, fmt.Errorf("%w: Call-ID %q is in orbit %s", ErrDoublePark, e.CallID, s.pool.orbit(i))
	}
	var i int
	if directed != "" {
		var ok bool
		if i, ok = s.pool.index(directed); !ok {
			return Entry{}, fmt.Errorf("%w: %q", ErrNoSuchOrbit, directed)
		}
		if _, busy := s.parked[i]; busy {
			return Entry{}, fmt.Errorf("%w: %s", ErrOrbitBusy, directed)
		}
	} else {
		var ok bool
		if i, ok = s.free(); !ok {
			return Entry{}, ErrNoFreeOrbit
		}
		s.last = i
	}
	// 128 random bits do not collide in practice; the loop makes
	// uniqueness a guarantee rather than a probability.
	for _, dup := s.byToken[token]; dup; _, dup = s.byToken[token] {
		token = rand.Text()
	}
	e.Orbit = s.pool.orbit(i)
	e.Token = token
	if e.Since.IsZero() {
		e.Since = time.Now()
	}
	s.parked[i] = e
	s.byCall[e.CallID] = i
	s.byToken[token] = i
	return e, nil
}

// free returns a free pool index chosen by the policy. The caller holds mu.
func (s *MemoryStore) free() (int, bool) {
	n := s.pool.size
	if len(s.parked) >= n {
		return 0, false
	}
	start := 0
	if s.policy == NextFree {
		start = (s.last + 1) % n
	}
	// At most len(s.parked)+1 steps: every busy orbit is skipped once.
	for k := range n {
		if i := (start + k) % n; !s.has(i) {
			return i, true
		}
	}
	return 0, false
}

func (s *MemoryStore) has(i int) bool {
	_, ok := s.parked[i]
	return ok
}

// remove forgets the park at pool index i. The caller holds mu.
func (s *MemoryStore) remove(i int, e Entry) {
	delete(s.parked, i)
	delete(s.byCall, e.CallID)
	delete(s.byToken, e.Token)
}

// Get implements Store.
func (s *MemoryStore) Get(orbit string) (Entry, bool) {
	i, ok := s.pool.index(orbit)
	if !ok {
		return Entry{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.parked[i]
	return e, ok
}

// ByToken implements Store.
func (s *MemoryStore) ByToken(token string) (Entry, bool) {
	if token == "" {
		return Entry{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.byToken[token]
	if !ok {
		return Entry{}, false
	}
	return s.parked[i], true
}

// Claim implements Store. An orbit outside the ranges gives ErrNoSuchOrbit.
func (s *MemoryStore) Claim(orbit, token string) (Entry, error) {
	i, ok := s.pool.index(orbit)
	if !ok {
		return Entry{}, fmt.Errorf("%w: %q", ErrNoSuchOrbit, orbit)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.parked[i]
	if !ok {
		return Entry{}, fmt.Errorf("%w: %s", ErrOrbitEmpty, orbit)
	}
	if token != "" && !sameToken(token, e.Token) {
		return Entry{}, fmt.Errorf("%w: %s", ErrSafeRetrieve, orbit)
	}
	s.remove(i, e)
	return e, nil
}

// Release implements Store. An empty token never matches.
func (s *MemoryStore) Release(orbit, token string) bool {
	i, ok := s.pool.index(orbit)
	if !ok || token == "" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.parked[i]
	if !ok || !sameToken(token, e.Token) {
		return false
	}
	s.remove(i, e)
	return true
}

// Replace implements Store. An orbit outside the ranges gives
// ErrNoSuchOrbit.
func (s *MemoryStore) Replace(orbit, token string, e Entry) (Entry, error) {
	if e.CallID == "" {
		return Entry{}, ErrNoCallID
	}
	i, ok := s.pool.index(orbit)
	if !ok {
		return Entry{}, fmt.Errorf("%w: %q", ErrNoSuchOrbit, orbit)
	}
	fresh := rand.Text()
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.parked[i]
	if !ok || token == "" || !sameToken(token, old.Token) {
		return Entry{}, fmt.Errorf("%w: %s holds no park to replace", ErrOrbitEmpty, orbit)
	}
	if j, dup := s.byCall[e.CallID]; dup && j != i {
		return Entry{}, fmt.Errorf("%w: Call-ID %q is in orbit %s", ErrDoublePark, e.CallID, s.pool.orbit(j))
	}
	for _, dup := s.byToken[fresh]; dup; _, dup = s.byToken[fresh] {
		fresh = rand.Text()
	}
	s.remove(i, old)
	e.Orbit = old.Orbit
	e.Token = fresh
	if e.Since.IsZero() {
		e.Since = time.Now()
	}
	s.parked[i] = e
	s.byCall[e.CallID] = i
	s.byToken[fresh] = i
	return e, nil
}

// List implements Store.
func (s *MemoryStore) List() []Entry {
	s.mu.Lock()
	l := make([]Entry, 0, len(s.parked))
	for _, e := range s.parked {
		l = append(l, e)
	}
	s.mu.Unlock()
	// All orbits have one length, so string order is numeric order.
	slices.SortFunc(l, func(a, b Entry) int { return strings.Compare(a.Orbit, b.Orbit) })
	return l
}

// sameToken compares tokens in constant time, so that response timing does
// not help guess a token.
func sameToken(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
