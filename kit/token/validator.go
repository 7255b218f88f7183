package token

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/learnplatform/platform/kit/token/internal/jose"
	"github.com/learnplatform/platform/kit/token/jwks"
)

// Defaults for the zero values of Config.
const (
	DefaultLeeway             = 30 * time.Second
	DefaultRefreshInterval    = 5 * time.Minute
	DefaultMinRefetchInterval = time.Second
	DefaultFetchTimeout       = jwks.FetchTimeout
)

// MaxTokenSize bounds the tokens Validate looks at; Hydra's are about 1 KiB.
const MaxTokenSize = 16 << 10

// Config says which tokens a Validator accepts and where their keys live.
type Config struct {
	// Issuer is Hydra's issuer URL exactly as it appears in iss, for example
	// "http://127.0.0.1:4444/". Required.
	Issuer string
	// JWKSURL is where the signing keys are fetched; default
	// <Issuer>/.well-known/jwks.json.
	JWKSURL string
	// Audience, when set, must be one of the token's aud values. When empty
	// aud is not checked, so every service should set it to the audience
	// Hydra puts in the tokens minted for it: otherwise a token another
	// client obtained for another resource server is accepted here too.
	Audience string
	// Leeway tolerates clock skew on exp, nbf and iat; 0 means
	// DefaultLeeway, a negative value means none.
	Leeway time.Duration
	// RefreshInterval is how old the cached key set may get before a
	// validation starts a background refresh; 0 means DefaultRefreshInterval.
	RefreshInterval time.Duration
	// MinRefetchInterval is the least time between two JWKS fetches of any
	// kind (unknown kid, stale set, retry after failure); 0 means
	// DefaultMinRefetchInterval.
	MinRefetchInterval time.Duration
	// HTTPClient fetches the JWKS; nil means a client with
	// DefaultFetchTimeout. Every fetch is also bounded by DefaultFetchTimeout.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now. Tests inject their own.
	Now func() time.Time
	// Logger receives key-set refreshes and failures; nil discards them.
	Logger *slog.Logger
	// Registerer, when set, receives the package's metrics.
	Registerer prometheus.Registerer
	// Revocations, when set, is asked about every token that passed the
	// other checks, cached or not; a revoked one is refused. nil means no
	// revocation checks.
	Revocations RevocationList
	// CacheSize is how many verified tokens are remembered so their
	// signature is checked once per process; 0 means DefaultCacheSize, a
	// negative value disables the cache.
	CacheSize int
}

// RevocationList says whether a verified token was revoked. It answers
// from memory: it runs on every request.
type RevocationList interface {
	Revoked(subject, sessionID, tokenID string, issuedAt time.Time) bool
}

// ErrInvalidToken matches (errors.Is) every *InvalidError.
var ErrInvalidToken = errors.New("invalid token")

// ErrKeysUnavailable means no key set has ever been fetched, so no token can
// be checked; RequireUser answers it with 503. Once one fetch succeeded the
// cached keys are used however old they get, and this error only occurs
// when the caller's context ends while it waits for a fetch.
var ErrKeysUnavailable = jwks.ErrUnavailable

// InvalidError is a token refused on its merits; the client should get a
// new token. RequireUser answers it with 401.
type InvalidError struct {
	// Reason is a short stable word, also the metrics outcome: malformed,
	// algorithm, unknown_key, signature, claims, issuer, token_type,
	// audience, expired, not_yet_valid, revoked.
	Reason string
	// Description is a short human sentence, safe for error_description.
	Description string

	err error
}

func (e *InvalidError) Error() string {
	if e.err != nil {
		return "invalid token: " + e.Description + ": " + e.err.Error()
	}
	return "invalid token: " + e.Description
}

// Is makes errors.Is(err, ErrInvalidToken) true.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalidToken }

// Unwrap returns the underlying cause, if any.
func (e *InvalidError) Unwrap() error { return e.err }

func invalid(reason, description string, cause error) *InvalidError {
	return &InvalidError{Reason: reason, Description: description, err: cause}
}

