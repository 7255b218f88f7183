package token

import (
	"context"
	"slices"
	"time"

	"github.com/learnplatform/platform/kit/account"
)

// User is the caller as the token describes them. Nothing in it comes from
// anything but a validated token.
type User struct {
	// User is the platform user: ID is the token's sub (the Kratos identity
	// id), Email, EmailVerified (absent means false) and Name the claims of
	// those names, Role the role claim (account.RoleStudent when the token
	// carries none).
	account.User
	// Scopes are the granted OAuth2 scopes (scp, or the space-separated
	// scope claim when scp is absent).
	Scopes []string
	// ExpiresAt is when the token expires (its exp, without leeway).
	ExpiresAt time.Time
	// IssuedAt is the token's iat; zero when the token has none.
	IssuedAt time.Time
	// ClientID is the OAuth2 client the token was issued to (client_id).
	// Every accepted token has one: its absence marks an ID token.
	ClientID string
	// TokenID is the token's jti, what a revocation of this one token names.
	TokenID string
	// SessionID is the Kratos session the token was minted from
	// (session_id, put there by the consent app); signing out revokes by
	// it. Empty for machine tokens and tokens minted without one.
	SessionID string
	// AMR lists the authentication methods (amr), for example "pwd" or
	// "totp"; it may be empty.
	AMR []string
	// ACR is the authentication context class (acr), for example "aal2".
	ACR string
	// Machine is true for a client acting for itself (sub == client_id, as
	// Hydra issues for client_credentials): ID is then the client, not a
	// learner. RequireUser refuses such tokens; RequireClient admits only
	// them.
	Machine bool
}

// HasScope reports whether the token granted scope.
func (u User) HasScope(scope string) bool {
	return slices.Contains(u.Scopes, scope)
}

type ctxKey struct{}

// WithUser returns ctx carrying u. RequireUser uses it; tests of handlers
// behind RequireUser can use it to stand in for a validated token.
func WithUser(ctx context.Context, u User) context.Context {
	return context.WithValue(ctx, ctxKey{}, &u)
}

// UserFrom returns the user RequireUser stored in ctx; ok is false when the
// request did not pass RequireUser.
func UserFrom(ctx context.Context) (u User, ok bool) {
	p, ok := ctx.Value(ctxKey{}).(*User)
	if !ok || p == nil {
		return User{}, false
	}
	return *p, true
}
