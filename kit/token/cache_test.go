package token

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/learnplatform/platform/kit/account"
	"github.com/learnplatform/platform/kit/token/jwks"
)

// countingVerifier counts the RSA checks a Validator does.
type countingVerifier struct {
	jws.Verifier
	n *atomic.Int64
}

func (c countingVerifier) Verify(payload, signature []byte, key any) error {
	c.n.Add(1)
	return c.Verifier.Verify(payload, signature, key)
}

// countVerifications makes f's validator count its signature checks.
func countVerifications(f *fixture) *atomic.Int64 {
	n := new(atomic.Int64)
	f.v.verifier = countingVerifier{Verifier: f.v.verifier, n: n}
	return n
}

func TestCacheSkipsTheSignatureCheck(t *testing.T) {
	a, _, _ := testKeys(t)
	tests := []struct {
		name      string
		size      int
		tokens    int // distinct tokens, each validated 5 times
		wantCheck int64
	}{
		{"default cache", 0, 1, 1},
		{"default cache, three tokens", 0, 3, 3},
		{"cache disabled", -1, 1, 5},
		{"cache of one, tokens alternating", 1, 2, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			f := newFixture(t, func(c *Config) { c.CacheSize = tt.size; c.Registerer = reg })
			checks := countVerifications(f)
			now := f.clock.Now()
			var toks []string
			for i := range tt.tokens {
				toks = append(toks, sign(t, jwa.RS256, a, kidA, with(claimsAt(now), "jti", "j"+strconv.Itoa(i))))
			}
			for range 5 {
				for i, tok := range toks {
					u, err := f.v.Validate(t.Context(), tok)
					if err != nil {
						t.Fatal(err)
					}
					if u.TokenID != "j"+strconv.Itoa(i) || u.ID != "7d3f0a52-identity" || u.Role != "instructor" || len(u.Scopes) != 3 {
						t.Fatalf("user %+v", u)
					}
				}
			}
			if got := checks.Load(); got != tt.wantCheck {
				t.Fatalf("%d signature checks, want %d", got, tt.wantCheck)
			}
			hits := testutil.ToFloat64(f.v.metrics.cache.WithLabelValues("hit"))
			misses := testutil.ToFloat64(f.v.metrics.cache.WithLabelValues("miss"))
			if tt.size < 0 {
				if hits+misses != 0 {
					t.Fatalf("disabled cache counted %v hits, %v misses", hits, misses)
				}
				return
			}
			if misses != float64(tt.wantCheck) || hits != float64(5*tt.tokens)-misses {
				t.Fatalf("%v hits, %v misses", hits, misses)
			}
			if got := testutil.ToFloat64(f.v.metrics.validations.WithLabelValues("valid")); got != float64(5*tt.tokens) {
				t.Fatalf("valid = %v", got)
			}
		})
	}
}

func TestCacheKeepsOnlySuccesses(t *testing.T) {
	a, _, other := testKeys(t)
	f := newFixture(t)
	checks := countVerifications(f)
	now := f.clock.Now()
	for _, tok := range []string{
		sign(t, jwa.RS256, a, kidA, with(claimsAt(now), "aud", "other-api")),
		sign(t, jwa.RS256, a, kidA, idTokenAt(now)),
		sign(t, jwa.RS256, other, kidA, claimsAt(now)),
	} {
		for range 3 {
			if _, err := f.v.Validate(t.Context(), tok); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("err = %v", err)
			}
		}
	}
	if got := checks.Load(); got != 9 {
		t.Fatalf("%d signature checks, want 9: refusals must not be cached", got)
	}
	if n := f.v.cache.len(); n != 0 {
		t.Fatalf("%d cached", n)
	}

	// A token refused as revoked is not cached either: once the revocation
	// is gone (it never is in practice) the signature is checked again.
	list := newFakeRevocations()
	list.tokens["jti-1"] = true
	f = newFixture(t, func(c *Config) { c.Revocations = list })
	checks = countVerifications(f)
	tok := sign(t, jwa.RS256, a, kidA, claimsAt(now))
	if _, err := f.v.Validate(t.Context(), tok); err == nil {
		t.Fatal("revoked token accepted")
	}
	list.revoke(func(l *fakeRevocations) { delete(l.tokens, "jti-1") })
	if _, err := f.v.Validate(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	if got := checks.Load(); got != 2 {
		t.Fatalf("%d signature checks, want 2", got)
	}
}

