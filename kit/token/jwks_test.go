package token

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestUnknownKidRefetchesAfterRotation(t *testing.T) {
	f := newFixture(t)
	a, b, _ := testKeys(t)
	h := RequireUser(f.v)(echoUser)
	claims := func() map[string]any { return claimsAt(f.clock.Now()) }

	if w := do(h, "Bearer "+sign(t, jwa.RS256, a, kidA, claims())); w.Code != 200 {
		t.Fatalf("old key before rotation: %d", w.Code)
	}
	if n := f.srv.hits.Load(); n != 1 {
		t.Fatalf("hits %d after the first validation, want 1", n)
	}

	// Hydra rotates: it now publishes the new key next to the old one.
	f.srv.serve(t, map[string]*rsa.PrivateKey{kidA: a, kidB: b})

	// Within the rate limit of the first fetch the new kid is refused...
	if w := do(h, "Bearer "+sign(t, jwa.RS256, b, kidB, claims())); w.Code != 401 {
		t.Fatalf("new key within the rate limit: %d", w.Code)
	}
	if n := f.srv.hits.Load(); n != 1 {
		t.Fatalf("hits %d, want 1: refetch not rate-limited", n)
	}
	// ...and once it has passed, the unknown kid triggers one refetch.
	f.clock.Advance(DefaultMinRefetchInterval)
	if w := do(h, "Bearer "+sign(t, jwa.RS256, b, kidB, claims())); w.Code != 200 {
		t.Fatalf("new key after the refetch: %d %s", w.Code, w.Body)
	}
	if w := do(h, "Bearer "+sign(t, jwa.RS256, a, kidA, claims())); w.Code != 200 {
		t.Fatalf("old key after rotation: %d", w.Code)
	}
	if n := f.srv.hits.Load(); n != 2 {
		t.Fatalf("hits %d, want 2", n)
	}
}

func TestUnknownKidRefetchIsRateLimited(t *testing.T) {
	f := newFixture(t)
	a, _, other := testKeys(t)
	if err := f.v.Ready(t.Context()); err != nil {
		t.Fatal(err)
	}
	garbage := make([]string, 200)
	for i := range garbage {
		garbage[i] = sign(t, jwa.RS256, other, fmt.Sprintf("garbage-%d", i), claimsAt(f.clock.Now()))
	}
	flood := func() {
		var wg sync.WaitGroup
		for _, tok := range garbage {
			wg.Go(func() {
				if _, err := f.v.Validate(context.Background(), tok); !errors.Is(err, ErrInvalidToken) {
					t.Errorf("garbage kid: %v", err)
				}
			})
		}
		wg.Wait()
	}
	flood()
	if n := f.srv.hits.Load(); n != 1 {
		t.Fatalf("200 garbage kids right after a fetch cost %d fetches, want 1 in all", n)
	}
	// After the interval, a concurrent flood shares one refetch.
	f.clock.Advance(DefaultMinRefetchInterval)
	flood()
	if n := f.srv.hits.Load(); n != 2 {
		t.Fatalf("hits %d, want 2", n)
	}
	// Good tokens were never affected.
	if _, err := f.v.Validate(t.Context(), sign(t, jwa.RS256, a, kidA, claimsAt(f.clock.Now()))); err != nil {
		t.Fatal(err)
	}
}

