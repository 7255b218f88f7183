package oauth

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/learnplatform/platform/e2e/internal/e2etest"
)

// thirdPartyTokens registers a third-party client allowed scopes, signs
// email in through it, allows the consent page and returns the tokens.
func thirdPartyTokens(t *testing.T, email string, scopes ...string) *oauth2.Token {
	t.Helper()
	st := e2etest.Need(t)
	clientID := "partner-" + strings.ToLower(e2etest.State()[:8])
	secret := "partner-secret-0123456789abcdef"
	callback := "http://127.0.0.1:1/partner/callback"
	createClient(t, map[string]any{
		"client_id": clientID, "client_secret": secret, "client_name": "Partner",
		"grant_types": []string{"authorization_code"}, "response_types": []string{"code"},
		"scope": strings.Join(scopes, " "), "redirect_uris": []string{callback},
		"metadata": map[string]any{"first_party": false},
	})
	rp := e2etest.NewOIDC(t, clientID, secret, callback, scopes...)
	browser := e2etest.NewClient(t)
	at, page := browser.Follow(rp.Config.AuthCodeURL(e2etest.State()), callback)
	if page != nil && strings.Contains(at, "/login") {
		next := browser.SubmitLogin(page, email, e2etest.StrongPassword)
		base, _ := url.Parse(at)
		nu, _ := url.Parse(next)
		at, page = browser.Follow(base.ResolveReference(nu).String(), callback)
	}
	if page == nil || !strings.HasPrefix(at, st.URL("consent")+"consent") {
		t.Fatalf("expected the consent page, got %s", at)
	}
	body := string(page.Body)
	for _, s := range scopes {
		if !strings.Contains(body, `data-scope="`+s+`"`) {
			t.Fatalf("the consent page does not list %s:\n%s", s, body)
		}
	}
	res := browser.Do("POST", st.URL("consent")+"consent", url.Values{
		"consent_challenge": {html.UnescapeString(challengeRE.FindStringSubmatch(body)[1])},
		"decision":          {"allow"},
	}, "Accept", "text/html")
	at, _ = browser.Follow(res.Header.Get("Location"), callback)
	tok, err := rp.Config.Exchange(context.Background(), mustQuery(t, at).Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// userinfo reads Hydra's /userinfo with an access token.
func userinfo(t *testing.T, access string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest("GET", e2etest.Need(t).URL("hydra")+"userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+access)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("userinfo: %s", res.Status)
	}
	var m map[string]any
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// Issue 14: what a token reveals follows the scopes the user granted, and
// the role goes only to the platform's own (first-party) apps.
func TestClaimsFollowGrantedScopes(t *testing.T) {
	email := e2etest.UniqueEmail("scopes")
	e2etest.VerifiedUser(t, email, e2etest.StrongPassword, "Scoped Sam")
	every := []string{"email", "email_verified", "name", "role"}
	check := func(t *testing.T, tok *oauth2.Token, want map[string]bool) {
		t.Helper()
		idToken, _ := tok.Extra("id_token").(string)
		for where, claims := range map[string]map[string]any{
			"access token": e2etest.JWTClaims(t, tok.AccessToken),
			"ID token":     e2etest.JWTClaims(t, idToken),
			"userinfo":     userinfo(t, tok.AccessToken),
		} {
			for _, c := range every {
				if _, has := claims[c]; has != want[c] {
					t.Errorf("%s: %s present=%v, want %v (claims %v)", where, c, has, want[c], claims)
				}
			}
		}
	}
	t.Run("a partner granted openid only learns nothing but the account id", func(t *testing.T) {
		check(t, thirdPartyTokens(t, email, "openid"), map[string]bool{})
	})
	t.Run("a partner granted email and profile gets those, never the role", func(t *testing.T) {
		check(t, thirdPartyTokens(t, email, "openid", "email", "profile"),
			map[string]bool{"email": true, "email_verified": true, "name": true})
	})
	t.Run("the platform's own web app gets all four", func(t *testing.T) {
		check(t, e2etest.Tokens(t, email, e2etest.StrongPassword),
			map[string]bool{"email": true, "email_verified": true, "name": true, "role": true})
	})
}