// Validator checks Hydra access tokens. It is safe for concurrent use; make
// one per process and share it.
type Validator struct {
	cfg      Config // as given to New, with the defaults filled in
	metrics  *metrics
	keys     *jwks.Source
	verifier jws.Verifier   // jwx's RS256 verifier, the only one used
	cache    *verifiedCache // nil when disabled
}

// New checks cfg and returns a Validator. It does not fetch keys; the first
// validation or Ready call does (see the package doc for the refresh policy).
func New(cfg Config) (*Validator, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("token: issuer is required")
	}
	if err := absoluteHTTPURL(cfg.Issuer); err != nil {
		return nil, fmt.Errorf("token: issuer: %w", err)
	}
	if cfg.JWKSURL == "" {
		cfg.JWKSURL = strings.TrimSuffix(cfg.Issuer, "/") + "/.well-known/jwks.json"
	}
	if err := absoluteHTTPURL(cfg.JWKSURL); err != nil {
		return nil, fmt.Errorf("token: jwks url: %w", err)
	}
	switch {
	case cfg.Leeway == 0:
		cfg.Leeway = DefaultLeeway
	case cfg.Leeway < 0:
		cfg.Leeway = 0
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = DefaultRefreshInterval
	}
	if cfg.MinRefetchInterval <= 0 {
		cfg.MinRefetchInterval = DefaultMinRefetchInterval
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: DefaultFetchTimeout}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = DefaultCacheSize
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("token: metrics: %w", err)
	}
	verifier, err := jws.NewVerifier(jwa.RS256)
	if err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	var cache *verifiedCache
	if cfg.CacheSize > 0 {
		cache = newVerifiedCache(cfg.CacheSize)
	}
	keys := jwks.New(jwks.Config{
		URL:                cfg.JWKSURL,
		RefreshInterval:    cfg.RefreshInterval,
		MinRefetchInterval: cfg.MinRefetchInterval,
		HTTPClient:         cfg.HTTPClient,
		Now:                cfg.Now,
		Logger:             cfg.Logger,
		Metrics:            m.jwks,
	})
	return &Validator{cfg: cfg, metrics: m, keys: keys, verifier: verifier, cache: cache}, nil
}

func absoluteHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	return nil
}

// Validate checks raw (the compact JWT, without "Bearer ") and returns the
// user it describes. The error is an *InvalidError (errors.Is
// ErrInvalidToken) for a bad token, or wraps ErrKeysUnavailable when no key
// set could ever be fetched. A token it accepted before is answered from
// the cache (see the package doc), still subject to expiry and
// revocation. It accepts machine tokens (User.Machine); RequireUser is
// what keeps them off learner routes.
func (v *Validator) Validate(ctx context.Context, raw string) (User, error) {
	u, err := v.validate(ctx, raw)
	var ie *InvalidError
	switch {
	case err == nil:
		v.metrics.validated.Inc()
	case errors.As(err, &ie):
		v.metrics.refused(ie.Reason)
		v.cfg.Logger.Debug("token refused", "reason", ie.Reason, "error", err)
	default:
		v.metrics.unavailable.Inc()
	}
	return u, err
}

func (v *Validator) validate(ctx context.Context, raw string) (User, error) {
	now := v.cfg.Now()
	if v.cache == nil {
		u, _, err := v.verify(ctx, raw, now)
		if err == nil {
			err = v.checkRevoked(u)
		}
		if err != nil {
			return User{}, err
		}
		return u, nil
	}
	ks := v.keys.Current()
	switch u, res := v.cache.get(raw, ks, now, v.cfg.Leeway); res {
	case cacheHit:
		v.metrics.cacheHits.Inc()
		v.keys.RefreshIfStale(ks, now)
		if err := v.checkRevoked(u); err != nil {
			v.cache.remove(raw)
			return User{}, err
		}
		return u, nil
	case cacheExpired:
		v.metrics.cacheHits.Inc()
		return User{}, invalid("expired", "token expired", nil)
	}
	v.metrics.cacheMisses.Inc()
	u, e, err := v.verify(ctx, raw, now)
	if err != nil {
		return User{}, err
	}
	if err := v.checkRevoked(u); err != nil {
		return User{}, err
	}
	v.cache.add(raw, e)
	return u, nil
}

