package token

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// maxJWKSSize bounds the JWKS document; Hydra's is a few KiB.
const maxJWKSSize = 1 << 20

// minRSABits refuses weak keys even if the JWKS serves them.
const minRSABits = 2048

// keySet is one successfully fetched JWKS, reduced to what validation needs:
// parsed RSA public keys by kid, so the hot path does no JWK work.
type keySet struct {
	byKID     map[string][]*rsa.PublicKey
	fetchedAt time.Time
}

// fetchCall is one JWKS fetch that several callers may wait for.
type fetchCall struct {
	done chan struct{}
}

// startFetch starts a JWKS fetch in the background and returns it, or
// returns the fetch already running. It returns nil when the rate limit
// forbids a new attempt. Callers wait on done if they need the result.
func (v *Validator) startFetch(now time.Time) *fetchCall {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.inflight != nil {
		return v.inflight
	}
	// A clock that went backwards (since <0) does not block fetches forever.
	if since := now.Sub(v.lastAttempt); !v.lastAttempt.IsZero() && since >= 0 && since < v.minRefetch {
		return nil
	}
	v.lastAttempt = now
	c := &fetchCall{done: make(chan struct{})}
	v.inflight = c
	go v.runFetch(c)
	return c
}

// runFetch fetches with its own deadline, not a request's: one impatient
// client must not spoil the fetch others wait for. Waiters are released
// last, once the keys, metrics and logs all tell the outcome.
func (v *Validator) runFetch(c *fetchCall) {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultFetchTimeout)
	defer cancel()
	ks, err := v.fetch(ctx)
	old := v.keys.Load()
	if err == nil {
		v.keys.Store(ks)
	}
	defer func() {
		v.mu.Lock()
		v.inflight = nil
		v.lastErr = err
		v.mu.Unlock()
		close(c.done)
	}()

	if err != nil {
		v.metrics.refreshes.WithLabelValues("failure").Inc()
		if old != nil {
			v.log.Warn("jwks refresh failed; keeping the cached keys", "error", err, "cached_since", old.fetchedAt)
		} else {
			v.log.Warn("jwks fetch failed; no keys to validate tokens with", "error", err)
		}
		return
	}
	v.metrics.refreshes.WithLabelValues("success").Inc()
	v.metrics.keys.Set(float64(len(ks.byKID)))
	v.metrics.lastSuccess.Set(float64(ks.fetchedAt.UnixNano()) / 1e9)
	kids := slices.Sorted(maps.Keys(ks.byKID))
	if old == nil || !slices.Equal(kids, slices.Sorted(maps.Keys(old.byKID))) {
		v.log.Info("jwks loaded", "kids", strings.Join(kids, ","))
	} else {
		v.log.Debug("jwks refreshed", "kids", strings.Join(kids, ","))
	}
}

func (v *Validator) fetch(ctx context.Context) (*keySet, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.jwksURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	res, err := v.client.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) && ue.Unwrap() != nil {
			err = ue.Unwrap()
		}
		return nil, fmt.Errorf("jwks unreachable: %w", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxJWKSSize+1))
	if err != nil {
		return nil, fmt.Errorf("jwks read: %w", err)
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return nil, fmt.Errorf("jwks answered %s", res.Status)
	}
	if len(body) > maxJWKSSize {
		return nil, fmt.Errorf("jwks larger than %d bytes", maxJWKSSize)
	}
	return parseKeySet(body, v.now())
}

// parseKeySet keeps the keys that may verify RS256 tokens: RSA, with a kid,
// use absent or "sig", alg absent or RS256, key_ops absent or including
// "verify", and at least minRSABits. Other keys are skipped, not errors, so
// Hydra can publish keys for other purposes; a set with no usable key is an
// error, so it never replaces a good cached one.
func parseKeySet(body []byte, fetchedAt time.Time) (*keySet, error) {
	set, err := jwk.Parse(body, jwk.WithIgnoreParseError(true))
	if err != nil {
		return nil, fmt.Errorf("jwks parse: %w", err)
	}
	ks := &keySet{byKID: map[string][]*rsa.PublicKey{}, fetchedAt: fetchedAt}
	for i := range set.Len() {
		k, ok := set.Key(i)
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
		ks.byKID[k.KeyID()] = append(ks.byKID[k.KeyID()], pub)
	}
	if len(ks.byKID) == 0 {
		return nil, errors.New("jwks has no usable RS256 signing key")
	}
	return ks, nil
}
