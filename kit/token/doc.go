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
//   - aud containing Config.Audience, when an audience is configured;
//   - sub present. role defaults to "student"; scp may be an array or a
//     space-separated string, and the scope claim is used when scp is absent.
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
// context (UserFrom). RequireRole and RequireVerifiedEmail go after it.
// Failures use the platform error shape of kit/server and RFC 6750
// challenges:
//
//	no Authorization header       401  WWW-Authenticate: Bearer realm="learnplatform"
//	not "Bearer <token>"          401  Bearer error="invalid_request", error_description="..."
//	token fails validation        401  Bearer error="invalid_token", error_description="..."
//	keys never fetched            503  Retry-After: <seconds>, code "unavailable"
//	role not allowed              403  Bearer error="insufficient_scope", error_description="..."
//	email not verified            403  code "email_not_verified"
//
// RFC 6750 suggests 400 for invalid_request; the platform answers 401 for
// every credential problem so clients have one rule: 401 means sign in again.
// Identity headers a client may send (X-User-Id and friends) are never read
// and are removed from the request before the next handler runs.
package token
