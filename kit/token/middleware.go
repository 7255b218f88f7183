package token

import (
	"errors"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/learnplatform/platform/kit/server"
)

// Realm is the realm of the Bearer challenge.
const Realm = "learnplatform"

// RequireUser is middleware that admits only requests carrying a valid
// "Authorization: Bearer <token>" issued to a learner (or other signed-in
// person) and stores the token's User in the request context (see
// UserFrom). A client's own token (User.Machine) is refused: it names the
// client, not a person, so nothing behind RequireUser may take its sub for
// a learner. It never answers 500: a bad or missing token is 401, keys
// that were never fetched 503.
func RequireUser(v *Validator) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, ok := authenticate(v, w, r)
			if !ok {
				return
			}
			if u.Machine {
				const desc = "a client's own token cannot act for a learner"
				challenge(w, "invalid_token", desc)
				server.WriteError(w, http.StatusUnauthorized, "invalid_token", desc+"; send a token issued to a signed-in learner")
				return
			}
			next.ServeHTTP(w, r.WithContext(WithUser(r.Context(), u)))
		})
	}
}

// RequireClient is middleware for integrator routes: it admits only
// requests carrying a valid client token (User.Machine, as Hydra issues for
// client_credentials) that was granted every one of scopes, and stores its
// User in the request context like RequireUser. A learner's token, or a
// client token lacking a scope, gets 403 insufficient_scope; a bad or
// missing token 401, keys that were never fetched 503.
func RequireClient(v *Validator, scopes ...string) func(http.Handler) http.Handler {
	need := requiredScopes(scopes)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, ok := authenticate(v, w, r)
			if !ok {
				return
			}
			if !u.Machine {
				insufficientScope(w, need, "this route is for integrator clients with their own client_credentials token; a learner's token cannot use it")
				return
			}
			if !need.grantedTo(w, u) {
				return
			}
			next.ServeHTTP(w, r.WithContext(WithUser(r.Context(), u)))
		})
	}
}

// RequireScope is middleware, after RequireUser or RequireClient, that
// admits only tokens granted every one of scopes; others get 403
// insufficient_scope.
func RequireScope(scopes ...string) func(http.Handler) http.Handler {
	need := requiredScopes(scopes)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, ok := UserFrom(r.Context())
			if !ok {
				notSignedIn(w)
				return
			}
			if need.grantedTo(w, u) {
				next.ServeHTTP(w, r)
			}
		})
	}
}

// scopeRule is a list of scopes a route needs, all of them.
type scopeRule []string

func requiredScopes(scopes []string) scopeRule { return slices.Clone(scopes) }

// grantedTo reports whether u holds every scope, answering 403 when not.
func (need scopeRule) grantedTo(w http.ResponseWriter, u User) bool {
	var lacking []string
	for _, s := range need {
		if !u.HasScope(s) {
			lacking = append(lacking, s)
		}
	}
	if len(lacking) == 0 {
		return true
	}
	insufficientScope(w, need, "this token lacks the scope "+strings.Join(lacking, " and ")+"; ask for it when requesting the token")
	return false
}

// insufficientScope answers 403 with an RFC 6750 insufficient_scope
// challenge naming the scopes the route needs.
func insufficientScope(w http.ResponseWriter, need scopeRule, message string) {
	h := `Bearer error="insufficient_scope", error_description="` + headerSafe(message) + `"`
	if len(need) > 0 {
		h += `, scope="` + headerSafe(strings.Join(need, " ")) + `"`
	}
	w.Header().Set("WWW-Authenticate", h)
	server.WriteError(w, http.StatusForbidden, "insufficient_scope", message)
}