func TestCachedKeysSurviveJWKSOutage(t *testing.T) {
	f := newFixture(t)
	a, _, _ := testKeys(t)
	h := RequireUser(f.v)(echoUser)
	ok := func(when string) {
		t.Helper()
		if w := do(h, "Bearer "+sign(t, jwa.RS256, a, kidA, claimsAt(f.clock.Now()))); w.Code != 200 {
			t.Fatalf("%s: status %d %s", when, w.Code, w.Body)
		}
	}
	ok("before the outage")
	f.srv.setDown(true)

	// The set goes stale: the next validation starts a background refresh,
	// which fails; validation carries on with the cached keys.
	f.clock.Advance(DefaultRefreshInterval + time.Second)
	ok("stale, refresh starting")
	waitFetch(t, f.v)
	// (Server hits would count the transport's own retry on a dead
	// connection; the metric counts fetches.)
	if n := testutil.ToFloat64(f.v.metrics.jwks.Refreshes.WithLabelValues("failure")); n != 1 {
		t.Fatalf("failed refreshes %v, want 1", n)
	}
	ok("after the failed refresh")
	f.clock.Advance(time.Hour)
	ok("an hour into the outage")
	waitFetch(t, f.v)
	if err := f.v.Ready(t.Context()); err != nil {
		t.Fatalf("Ready with cached keys: %v", err)
	}

	// A JWKS that answers but holds nothing usable does not wipe the cache.
	f.srv.setDown(false)
	f.srv.serveRaw([]byte(`{"keys":[{"kty":"oct","kid":"x","k":"c2VjcmV0"}]}`))
	f.clock.Advance(time.Minute)
	ok("empty set served")
	waitFetch(t, f.v)
	ok("after the empty set")
	f.srv.serveRaw([]byte(`<html>oops</html>`))
	f.clock.Advance(time.Minute)
	ok("garbage served")
	waitFetch(t, f.v)
	ok("after the garbage")
}

func TestStaleKeysAreRefreshedInBackground(t *testing.T) {
	f := newFixture(t)
	a, b, _ := testKeys(t)
	if _, err := f.v.Validate(t.Context(), sign(t, jwa.RS256, a, kidA, claimsAt(f.clock.Now()))); err != nil {
		t.Fatal(err)
	}
	// Hydra retires key A.
	f.srv.serve(t, map[string]*rsa.PrivateKey{kidB: b})
	f.clock.Advance(DefaultRefreshInterval - time.Second)
	if _, err := f.v.Validate(t.Context(), sign(t, jwa.RS256, a, kidA, claimsAt(f.clock.Now()))); err != nil {
		t.Fatalf("fresh cache: %v", err)
	}
	if n := f.srv.hits.Load(); n != 1 {
		t.Fatalf("refreshed before the interval: hits %d", n)
	}
	f.clock.Advance(time.Second)
	// This one is checked against the cached set and starts the refresh.
	if _, err := f.v.Validate(t.Context(), sign(t, jwa.RS256, a, kidA, claimsAt(f.clock.Now()))); err != nil {
		t.Fatalf("stale cache: %v", err)
	}
	waitFetch(t, f.v)
	if n := f.srv.hits.Load(); n != 2 {
		t.Fatalf("hits %d, want 2", n)
	}
	_, err := f.v.Validate(t.Context(), sign(t, jwa.RS256, a, kidA, claimsAt(f.clock.Now())))
	var ie *InvalidError
	if !errors.As(err, &ie) || ie.Reason != "unknown_key" {
		t.Fatalf("retired key: %v", err)
	}
	if _, err := f.v.Validate(t.Context(), sign(t, jwa.RS256, b, kidB, claimsAt(f.clock.Now()))); err != nil {
		t.Fatalf("new key: %v", err)
	}
}

func TestJWKSDownAtStartAnswers503UntilItComesBack(t *testing.T) {
	f := newFixture(t)
	a, _, _ := testKeys(t)
	f.srv.setDown(true)
	h := RequireUser(f.v)(echoUser)
	tok := func() string { return "Bearer " + sign(t, jwa.RS256, a, kidA, claimsAt(f.clock.Now())) }

	w := do(h, tok())
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503; body %s", w.Code, w.Body)
	}
	if got := w.Header().Get("Retry-After"); got != "1" {
		t.Fatalf("Retry-After %q", got)
	}
	if code, _ := errorBody(t, w); code != "unavailable" {
		t.Fatalf("code %q", code)
	}
	err := f.v.Ready(t.Context())
	if !errors.Is(err, ErrKeysUnavailable) || errors.Is(err, ErrInvalidToken) {
		t.Fatalf("Ready: %v", err)
	}
	if !strings.Contains(err.Error(), "jwks unreachable") {
		t.Fatalf("Ready does not say why: %v", err)
	}
	if _, err := f.v.Validate(t.Context(), "not-even-a-token"); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("a malformed token is 401 even without keys: %v", err)
	}

	f.srv.setDown(false)
	// Still within the rate limit: no new fetch, still 503.
	if w := do(h, tok()); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("within the rate limit: status %d", w.Code)
	}
	if n := f.srv.hits.Load(); n != 1 {
		t.Fatalf("hits %d, want 1", n)
	}
	f.clock.Advance(DefaultMinRefetchInterval)
	if w := do(h, tok()); w.Code != http.StatusOK {
		t.Fatalf("after Hydra came back: status %d %s", w.Code, w.Body)
	}
	if err := f.v.Ready(t.Context()); err != nil {
		t.Fatalf("Ready: %v", err)
	}
}