func TestCachedTokenExpires(t *testing.T) {
	a, _, _ := testKeys(t)
	tests := []struct {
		name    string
		advance time.Duration // after the token was cached; exp is in 1 h, leeway 30 s
		leeway  time.Duration
		want    string
	}{
		{"before exp", 59 * time.Minute, 0, ""},
		{"after exp, within leeway", time.Hour + 29*time.Second, 0, ""},
		{"exactly at exp plus leeway", time.Hour + 30*time.Second, 0, ""},
		{"past exp plus leeway", time.Hour + 31*time.Second, 0, "expired"},
		{"past exp without leeway", time.Hour + time.Second, -1, "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func(c *Config) {
				c.Leeway = tt.leeway
				c.RefreshInterval = 24 * time.Hour // keep the key set fresh
			})
			checks := countVerifications(f)
			tok := sign(t, jwa.RS256, a, kidA, claimsAt(f.clock.Now()))
			if _, err := f.v.Validate(t.Context(), tok); err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(tt.advance)
			for range 2 { // the second time it is no longer cached
				_, err := f.v.Validate(t.Context(), tok)
				var ie *InvalidError
				switch {
				case tt.want == "" && err != nil:
					t.Fatal(err)
				case tt.want != "" && (!errors.As(err, &ie) || ie.Reason != tt.want):
					t.Fatalf("err = %v, want %q", err, tt.want)
				}
			}
			wantChecks := int64(1)
			if tt.want != "" {
				wantChecks = 2 // forgotten when found expired, then checked afresh
			}
			if got := checks.Load(); got != wantChecks {
				t.Fatalf("%d signature checks, want %d", got, wantChecks)
			}
			if tt.want != "" && f.v.cache.len() != 0 {
				t.Fatal("expired token still cached")
			}
		})
	}
}

