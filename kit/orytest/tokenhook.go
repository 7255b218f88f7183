package orytest

import (
	"encoding/json"
	"time"
)

// TokenHook builds the body Hydra v2.3.0 posts to oauth2.token_hook
// (oauth2.TokenHookRequest: the oauth2.Session being issued and the token
// request).
type TokenHook struct {
	Subject       string
	ClientID      string
	GrantTypes    []string       // e.g. refresh_token
	GrantedScopes []string       // request.granted_scopes
	AccessClaims  map[string]any // session.extra: the access token's claims
	IDClaims      map[string]any // session.id_token.id_token_claims.ext
}

// JSON is the hook's request body.
func (t TokenHook) JSON() []byte {
	now := time.Now().UTC()
	extra := t.AccessClaims
	if extra == nil {
		extra = map[string]any{}
	}
	b, _ := json.Marshal(map[string]any{
		"session": map[string]any{
			"id_token": map[string]any{ // fosite openid.DefaultSession
				"id_token_claims": map[string]any{ // fosite jwt.IDTokenClaims
					"jti": "", "iss": "http://127.0.0.1:4444/", "sub": t.Subject, "aud": []string{t.ClientID},
					"nonce": "", "exp": "0001-01-01T00:00:00Z", "iat": now, "rat": now, "auth_time": now.Add(-time.Hour),
					"at_hash": "", "acr": "0", "amr": []string{"password"}, "c_hash": "", "ext": t.IDClaims,
				},
				"headers":    map[string]any{"extra": map[string]any{}},
				"expires_at": map[string]any{"access_token": now.Add(6 * time.Hour), "refresh_token": now.Add(168 * time.Hour)},
				"username":   "",
				"subject":    t.Subject,
			},
			"extra":                    extra,
			"kid":                      "",
			"client_id":                t.ClientID,
			"consent_challenge":        randomToken(),
			"exclude_not_before_claim": false,
			"allowed_top_level_claims": []string{"email", "email_verified", "name", "role", "session_id"},
			"mirror_top_level_claims":  false,
		},
		"request": map[string]any{
			"client_id": t.ClientID, "requested_scopes": nonNilStrings(t.GrantedScopes),
			"granted_scopes": nonNilStrings(t.GrantedScopes), "granted_audience": []string{},
			"grant_types": nonNilStrings(t.GrantTypes),
			"payload":     map[string][]string{"grant_type": t.GrantTypes},
		},
	})
	return b
}