// authenticate validates the request's Bearer token, answering the request
// itself (401 or 503) when it cannot be admitted. Identity headers are
// dropped either way.
func authenticate(v *Validator, w http.ResponseWriter, r *http.Request) (User, bool) {
	dropIdentityHeaders(r.Header)
	raw, problem := bearer(r.Header)
	switch problem {
	case "":
	case missing:
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+Realm+`"`)
		server.WriteError(w, http.StatusUnauthorized, "unauthenticated", "sign in first: send Authorization: Bearer <access token>")
		return User{}, false
	default:
		challenge(w, "invalid_request", problem)
		server.WriteError(w, http.StatusUnauthorized, "invalid_request", problem)
		return User{}, false
	}
	u, err := v.Validate(r.Context(), raw)
	if err != nil {
		var ie *InvalidError
		if errors.As(err, &ie) {
			challenge(w, "invalid_token", ie.Description)
			server.WriteError(w, http.StatusUnauthorized, "invalid_token", ie.Description+"; sign in again")
			return User{}, false
		}
		secs := int(math.Ceil(v.RetryAfter().Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
		server.WriteError(w, http.StatusServiceUnavailable, "unavailable", "cannot check sign-in tokens right now: the signing keys are unavailable; try again shortly")
		return User{}, false
	}
	return u, true
}

// RequireRole is middleware, after RequireUser, that admits only users
// whose role is one of roles; others get 403.
func RequireRole(roles ...string) func(http.Handler) http.Handler {
	roles = slices.Clone(roles)
	desc := "requires role " + strings.Join(roles, " or ")
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, ok := UserFrom(r.Context())
			if !ok {
				notSignedIn(w)
				return
			}
			if !slices.Contains(roles, u.Role) {
				challenge(w, "insufficient_scope", desc)
				server.WriteError(w, http.StatusForbidden, "forbidden", "this "+desc+"; your role is "+u.Role)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// RequireVerifiedEmail is middleware, after RequireUser, that admits only
// users whose email address is verified; others get 403
// "email_not_verified".
func RequireVerifiedEmail(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := UserFrom(r.Context())
		if !ok {
			notSignedIn(w)
			return
		}
		if !u.EmailVerified {
			server.WriteError(w, http.StatusForbidden, "email_not_verified",
				"verify your email address first: open the link in the verification email we sent you, or ask for a new one in your account settings, then sign in again")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// notSignedIn answers a request that reached a role, scope or email check
// without RequireUser (or RequireClient) before it: fail closed, as if no
// token was sent.
func notSignedIn(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="`+Realm+`"`)
	server.WriteError(w, http.StatusUnauthorized, "unauthenticated", "sign in first: send Authorization: Bearer <access token>")
}

const missing = "missing"

// bearer returns the token of "Authorization: Bearer <token>", or why the
// header is unusable: missing when there is none, else a description.
func bearer(h http.Header) (string, string) {
	vals := h["Authorization"]
	switch {
	case len(vals) == 0 || len(vals) == 1 && strings.TrimSpace(vals[0]) == "":
		return "", missing
	case len(vals) > 1:
		return "", "send one Authorization header"
	}
	scheme, rest, _ := strings.Cut(strings.TrimSpace(vals[0]), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", "Authorization must use the Bearer scheme"
	}
	tok := strings.TrimLeft(rest, " ")
	if tok == "" {
		return "", "Bearer token is empty"
	}
	// Two IndexByte scans (vectorised) rather than ContainsAny, which
	// walks a ~1.5 KiB token byte by byte: on a cached token this check
	// cost more than the validation.
	if strings.IndexByte(tok, ' ') >= 0 || strings.IndexByte(tok, '\t') >= 0 {
		return "", "Bearer token must not contain spaces"
	}
	return tok, ""
}

// challenge sets an RFC 6750 error challenge. Descriptions are this
// package's own sentences; quoting is stripped anyway.
func challenge(w http.ResponseWriter, code, description string) {
	w.Header().Set("WWW-Authenticate", `Bearer error="`+code+`", error_description="`+headerSafe(description)+`"`)
}

// headerSafe keeps the characters RFC 6750 allows in error_description
// (printable ASCII but '"' and '\').
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return -1
		}
		return r
	}, s)
}

// dropIdentityHeaders removes headers that claim who the caller is: only
// the token says that, and no handler behind RequireUser should even see a
// client's X-User-Id.
func dropIdentityHeaders(h http.Header) {
	for k := range h {
		if isIdentityHeader(k) {
			delete(h, k)
		}
	}
}

func isIdentityHeader(canonical string) bool {
	switch canonical {
	case "X-User", "X-Userid", "X-Remote-User", "Remote-User", "X-Forwarded-User",
		"X-Forwarded-Email", "X-Forwarded-Preferred-Username", "X-Role", "X-Roles", "X-Email":
		return true
	}
	return strings.HasPrefix(canonical, "X-User-") || strings.HasPrefix(canonical, "X-Auth-Request-")
}
