package token

import (
	"slices"
	"strings"
	"time"

	"github.com/learnplatform/platform/kit/account"
	"github.com/learnplatform/platform/kit/token/internal/jose"
)

// userFrom checks the claims of a verified token and returns the user
// they describe.
func (v *Validator) userFrom(c jose.Claims, now time.Time) (User, error) {
	if c.Iss != v.cfg.Issuer {
		return User{}, invalid("issuer", "token was issued by another issuer", nil)
	}
	// Hydra signs ID tokens with keys from the same JWKS, so the signature
	// cannot tell them apart: an ID token carries at_hash or nonce, and
	// never client_id, which Hydra puts in every access token.
	if c.AtHash || c.Nonce || c.ClientID == "" {
		return User{}, invalid("token_type", "this is not an access token (ID tokens are not accepted)", nil)
	}
	if !c.Exp.Set {
		return User{}, invalid("claims", "token has no expiry (exp)", nil)
	}
	nowSec := float64(now.UnixNano()) / 1e9
	leeway := v.cfg.Leeway.Seconds()
	if expired(c.Exp.Sec, now, v.cfg.Leeway) {
		return User{}, invalid("expired", "token expired", nil)
	}
	if c.Nbf.Set && nowSec+leeway < c.Nbf.Sec {
		return User{}, invalid("not_yet_valid", "token is not valid yet (nbf)", nil)
	}
	if c.Iat.Set && nowSec+leeway < c.Iat.Sec {
		return User{}, invalid("not_yet_valid", "token was issued in the future (iat)", nil)
	}
	if v.cfg.Audience != "" && !slices.Contains(c.Aud, v.cfg.Audience) {
		return User{}, invalid("audience", "token is not meant for this service (aud)", nil)
	}
	if c.Sub == "" {
		return User{}, invalid("claims", "token has no subject (sub)", nil)
	}
	u := User{
		User: account.User{
			ID:            c.Sub,
			Email:         c.Email,
			EmailVerified: c.EmailVerified,
			Role:          c.Role,
			Name:          c.Name,
		},
		ExpiresAt: c.Exp.Time(),
		ClientID:  c.ClientID,
		TokenID:   c.Jti,
		SessionID: c.SessionID,
		AMR:       c.Amr,
		ACR:       c.Acr,
		// Hydra's client_credentials tokens name the client as the
		// subject; a learner's token names the Kratos identity.
		Machine: c.Sub == c.ClientID,
	}
	if c.Iat.Set {
		u.IssuedAt = c.Iat.Time()
	}
	if u.Role == "" {
		u.Role = account.RoleStudent
	}
	switch {
	case len(c.Scp) == 1 && strings.ContainsAny(c.Scp[0], " \t"):
		u.Scopes = strings.Fields(c.Scp[0])
	case len(c.Scp) > 0:
		u.Scopes = c.Scp
	default:
		u.Scopes = strings.Fields(c.Scope)
	}
	return u, nil
}

// expired is the exp rule (exp passed by more than the leeway), shared by
// full validations and cache hits so both refuse at the same instant.
func expired(exp float64, now time.Time, leeway time.Duration) bool {
	return float64(now.UnixNano())/1e9 > exp+leeway.Seconds()
}
