package token

import (
	"crypto/rsa"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/learnplatform/platform/kit/token/jwks"
)

// DefaultCacheSize is how many verified tokens a Validator remembers when
// Config.CacheSize is 0.
const DefaultCacheSize = 10000

// cacheShards bounds the number of independently locked parts of the
// cache: requests for different tokens rarely wait for each other.
const cacheShards = 16

// verifiedCache remembers tokens that passed every check, so the RSA
// verification (about 0.3–0.6 ms with Hydra's 4096-bit keys) is paid once
// per token per process instead of on every request.
//
// It is keyed by the exact raw token: Go maps compare the whole key, so a
// hit means the very bytes that were verified, never a hash collision. It
// holds only what the claims said; expiry and the signing key are checked
// again on every hit, and revocation by the caller.
type verifiedCache struct {
	seed   maphash.Seed
	shards []cacheShard
}

type cacheShard struct {
	mu      sync.Mutex
	entries map[string]*cacheEntry
	root    cacheEntry // sentinel of the LRU ring: root.next is the most recently used
	limit   int

	_ [64]byte // keeps neighbouring shards' locks off one cache line
}

// cacheEntry is one verified token. user's slices are never modified: get
// hands out copies.
type cacheEntry struct {
	raw  string
	user User
	exp  float64        // the exp claim, for the same expiry rule as a full check
	kid  string         // the key that verified the signature ...
	key  *rsa.PublicKey // ... as it was served then
	keys *jwks.Set      // the key set key was last seen in

	prev, next *cacheEntry
}

// newVerifiedCache returns a cache of at most size (> 0) entries.
func newVerifiedCache(size int) *verifiedCache {
	return newShardedCache(size, min(size, cacheShards))
}

// newShardedCache splits size entries into n shards (0 < n <= size) whose
// limits add up to exactly size.
func newShardedCache(size, n int) *verifiedCache {
	c := &verifiedCache{seed: maphash.MakeSeed(), shards: make([]cacheShard, n)}
	for i := range c.shards {
		s := &c.shards[i]
		s.limit = size / n
		if i < size%n {
			s.limit++
		}
		s.entries = make(map[string]*cacheEntry, min(s.limit, 1024))
		s.root.next, s.root.prev = &s.root, &s.root
	}
	return c
}

// shard picks raw's shard from its last bytes, which lie in the signature
// of any token worth caching and so differ between tokens: hashing the
// whole ~1.5 KiB token again (the map already does once) cost 5% of a hit.
// The map, not this choice, decides what matches.
func (c *verifiedCache) shard(raw string) *cacheShard {
	tail := raw[max(len(raw)-32, 0):]
	return &c.shards[maphash.String(c.seed, tail)%uint64(len(c.shards))]
}

// cacheResult is what get found.
type cacheResult int

const (
	cacheMiss    cacheResult = iota // not cached (or its key is gone): verify it
	cacheHit                        // cached and unexpired
	cacheExpired                    // cached but expired; now forgotten
)

// get looks raw up. A hit needs the token unexpired at now and its signing
// key still served in ks, the current key set: a key Hydra stopped
// publishing no longer vouches for the tokens it signed, so such an entry
// is dropped and the token verified afresh (and refused).
func (c *verifiedCache) get(raw string, ks *jwks.Set, now time.Time, leeway time.Duration) (User, cacheResult) {
	s := c.shard(raw)
	s.mu.Lock()
	e := s.entries[raw]
	if e == nil {
		s.mu.Unlock()
		return User{}, cacheMiss
	}
	if expired(e.exp, now, leeway) {
		s.unlink(e)
		s.mu.Unlock()
		return User{}, cacheExpired
	}
	if e.keys != ks {
		if !ks.Serves(e.kid, e.key) {
			s.unlink(e)
			s.mu.Unlock()
			return User{}, cacheMiss
		}
		e.keys = ks
	}
	s.toFront(e)
	u := e.user
	s.mu.Unlock()
	return u.clone(), cacheHit
}

// add remembers a verified token, evicting the least recently used entry
// of its shard when the shard is full.
func (c *verifiedCache) add(raw string, e cacheEntry) {
	e.user = e.user.clone()
	s := c.shard(raw)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.entries[raw]; old != nil {
		old.user, old.exp, old.kid, old.key, old.keys = e.user, e.exp, e.kid, e.key, e.keys
		s.toFront(old)
		return
	}
	// Clone: raw may share memory with a larger request buffer.
	e.raw = strings.Clone(raw)
	p := &e
	s.entries[p.raw] = p
	p.prev, p.next = &s.root, s.root.next
	p.prev.next, p.next.prev = p, p
	for len(s.entries) > s.limit {
		s.unlink(s.root.prev)
	}
}

// remove forgets raw, if cached.
func (c *verifiedCache) remove(raw string) {
	s := c.shard(raw)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.entries[raw]; e != nil {
		s.unlink(e)
	}
}

// len counts the cached tokens.
func (c *verifiedCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.entries)
		s.mu.Unlock()
	}
	return n
}

func (s *cacheShard) toFront(e *cacheEntry) {
	if s.root.next == e {
		return
	}
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = &s.root, s.root.next
	e.prev.next, e.next.prev = e, e
}

func (s *cacheShard) unlink(e *cacheEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
	delete(s.entries, e.raw)
}

// clone copies u's slices, so no caller can change what another one (or
// the cache) sees.
func (u User) clone() User {
	u.Scopes = slices.Clone(u.Scopes)
	u.AMR = slices.Clone(u.AMR)
	return u
}