func TestJWKSErrorStatusIsUnavailable(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.JWKSURL = strings.TrimSuffix(c.JWKSURL, "jwks.json") + "missing.json" })
	err := f.v.Ready(t.Context())
	if !errors.Is(err, ErrKeysUnavailable) || !strings.Contains(err.Error(), "404") {
		t.Fatalf("Ready: %v", err)
	}
}

func TestWaitingForSlowJWKSRespectsTheRequestContext(t *testing.T) {
	f := newFixture(t)
	a, _, _ := testKeys(t)
	gate := make(chan struct{})
	f.srv.mu.Lock()
	f.srv.gate = gate
	f.srv.mu.Unlock()
	defer close(gate)

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := f.v.Validate(ctx, sign(t, jwa.RS256, a, kidA, claimsAt(f.clock.Now())))
	if !errors.Is(err, ErrKeysUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
}

func TestJWKSKeyFiltering(t *testing.T) {
	a, _, other := testKeys(t)
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	pub := func(k *rsa.PrivateKey, kid string, kv ...any) jwk.Key {
		j, err := jwk.FromRaw(&k.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		_ = j.Set(jwk.KeyIDKey, kid)
		for i := 0; i+1 < len(kv); i += 2 {
			if err := j.Set(kv[i].(string), kv[i+1]); err != nil {
				t.Fatal(err)
			}
		}
		return j
	}
	secret := []byte("0123456789abcdef0123456789abcdef")
	oct, _ := jwk.FromRaw(secret)
	_ = oct.Set(jwk.KeyIDKey, "hmac")
	set := jwk.NewSet()
	for _, k := range []jwk.Key{
		pub(a, kidA, jwk.AlgorithmKey, jwa.RS256, jwk.KeyUsageKey, "sig"),
		pub(other, "labelled-rs512", jwk.AlgorithmKey, jwa.RS512),
		pub(other, "for-encryption", jwk.KeyUsageKey, "enc"),
		pub(other, "no-verify-op", jwk.KeyOpsKey, jwk.KeyOperationList{jwk.KeyOpEncrypt}),
		pub(weak, "weak"),
		oct,
	} {
		if err := set.AddKey(k); err != nil {
			t.Fatal(err)
		}
	}
	body, _ := json.Marshal(set)
	// A key of a type jwx cannot parse does not spoil the others.
	body = []byte(strings.Replace(string(body), `"keys":[`, `"keys":[{"kty":"XYZ","kid":"alien"},`, 1))

	f := newFixture(t)
	f.srv.serveRaw(body)
	now := f.clock.Now()
	tests := []struct {
		name   string
		tok    string
		reason string
	}{
		{"RS256 with a key whose JWK alg is RS512", sign(t, jwa.RS256, other, "labelled-rs512", claimsAt(now)), "unknown_key"},
		{"RS256 with an encryption key", sign(t, jwa.RS256, other, "for-encryption", claimsAt(now)), "unknown_key"},
		{"RS256 with a key not for verify", sign(t, jwa.RS256, other, "no-verify-op", claimsAt(now)), "unknown_key"},
		{"RS256 with a 1024-bit key", sign(t, jwa.RS256, weak, "weak", claimsAt(now)), "unknown_key"},
		{"HS256 with the published oct key", sign(t, jwa.HS256, secret, "hmac", claimsAt(now)), "algorithm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.v.Validate(t.Context(), tt.tok)
			var ie *InvalidError
			if !errors.As(err, &ie) || ie.Reason != tt.reason {
				t.Fatalf("err = %v, want reason %s", err, tt.reason)
			}
		})
	}
	if _, err := f.v.Validate(t.Context(), sign(t, jwa.RS256, a, kidA, claimsAt(now))); err != nil {
		t.Fatalf("the good key: %v", err)
	}
	if kids := f.v.keys.Current().KIDs(); len(kids) != 1 {
		t.Fatalf("kept kids %v, want only %s", kids, kidA)
	}
}

func TestNewConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
		jwks    string
	}{
		{"issuer required", Config{}, "issuer is required", ""},
		{"issuer must be a URL", Config{Issuer: "hydra"}, "not an absolute http(s) URL", ""},
		{"bad jwks url", Config{Issuer: testIssuer, JWKSURL: "ftp://x/"}, "jwks url", ""},
		{"default jwks with slash", Config{Issuer: "http://127.0.0.1:4444/"}, "", "http://127.0.0.1:4444/.well-known/jwks.json"},
		{"default jwks without slash", Config{Issuer: "https://auth.example.org"}, "", "https://auth.example.org/.well-known/jwks.json"},
		{"explicit jwks", Config{Issuer: testIssuer, JWKSURL: "http://hydra:4444/keys"}, "", "http://hydra:4444/keys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := New(tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if v.cfg.JWKSURL != tt.jwks || v.cfg.Leeway != DefaultLeeway || v.cfg.RefreshInterval != DefaultRefreshInterval || v.cfg.MinRefetchInterval != DefaultMinRefetchInterval {
				t.Fatalf("defaults: %+v", v)
			}
		})
	}
	v, _ := New(Config{Issuer: testIssuer, Leeway: -1})
	if v.cfg.Leeway != 0 {
		t.Fatalf("negative leeway = %v, want none", v.cfg.Leeway)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := newFixture(t, func(c *Config) {
		c.Registerer = reg
		c.Logger = slog.New(slog.DiscardHandler)
	})
	a, _, _ := testKeys(t)
	good := sign(t, jwa.RS256, a, kidA, claimsAt(f.clock.Now()))
	expired := sign(t, jwa.RS256, a, kidA, with(claimsAt(f.clock.Now()), "exp", f.clock.Now().Add(-time.Hour).Unix()))
	for _, tok := range []string{good, good, expired, "junk"} {
		_, _ = f.v.Validate(t.Context(), tok)
	}
	for outcome, want := range map[string]float64{"valid": 2, "expired": 1, "malformed": 1, "signature": 0} {
		if got := testutil.ToFloat64(f.v.metrics.validations.WithLabelValues(outcome)); got != want {
			t.Errorf("validations{outcome=%q} = %v, want %v", outcome, got, want)
		}
	}
	if got := testutil.ToFloat64(f.v.metrics.jwks.Refreshes.WithLabelValues("success")); got != 1 {
		t.Errorf("refreshes{success} = %v", got)
	}
	if got := testutil.ToFloat64(f.v.metrics.jwks.Keys); got != 1 {
		t.Errorf("keys = %v", got)
	}
	// A second validator on the same registry shares the collectors.
	v2, err := New(Config{Issuer: testIssuer, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = v2.Validate(t.Context(), "junk")
	if got := testutil.ToFloat64(f.v.metrics.validations.WithLabelValues("malformed")); got != 2 {
		t.Errorf("shared malformed = %v", got)
	}
	n, err := testutil.GatherAndCount(reg, "token_validations_total", "token_jwks_refreshes_total")
	if err != nil || n == 0 {
		t.Fatalf("gather: %d %v", n, err)
	}
}
