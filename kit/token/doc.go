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
//     Only RSA keys of at least 2048 bits whose JWK "use" is absent or "sig",
//     whose "key_ops" (if any) include "verify" and whose JWK "alg" is
//     absent or RS256 are loaded;
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
// jwx (github.com/lestrrat-go/jwx/v2) parses the JWKS and its keys, and its
// RS256 verifier checks the signature. The compact form, the header and the
// claims are read by a small scanner in this package instead of
// jws.Verify and encoding/json: generic header and reflection-based claim
// decoding cost more than a third of the RSA verification itself, and the
// scanner matches keys exactly (encoding/json would read "ROLE" as role).
// FuzzParseClaims checks the scanner against encoding/json.
//
// # JWKS refresh policy
//
// Keys are fetched lazily; there is no background goroutine to start or stop.
//
//   - The first validation (or the first Ready call) fetches the key set.
//     Until one fetch has succeeded, validation fails with
//     ErrKeysUnavailable, which RequireUser answers with 503 and Retry-After.
//   - A validation that finds the cached set older than
//     Config.RefreshInterval (default 5 minutes) starts a refresh in the
//     background and goes on with the cached keys, so no request waits for
//     Hydra once keys are known.
//   - A token whose kid is not in the cached set (Hydra rotated its keys)
//     triggers an immediate fetch, which the request waits for.
//   - All fetches share one rate limit: at most one attempt per
//     Config.MinRefetchInterval (default 1 second: after Hydra starts signing
//     with a new key, a replica accepts the new tokens within a second, yet
//     garbage kids cost Hydra at most one request a second), and concurrent callers
//     share one in-flight fetch. A flood of tokens with made-up kids therefore
//     costs Hydra at most one request per interval; within it such tokens are
//     simply rejected as signed by an unknown key.
//   - A failed fetch (Hydra down, non-2xx, bad JSON, no usable key) never
//     replaces the cached set: the last good keys stay in use, however old,
//     and a retry happens at the next validation after the rate limit.
//
// Every time-based decision (token times, staleness, the rate limit) reads
// Config.Now, so tests drive the clock.
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
