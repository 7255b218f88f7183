// Package jwks keeps the signing keys kit/token checks Hydra's access
// tokens with: the issuer's JSON Web Key Set, fetched from one URL and
// reduced to RSA public keys by kid. kit/token is its one user.
//
// # Refresh policy
//
// Keys are fetched lazily; there is no background goroutine to start or
// stop.
//
//   - The first lookup (or the first Ready call) fetches the key set. Until
//     one fetch has succeeded, lookups fail with ErrUnavailable.
//   - A lookup that finds the current set older than
//     Config.RefreshInterval starts a refresh in the background and goes on
//     with the current keys, so no request waits for Hydra once keys are
//     known.
//   - A kid not in the current set (Hydra rotated its keys) triggers an
//     immediate fetch, which the lookup waits for.
//   - All fetches share one rate limit: at most one attempt per
//     Config.MinRefetchInterval (kit/token's default is 1 second: after
//     Hydra starts signing with a new key, a replica accepts the new tokens
//     within a second, yet garbage kids cost Hydra at most one request a
//     second), and concurrent callers share one in-flight fetch. A flood of
//     tokens with made-up kids therefore costs Hydra at most one request
//     per interval; within it such kids are simply unknown.
//   - A failed fetch (Hydra down, non-2xx, bad JSON, no usable key) never
//     replaces the current set: the last good keys stay in use, however
//     old, and a retry happens at the next lookup after the rate limit.
//
// Every time-based decision (staleness, the rate limit) reads the time the
// caller passes or Config.Now, so tests drive the clock.
//
// # Which keys are kept
//
// Only RSA keys with a kid, of at least 2048 bits, whose JWK "use" is
// absent or "sig", whose "key_ops" (if any) include "verify" and whose JWK
// "alg" is absent or RS256. Other keys are skipped, not errors, so Hydra
// can publish keys for other purposes; a set with no usable key is an
// error, so it never replaces a good one. jwx
// (github.com/lestrrat-go/jwx/v2) parses the JWKS and its keys.
package jwks

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/prometheus/client_golang/prometheus"
)

// FetchTimeout bounds every fetch, whatever the HTTP client allows.
const FetchTimeout = 5 * time.Second

// maxSize bounds the JWKS document; Hydra's is a few KiB.
const maxSize = 1 << 20

// minRSABits refuses weak keys even if the JWKS serves them.
const minRSABits = 2048

// ErrUnavailable means no key set has ever been fetched. kit/token exports
// it as ErrKeysUnavailable.
var ErrUnavailable = errors.New("token signing keys unavailable")

// ErrUnknownKey means the kid is not in the key set, even after the fetch
// the lookup was allowed to make.
var ErrUnknownKey = errors.New("no signing key with this kid")

// Config says where the key set is and how often to fetch it. Every field
// but Logger is required; kit/token fills in its defaults.
type Config struct {
	// URL is where the JWKS is fetched.
	URL string
	// RefreshInterval is how old the current set may get before a lookup
	// starts a background refresh.
	RefreshInterval time.Duration
	// MinRefetchInterval is the least time between two fetches of any kind.
	MinRefetchInterval time.Duration
	// HTTPClient fetches the JWKS.
	HTTPClient *http.Client
	// Now is the clock.
	Now func() time.Time
	// Logger receives loads, refreshes and failures; nil discards them.
	Logger *slog.Logger
	// Metrics receive every fetch's outcome.
	Metrics Metrics
}

// Metrics are the collectors a Source reports its fetches to.
type Metrics struct {
	Refreshes   *prometheus.CounterVec // fetches by outcome: success, failure
	Keys        prometheus.Gauge       // kids in the current set
	LastSuccess prometheus.Gauge       // when the current set was fetched, Unix seconds
}

// Set is one successfully fetched key set, reduced to what verification
// needs: parsed RSA public keys by kid, so a lookup does no JWK work.
type Set struct {
	byKID     map[string][]*rsa.PublicKey
	fetchedAt time.Time
}

// Keys returns the keys served under kid (usually one); nil when none is.
func (s *Set) Keys(kid string) []*rsa.PublicKey { return s.byKID[kid] }

