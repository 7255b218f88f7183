package consent

import (
	"slices"

	"github.com/learnplatform/platform/kit/account"
)

// The platform's claims. Hydra copies the access-token ones to the JWT's top
// level only when oauth2.allowed_top_level_claims (ory-config/hydra/hydra.yml)
// lists them.
const (
	ClaimEmail         = "email"
	ClaimEmailVerified = "email_verified"
	ClaimName          = "name"
	ClaimRole          = "role"
	// ClaimSessionID is the Kratos session the token was issued under; in
	// access tokens only, so a resource server can revoke per session and
	// the token hook can refuse refreshes once that session has ended.
	ClaimSessionID = "session_id"
)

// ScopeRole is the dedicated scope that releases the role claim to a
// third-party client; first-party clients get the role without it.
const ScopeRole = "role"

// Scope is an OAuth2 scope: the claims it releases and what the consent page
// says it reveals.
type Scope struct {
	Name string
	// Claims are released into the ID token, the access token and
	// /userinfo when the scope is granted.
	Claims []string
	// Reveals completes "<scope>: ..." on the consent page.
	Reveals string
}

// Scopes is the one place that ties claims to scopes: the consent page's
// text and the claims of every token (at consent and on refresh) are both
// read from it, so they cannot disagree. sub (the account id) is in every
// token; openid is listed so the page says so.
var Scopes = []Scope{
	{Name: "openid", Reveals: "your account id"},
	{Name: "email", Claims: []string{ClaimEmail, ClaimEmailVerified}, Reveals: "your email address and whether it is verified"},
	{Name: "profile", Claims: []string{ClaimName}, Reveals: "your name"},
	{Name: ScopeRole, Claims: []string{ClaimRole}, Reveals: "your role on the platform (student, instructor, admin)"},
	{Name: "offline_access", Reveals: "nothing more; it lets the app stay connected while you are away"},
}

// Reveals is what the consent page says a scope reveals. Scopes the platform
// does not know release no claims.
func Reveals(scope string) string {
	for _, s := range Scopes {
		if s.Name == scope {
			return s.Reveals
		}
	}
	return "none of your account details; it is a permission of the app's own"
}

// ReleasedClaims lists the claims a client may see, given the scopes granted
// to it: email and email_verified with scope email, name with profile, and
// role with scope role or for a first-party client (metadata.first_party).
func ReleasedClaims(granted []string, firstParty bool) []string {
	var out []string
	for _, s := range Scopes {
		if slices.Contains(granted, s.Name) || (firstParty && s.Name == ScopeRole) {
			out = append(out, s.Claims...)
		}
	}
	return out
}

// Identity is a Kratos identity as the tokens describe it: the platform
// user and whether the account may sign in (Kratos state active).
type Identity struct {
	account.User
	Active bool
}

// Claims are the identity's claims that the granted scopes release (see
// ReleasedClaims). They go into the ID token (and so /userinfo) and into the
// access token, where Hydra's allowed_top_level_claims puts them at the top
// level of the JWT.
func (u Identity) Claims(granted []string, firstParty bool) map[string]any {
	all := map[string]any{
		ClaimEmail:         u.Email,
		ClaimEmailVerified: u.EmailVerified,
		ClaimName:          u.Name,
		ClaimRole:          u.Role,
	}
	out := map[string]any{}
	for _, c := range ReleasedClaims(granted, firstParty) {
		out[c] = all[c]
	}
	return out
}

// AccessTokenClaims are Claims plus the Kratos session id (when known).
func (u Identity) AccessTokenClaims(granted []string, firstParty bool, kratosSessionID string) map[string]any {
	out := u.Claims(granted, firstParty)
	if kratosSessionID != "" {
		out[ClaimSessionID] = kratosSessionID
	}
	return out
}