// TestCachedTokenNeedsItsKey: Hydra withdrawing a key ends the cached
// tokens it signed, as it ends uncached ones; a refresh that keeps the key
// does not cost a new check.
func TestCachedTokenNeedsItsKey(t *testing.T) {
	a, b, _ := testKeys(t)
	f := newFixture(t)
	checks := countVerifications(f)
	tok := sign(t, jwa.RS256, a, kidA, claimsAt(f.clock.Now()))
	if _, err := f.v.Validate(t.Context(), tok); err != nil {
		t.Fatal(err)
	}

	// A refresh serving the same key (and a new one): still a hit.
	f.srv.serve(t, map[string]*rsa.PrivateKey{kidA: a, kidB: b})
	f.clock.Advance(DefaultRefreshInterval)
	if _, err := f.v.Validate(t.Context(), tok); err != nil { // starts the refresh
		t.Fatal(err)
	}
	waitFetch(t, f.v)
	if f.v.keys.Current().Keys(kidB) == nil {
		t.Fatal("a hit on a stale key set did not refresh it")
	}
	if _, err := f.v.Validate(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	if got := checks.Load(); got != 1 {
		t.Fatalf("%d signature checks after a refresh that kept the key, want 1", got)
	}

	// The same kid, another key: the cached token must not survive.
	f.srv.serve(t, map[string]*rsa.PrivateKey{kidA: b})
	f.clock.Advance(DefaultRefreshInterval)
	_, _ = f.v.Validate(t.Context(), tok) // starts the refresh
	waitFetch(t, f.v)
	_, err := f.v.Validate(t.Context(), tok)
	var ie *InvalidError
	if !errors.As(err, &ie) || ie.Reason != "signature" {
		t.Fatalf("err = %v, want a signature refusal once the key changed", err)
	}

	// The kid gone altogether.
	f2 := newFixture(t)
	if _, err := f2.v.Validate(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	f2.srv.serve(t, map[string]*rsa.PrivateKey{kidB: b})
	f2.clock.Advance(DefaultRefreshInterval)
	_, _ = f2.v.Validate(t.Context(), tok)
	waitFetch(t, f2.v)
	if _, err := f2.v.Validate(t.Context(), tok); !errors.As(err, &ie) || ie.Reason != "unknown_key" {
		t.Fatalf("err = %v, want unknown_key once the kid is withdrawn", err)
	}
	if n := f2.v.cache.len(); n != 0 {
		t.Fatalf("%d still cached", n)
	}
}

func TestCacheUserCopies(t *testing.T) {
	f := newFixture(t)
	a, _, _ := testKeys(t)
	tok := sign(t, jwa.RS256, a, kidA, with(claimsAt(f.clock.Now()), "amr", []string{"pwd"}))
	for range 3 {
		u, err := f.v.Validate(t.Context(), tok)
		if err != nil {
			t.Fatal(err)
		}
		if u.Scopes[0] != "openid" || u.AMR[0] != "pwd" {
			t.Fatalf("a caller's change reached the cache: %+v", u)
		}
		u.Scopes[0], u.AMR[0] = "admin", "mfa"
	}
}

func TestCacheShardLimits(t *testing.T) {
	for _, size := range []int{1, 2, 3, 15, 16, 17, 100, DefaultCacheSize} {
		c := newVerifiedCache(size)
		total := 0
		for i := range c.shards {
			if c.shards[i].limit < 1 {
				t.Fatalf("size %d: shard %d holds nothing", size, i)
			}
			total += c.shards[i].limit
		}
		if total != size || len(c.shards) > cacheShards {
			t.Fatalf("size %d: %d shards holding %d", size, len(c.shards), total)
		}
	}
}

func TestCacheLRU(t *testing.T) {
	c := newShardedCache(3, 1)
	ks := &jwks.Set{}
	entry := func(sub string) cacheEntry {
		return cacheEntry{user: User{User: account.User{ID: sub}}, exp: 1e10, keys: ks}
	}
	now := time.Unix(0, 0)
	get := func(raw string) bool {
		_, res := c.get(raw, ks, now, 0)
		return res == cacheHit
	}
	c.add("a", entry("a"))
	c.add("b", entry("b"))
	c.add("c", entry("c"))
	get("a")               // a is now the most recently used; b the least
	c.add("d", entry("d")) // evicts b
	for raw, want := range map[string]bool{"a": true, "b": false, "c": true, "d": true} {
		if get(raw) != want {
			t.Fatalf("%s cached = %v, want %v", raw, !want, want)
		}
	}
	c.add("c", entry("c2")) // re-adding replaces, no growth
	if u, _ := c.get("c", ks, now, 0); u.ID != "c2" || c.len() != 3 {
		t.Fatalf("re-add: %+v, len %d", u, c.len())
	}
	c.remove("a")
	c.remove("zz")
	if get("a") || c.len() != 2 {
		t.Fatalf("remove: len %d", c.len())
	}
}

func TestCacheEvictionKeepsSizeBounded(t *testing.T) {
	a, _, _ := testKeys(t)
	const size = 5
	f := newFixture(t, func(c *Config) { c.CacheSize = size })
	checks := countVerifications(f)
	now := f.clock.Now()
	var toks []string
	for i := range 40 {
		tok := sign(t, jwa.RS256, a, kidA, with(claimsAt(now), "jti", fmt.Sprint(i)))
		toks = append(toks, tok)
		if _, err := f.v.Validate(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
		if n := f.v.cache.len(); n > size {
			t.Fatalf("%d cached after %d tokens, limit %d", n, i+1, size)
		}
	}
	if n := f.v.cache.len(); n < size/2 {
		t.Fatalf("only %d of %d cached", n, size)
	}
	// The last token is always still there.
	before := checks.Load()
	if _, err := f.v.Validate(t.Context(), toks[len(toks)-1]); err != nil || checks.Load() != before {
		t.Fatalf("the newest token was not cached: %v", err)
	}
}

// TestCacheConcurrency: many goroutines, a cache much smaller than the
// tokens in play, revocations and the clock changing meanwhile. Run with
// -race; every answer must be the one its token deserves.
func TestCacheConcurrency(t *testing.T) {
	a, _, _ := testKeys(t)
	list := newFakeRevocations()
	f := newFixture(t, func(c *Config) {
		c.CacheSize = 7
		c.Revocations = list
		c.RefreshInterval = 24 * time.Hour
	})
	now := f.clock.Now()
	const tokens = 24
	toks := make([]string, tokens)
	for i := range toks {
		toks[i] = sign(t, jwa.RS256, a, kidA, with(claimsAt(now), "sub", "user-"+strconv.Itoa(i), "jti", "j"+strconv.Itoa(i),
			"exp", now.Add(time.Duration(i+1)*time.Minute).Unix()))
	}
	// Tokens 0-3 are revoked from the start; clock moves during the run
	// but never past the earliest exp plus leeway.
	list.revoke(func(l *fakeRevocations) {
		for i := range 4 {
			l.tokens["j"+strconv.Itoa(i)] = true
		}
	})
	var wg sync.WaitGroup
	var failures atomic.Int64
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				k := (g*7 + i*5) % tokens
				u, err := f.v.Validate(t.Context(), toks[k])
				revoked := k < 4
				switch {
				case revoked && err == nil, !revoked && err != nil:
					failures.Add(1)
					t.Errorf("token %d: %+v, %v", k, u, err)
				case !revoked && (u.ID != "user-"+strconv.Itoa(k) || u.TokenID != "j"+strconv.Itoa(k)):
					failures.Add(1)
					t.Errorf("token %d answered as %+v", k, u)
				}
				if failures.Load() > 5 {
					return
				}
				if i%50 == 0 {
					f.clock.Advance(time.Second)
				}
			}
		}()
	}
	// A concurrent writer to the revocation list: revoking already
	// revoked tokens again changes no answer but races with the readers.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 100 {
			list.revoke(func(l *fakeRevocations) { l.tokens["j0"] = true; l.calls = l.calls[:0] })
		}
	}()
	wg.Wait()
	if n := f.v.cache.len(); n > 7 {
		t.Fatalf("%d cached, limit 7", n)
	}
}
