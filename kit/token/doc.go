// Package token validates the RS256 JWT access tokens that Hydra issues and
// turns them into a User. It is shared by the tutor (every API call carries
// a Bearer token) and identity (its roles admin API), and any later service
// that accepts tokens.
//
// It lives in kit rather than in either service because both need exactly the
// same checks, and a service module must never import another service module:
// kit is the one place both may depend on, so tutor and identity stay
// independent of each other and still cannot drift apart on what a valid
// token is.
//
// # What a valid token is
//
//   - compact JWS only: three strict, unpadded base64url segments, at most
//     MaxTokenSize bytes (no JSON serialization, no whitespace);
//   - protected header alg exactly RS256 (not "none", not HS256 keyed with
//     the RSA public key, not RS512 or PS256), a kid, and no crit or b64
//     member (this package understands no extensions);
//   - signed by a key from the issuer's JWKS, fetched from Config.JWKSURL and
//     nowhere else: jku, x5u, x5c and jwk headers in the token are ignored.
//     Only RSA keys of at least 2048 bits meant for RS256 signatures are
//     loaded (package jwks says which);
//   - iss equal to Config.Issuer, byte for byte;
//   - exp present and not passed, nbf and iat (when present) not in the
//     future, each with Config.Leeway of tolerance;
//   - an access token: client_id present, at_hash and nonce absent.
//     Hydra signs ID tokens with keys from the same JWKS, so a valid
//     signature does not tell them apart; an ID token (which carries
//     at_hash or nonce, and no client_id) is refused with reason
//     "token_type";
//   - aud containing Config.Audience, when an audience is configured;
//   - sub present. role defaults to "student"; scp may be an array or a
//     space-separated string, and the scope claim is used when scp is absent;
//   - not revoked, when Config.Revocations is set (see below).
//
// # Audience
//
// Every service must set Config.Audience to the audience Hydra puts in the
// tokens meant for it. New accepts an empty one, and then aud is not
// checked at all: a token some other client obtained for another resource
// server would be accepted here too.
//
// # Learners and machine tokens
//
// A token whose sub equals its client_id is a client acting for itself, as
// Hydra issues for the client_credentials grant; User.Machine is true and
// User.ID is the client id. Validate accepts it; RequireUser refuses it
// with 401 invalid_token, because everything behind RequireUser takes
// User.ID for a learner's Kratos identity. Integrator routes use
// RequireClient instead, which admits machine tokens only (a learner's
// token gets 403), and each route can ask for scopes: RequireClient(v,
// scopes...) or RequireScope(scopes...) after RequireUser or RequireClient
// answer 403 insufficient_scope unless every scope was granted.
//
// # Cache of verified tokens
//
// An RS256 check with Hydra's RSA-4096 keys costs 0.3-0.6 ms, and a
// learner sends the same token with every request for hours. So a
// Validator remembers each token that passed every check, keyed by the
// exact token string (the map compares the whole string; no hash stands
// in for it), and answers it again without the signature check. On every
// hit it still
//
//   - refuses the token once exp plus the leeway has passed (by
//     Config.Now, the same rule as a full check) and forgets it;
//   - checks that the key that verified it is still served under its kid:
//     if a refresh withdrew or replaced the key, the entry is dropped and
//     the token verified afresh, which then fails; a stale key set is
//     refreshed in the background, as on the uncached path;
//   - asks Config.Revocations.
//
// Only successful validations are cached, so garbage and forgeries cost a
// full check each time (and cannot push real tokens out). Config.CacheSize
// bounds the entries (default DefaultCacheSize, 10000; negative disables
// the cache); the least recently used token goes first. At Hydra's ~1.5 KiB
// per token that is about 20 MiB when full; only tokens Hydra signed can
// take the space. The cache is split into independently locked shards so
// concurrent requests rarely wait for each other. token_cache_lookups_total
// counts hits and misses.
//
// # Revocation
//
// Tokens are checked offline, so a sign-out, deactivation or role change
// cannot reach them through Hydra. Config.Revocations (a RevocationList,
// kept in memory by kit/revocation) is consulted after every otherwise
// successful validation, cached or not, with the token's sub, session_id,
// jti and iat; a revoked token is refused with reason "revoked". It runs
// on every request, so it must answer from memory. nil means no checks.
//
// # Parsing and verification
//
// jwx (github.com/lestrrat-go/jwx/v2), the library the design names,
// parses the token (jws.Parse) and the JWKS, and its RS256 verifier checks
// the signature with the key served under the token's kid. Around it,
// package internal/jose holds what jwx does not do the way the rules
// above need: the strict compact-form check (jwx's base64 decoding is
// lenient, so a token would not be exactly what was signed), the header
// members alg, kid, crit and b64 (jwx refuses an alg it does not know, and
// reads "crit":null as no crit), and the claims, decoded with encoding/json
// member by member (exact keys, the last occurrence of a key wins, every
// occurrence typed). jwx's jwt.Token is not used for the claims: it takes
// a date given as a string, even RFC 3339 text, and cuts dates to whole
// seconds by a process-wide setting. FuzzParseClaims checks the claims
// against jwx's own JWT decoder; FuzzValidate checks that nothing is
// accepted that crypto/rsa does not find signed by the served key.
//
// A hand-written scanner did this until issue 16: with the cache the parse
// is paid once per token, and the cache-miss path with jwx measured 1.11
// times the scanner's (RSA-4096, medians: 310 µs against 280 µs;
// BenchmarkCacheMiss at commit ee92505), under the 1.2 that keeps it.
//
// # JWKS refresh policy
//
// Package jwks fetches the keys lazily; its doc has the whole policy. In
// short: the first validation or Ready call fetches them, and until one
// fetch has succeeded validation fails with ErrKeysUnavailable (503 with
// Retry-After from RequireUser); a set older than Config.RefreshInterval
// (default 5 minutes) is refreshed in the background while the cached keys
// go on serving; an unknown kid triggers a fetch the request waits for;
// all fetches share one rate limit, Config.MinRefetchInterval (default 1
// second), so made-up kids cost Hydra at most one request a second; and a
// failed fetch never replaces the cached keys. Every time-based decision
// reads Config.Now, so tests drive the clock.
//
// # HTTP
//
// RequireUser is chi-compatible middleware that validates
// "Authorization: Bearer <token>" and stores the User in the request
// context (UserFrom); RequireClient does the same for integrator routes.
// RequireRole, RequireScope and RequireVerifiedEmail go after them.
// Failures use the platform error shape of kit/server and RFC 6750
// challenges:
//
//	no Authorization header        401  WWW-Authenticate: Bearer realm="learnplatform"
//	not "Bearer <token>"           401  Bearer error="invalid_request", error_description="..."
//	token fails validation         401  Bearer error="invalid_token", error_description="..."
//	machine token on RequireUser   401  Bearer error="invalid_token", code "invalid_token"
//	keys never fetched             503  Retry-After: <seconds>, code "unavailable"
//	role not allowed               403  Bearer error="insufficient_scope", code "forbidden"
//	scope missing, or a learner    403  Bearer error="insufficient_scope", ..., scope="...",
//	  on RequireClient                  code "insufficient_scope"
//	email not verified             403  code "email_not_verified"
//
// RFC 6750 suggests 400 for invalid_request; the platform answers 401 for
// every credential problem so clients have one rule: 401 means sign in again.
// Identity headers a client may send (X-User-Id and friends) are never read
// and are removed from the request before the next handler runs.
package token