// checkRevoked asks the revocation list, if any, about a verified token.
func (v *Validator) checkRevoked(u User) error {
	if v.cfg.Revocations != nil && v.cfg.Revocations.Revoked(u.ID, u.SessionID, u.TokenID, u.IssuedAt) {
		return invalid("revoked", "token was revoked (signed out, deactivated or role changed)", nil)
	}
	return nil
}

// verify does every check but revocation: the form, the header, the
// signature and the claims. It also returns what the cache keeps.
//
// jwx parses the token (jws.Parse) and its RS256 verifier checks the
// signature with the keys the JWKS serves under the token's kid. Before
// jwx sees the token, jose.CheckCompact makes sure it is one canonical
// compact JWS, and the header members the rules depend on are checked;
// jose.ParseClaims reads the claims.
func (v *Validator) verify(ctx context.Context, raw string, now time.Time) (User, cacheEntry, error) {
	if raw == "" {
		return User{}, cacheEntry{}, invalid("malformed", "token is empty", nil)
	}
	if len(raw) > MaxTokenSize {
		return User{}, cacheEntry{}, invalid("malformed", "token is too long", nil)
	}
	header, err := jose.CheckCompact(raw)
	if err != nil {
		return User{}, cacheEntry{}, invalid("malformed", "token is not a compact JWS", nil)
	}
	hdr, err := jose.ParseHeader(header)
	if err != nil {
		return User{}, cacheEntry{}, invalid("malformed", "token header is not a JSON object of the expected types", err)
	}
	if hdr.Alg != "RS256" {
		return User{}, cacheEntry{}, invalid("algorithm", "token must be signed with RS256", nil)
	}
	if hdr.Crit {
		return User{}, cacheEntry{}, invalid("malformed", "token uses critical header extensions", nil)
	}
	if hdr.B64 {
		return User{}, cacheEntry{}, invalid("malformed", "token uses the b64 header", nil)
	}
	if hdr.Kid == "" {
		return User{}, cacheEntry{}, invalid("unknown_key", "token names no signing key (kid)", nil)
	}
	msg, err := jws.Parse([]byte(raw), jws.WithCompact())
	if err != nil {
		return User{}, cacheEntry{}, invalid("malformed", "token header is not a JSON object of the expected types", err)
	}
	ks, keys, err := v.keys.Lookup(ctx, hdr.Kid, now)
	if errors.Is(err, jwks.ErrUnknownKey) {
		return User{}, cacheEntry{}, invalid("unknown_key", "token is signed by an unknown key", nil)
	}
	if err != nil {
		return User{}, cacheEntry{}, err
	}
	// The signed input is the token up to the last dot, as sent: for a
	// canonical compact JWS it is what jwx would encode again.
	signingInput := []byte(raw[:strings.LastIndexByte(raw, '.')])
	signature := msg.Signatures()[0].Signature()
	var key *rsa.PublicKey
	for _, k := range keys {
		if v.verifier.Verify(signingInput, signature, k) == nil {
			key = k
			break
		}
	}
	if key == nil {
		return User{}, cacheEntry{}, invalid("signature", "signature does not match the signing key", nil)
	}
	c, err := jose.ParseClaims(msg.Payload())
	if err != nil {
		return User{}, cacheEntry{}, invalid("claims", "token claims are not valid JSON of the expected types", err)
	}
	u, err := v.userFrom(c, now)
	if err != nil {
		return User{}, cacheEntry{}, err
	}
	return u, cacheEntry{user: u, exp: c.Exp.Sec, kid: hdr.Kid, key: key, keys: ks}, nil
}

// Ready reports whether signing keys are available, fetching them if none
// were fetched yet (subject to the rate limit). Use it as a /readyz check.
func (v *Validator) Ready(ctx context.Context) error { return v.keys.Ready(ctx) }

// RetryAfter is how long a client should wait after ErrKeysUnavailable
// before trying again: the fetch rate limit.
func (v *Validator) RetryAfter() time.Duration { return v.cfg.MinRefetchInterval }