// Serves reports whether key is served under kid. A nil Set serves nothing.
func (s *Set) Serves(kid string, key *rsa.PublicKey) bool {
	if s == nil {
		return false
	}
	for _, k := range s.byKID[kid] {
		if k.Equal(key) {
			return true
		}
	}
	return false
}

// KIDs returns the kids in the set, sorted.
func (s *Set) KIDs() []string { return slices.Sorted(maps.Keys(s.byKID)) }

// FetchedAt is when the set was fetched.
func (s *Set) FetchedAt() time.Time { return s.fetchedAt }

// Source fetches and keeps the key set by the policy of the package doc.
// It is safe for concurrent use.
type Source struct {
	cfg     Config
	log     *slog.Logger
	current atomic.Pointer[Set]

	mu          sync.Mutex
	lastAttempt time.Time  // start of the last fetch, for the rate limit
	lastErr     error      // outcome of the last finished fetch
	inflight    *fetchCall // the fetch running now, if any
}

// New returns a Source for cfg. It does not fetch anything yet.
func New(cfg Config) *Source {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, o := range []string{"success", "failure"} {
		cfg.Metrics.Refreshes.WithLabelValues(o)
	}
	return &Source{cfg: cfg, log: log.With("jwks_url", cfg.URL)}
}

// Current returns the current key set; nil until a fetch has succeeded.
func (s *Source) Current() *Set { return s.current.Load() }

// Lookup returns the keys served under kid and the set they are from. It
// fetches the key set when kid is unknown or no set was ever fetched (both
// rate-limited), and starts a background refresh when the set is stale
// (see RefreshIfStale). It fails with ErrUnknownKey, or with an error
// wrapping ErrUnavailable when there are no keys at all.
func (s *Source) Lookup(ctx context.Context, kid string, now time.Time) (*Set, []*rsa.PublicKey, error) {
	if set := s.current.Load(); set != nil {
		if keys := set.Keys(kid); keys != nil {
			s.RefreshIfStale(set, now)
			return set, keys, nil
		}
	}
	if c := s.startFetch(now); c != nil {
		select {
		case <-c.done:
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("%w: gave up waiting for the key set: %w", ErrUnavailable, ctx.Err())
		}
	}
	// Re-read even when rate-limited: another caller's fetch may have
	// brought kid in since we looked.
	set := s.current.Load()
	if set == nil {
		return nil, nil, s.unavailable()
	}
	if keys := set.Keys(kid); keys != nil {
		return set, keys, nil
	}
	return nil, nil, ErrUnknownKey
}

// RefreshIfStale starts a background refresh (subject to the rate limit)
// when set, the one the caller used, is older than RefreshInterval: traffic
// that never needs a lookup, such as tokens answered from a cache, must
// still notice rotated or withdrawn keys.
func (s *Source) RefreshIfStale(set *Set, now time.Time) {
	if now.Sub(set.fetchedAt) >= s.cfg.RefreshInterval {
		s.startFetch(now)
	}
}

// Ready reports whether keys are available, fetching them if none were
// fetched yet (subject to the rate limit).
func (s *Source) Ready(ctx context.Context) error {
	if s.current.Load() != nil {
		return nil
	}
	if c := s.startFetch(s.cfg.Now()); c != nil {
		select {
		case <-c.done:
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
		}
	}
	if s.current.Load() != nil {
		return nil
	}
	return s.unavailable()
}

// Wait returns once no fetch is in flight, or when ctx ends. Tests use it
// to see the outcome of a refresh that a lookup started in the background.
func (s *Source) Wait(ctx context.Context) error {
	s.mu.Lock()
	c := s.inflight
	s.mu.Unlock()
	if c == nil {
		return nil
	}
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Source) unavailable() error {
	s.mu.Lock()
	last := s.lastErr
	s.mu.Unlock()
	if last == nil {
		return ErrUnavailable
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, last)
}

// fetchCall is one fetch that several callers may wait for.
type fetchCall struct {
	done chan struct{}
}

// startFetch starts a fetch in the background and returns it, or returns
// the fetch already running. It returns nil when the rate limit forbids a
// new attempt. Callers wait on done if they need the result.
func (s *Source) startFetch(now time.Time) *fetchCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight != nil {
		return s.inflight
	}
	// A clock that went backwards (since <0) does not block fetches forever.
	if since := now.Sub(s.lastAttempt); !s.lastAttempt.IsZero() && since >= 0 && since < s.cfg.MinRefetchInterval {
		return nil
	}
	s.lastAttempt = now
	c := &fetchCall{done: make(chan struct{})}
	s.inflight = c
	go s.runFetch(c)
	return c
}

// runFetch fetches with its own deadline, not a request's: one impatient
// client must not spoil the fetch others wait for. Waiters are released
// last, once the keys, metrics and logs all tell the outcome.
func (s *Source) runFetch(c *fetchCall) {
	ctx, cancel := context.WithTimeout(context.Background(), FetchTimeout)
	defer cancel()
	set, err := s.fetch(ctx)
	old := s.current.Load()
	if err == nil {
		s.current.Store(set)
	}
	defer func() {
		s.mu.Lock()
		s.inflight = nil
		s.lastErr = err
		s.mu.Unlock()
		close(c.done)
	}()

	m := s.cfg.Metrics
	if err != nil {
		m.Refreshes.WithLabelValues("failure").Inc()
		if old != nil {
			s.log.Warn("jwks refresh failed; keeping the cached keys", "error", err, "cached_since", old.fetchedAt)
		} else {
			s.log.Warn("jwks fetch failed; no keys to validate tokens with", "error", err)
		}
		return
	}
	m.Refreshes.WithLabelValues("success").Inc()
	m.Keys.Set(float64(len(set.byKID)))
	m.LastSuccess.Set(float64(set.fetchedAt.UnixNano()) / 1e9)
	kids := set.KIDs()
	if old == nil || !slices.Equal(kids, old.KIDs()) {
		s.log.Info("jwks loaded", "kids", strings.Join(kids, ","))
	} else {
		s.log.Debug("jwks refreshed", "kids", strings.Join(kids, ","))
	}
}

func (s *Source) fetch(ctx context.Context) (*Set, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.cfg.URL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	res, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) && ue.Unwrap() != nil {
			err = ue.Unwrap()
		}
		return nil, fmt.Errorf("jwks unreachable: %w", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("jwks read: %w", err)
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return nil, fmt.Errorf("jwks answered %s", res.Status)
	}
	if len(body) > maxSize {
		return nil, fmt.Errorf("jwks larger than %d bytes", maxSize)
	}
	return parse(body, s.cfg.Now())
}

// parse keeps the keys that may verify RS256 tokens (see the package doc).
func parse(body []byte, fetchedAt time.Time) (*Set, error) {
	jwks, err := jwk.Parse(body, jwk.WithIgnoreParseError(true))
	if err != nil {
		return nil, fmt.Errorf("jwks parse: %w", err)
	}
	set := &Set{byKID: map[string][]*rsa.PublicKey{}, fetchedAt: fetchedAt}
	for i := range jwks.Len() {
		k, ok := jwks.Key(i)
		if !ok || k.KeyID() == "" || k.KeyType() != jwa.RSA {
			continue
		}
		if use := k.KeyUsage(); use != "" && use != string(jwk.ForSignature) {
			continue
		}
		if alg := k.Algorithm(); alg != nil && alg.String() != "" && alg.String() != jwa.RS256.String() {
			continue
		}
		if ops := k.KeyOps(); len(ops) > 0 && !slices.Contains(ops, jwk.KeyOpVerify) {
			continue
		}
		raw, err := jwk.PublicRawKeyOf(k)
		if err != nil {
			continue
		}
		pub, ok := raw.(*rsa.PublicKey)
		if !ok || pub.N == nil || pub.N.BitLen() < minRSABits || pub.E < 3 || pub.E%2 == 0 {
			continue
		}
		set.byKID[k.KeyID()] = append(set.byKID[k.KeyID()], pub)
	}
	if len(set.byKID) == 0 {
		return nil, errors.New("jwks has no usable RS256 signing key")
	}
	return set, nil
}
