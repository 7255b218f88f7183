// Package oauth tests the OAuth2 / OpenID Connect side against the real
// stack: Hydra with the consent app, driven by golang.org/x/oauth2 and
// github.com/coreos/go-oidc/v3 as any relying party would.
package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/learnplatform/platform/e2e/internal/e2etest"
)

func TestMain(m *testing.M) { e2etest.Main(m) }

// exchange finishes an authorization at the callback URL.
func exchange(t *testing.T, rp *e2etest.OIDC, callback, state, verifier string) *oauth2.Token {
	t.Helper()
	u, err := url.Parse(callback)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Get("error") != "" {
		t.Fatalf("authorization failed: %s: %s", q.Get("error"), q.Get("error_description"))
	}
	if q.Get("state") != state {
		t.Fatalf("state %q, want %q", q.Get("state"), state)
	}
	tok, err := rp.Config.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return tok
}

func TestAuthorizationCodeWithPKCE(t *testing.T) {
	st := e2etest.Need(t)
	email := e2etest.UniqueEmail("oauth")
	id := e2etest.VerifiedUser(t, email, e2etest.StrongPassword, "Ada Lovelace")
	rp := e2etest.NewOIDC(t, e2etest.TutorWeb, "", "")
	callback := rp.Config.RedirectURL
	browser := e2etest.NewClient(t)
	ctx := context.Background()

	state := e2etest.State()
	verifier, pkce := e2etest.PKCE()
	at, asked := browser.Authorize(rp.Config.AuthCodeURL(state, pkce...), callback, email, e2etest.StrongPassword)
	if !asked {
		t.Fatal("a browser without a session must be asked to sign in")
	}
	tok := exchange(t, rp, at, state, verifier)

	// The ID token, verified by go-oidc against Hydra's JWKS.
	rawID, _ := tok.Extra("id_token").(string)
	idToken, err := rp.Provider.Verifier(&oidc.Config{ClientID: e2etest.TutorWeb}).Verify(ctx, rawID)
	if err != nil {
		t.Fatalf("id token: %v", err)
	}
	var idc struct {
		Email         string `json:"email"`
		EmailVerified bool   `json:"email_verified"`
		Name          string `json:"name"`
		Role          string `json:"role"`
	}
	if err := idToken.Claims(&idc); err != nil {
		t.Fatal(err)
	}
	if idToken.Subject != id || idc.Email != email || !idc.EmailVerified || idc.Name != "Ada Lovelace" || idc.Role != "student" {
		t.Fatalf("id token claims: sub %s %+v", idToken.Subject, idc)
	}
	if life := idToken.Expiry.Sub(idToken.IssuedAt); life != time.Hour {
		t.Fatalf("id token lifetime %s, want 1h", life)
	}

	// The access token: an RS256 JWT with the claims at the top level.
	ac := e2etest.JWTClaims(t, tok.AccessToken)
	hdr := e2etest.JWTHeader(t, tok.AccessToken)
	if hdr["alg"] != "RS256" || hdr["kid"] == "" {
		t.Fatalf("access token header: %v", hdr)
	}
	// 21599 only when Hydra's two clock readings straddle a second.
	if life := ac["exp"].(float64) - ac["iat"].(float64); life != 21600 && life != 21599 {
		t.Fatalf("access token exp - iat = %v, want 21600", life)
	}
	if ac["sub"] != id || ac["email"] != email || ac["email_verified"] != true || ac["role"] != "student" || ac["name"] != "Ada Lovelace" {
		t.Fatalf("access token claims: %v", ac)
	}
	scp, _ := ac["scp"].([]any)
	if len(scp) != 4 || ac["iss"] != st.URL("hydra") {
		t.Fatalf("access token scp/iss: %v / %v", ac["scp"], ac["iss"])
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token (offline_access)")
	}

	t.Run("a live session is not asked for credentials again", func(t *testing.T) {
		state := e2etest.State()
		verifier, pkce := e2etest.PKCE()
		at, asked := browser.Authorize(rp.Config.AuthCodeURL(state, pkce...), callback, "", "")
		if asked {
			t.Fatal("credentials asked again despite a live Kratos session")
		}
		tok := exchange(t, rp, at, state, verifier)
		if e2etest.JWTClaims(t, tok.AccessToken)["sub"] != id {
			t.Fatal("wrong subject")
		}
	})

	t.Run("refresh rotates and the old refresh token is refused", func(t *testing.T) {
		old := tok.RefreshToken
		src := rp.Config.TokenSource(ctx, &oauth2.Token{RefreshToken: old, Expiry: time.Now().Add(-time.Minute)})
		fresh, err := src.Token()
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if fresh.RefreshToken == "" || fresh.RefreshToken == old || fresh.AccessToken == tok.AccessToken {
			t.Fatal("refresh did not rotate")
		}
		_, err = rp.Config.TokenSource(ctx, &oauth2.Token{RefreshToken: old, Expiry: time.Now().Add(-time.Minute)}).Token()
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
			t.Fatalf("reusing the old refresh token: %v", err)
		}
		// Reuse means the token leaked: Hydra revokes the whole chain, so
		// the newer refresh token stops working too.
		_, err = rp.Config.TokenSource(ctx, &oauth2.Token{RefreshToken: fresh.RefreshToken, Expiry: time.Now().Add(-time.Minute)}).Token()
		if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
			t.Fatalf("after reuse the chain must be revoked: %v", err)
		}
	})

	t.Run("missing PKCE is refused for tutor-web", func(t *testing.T) {
		state := e2etest.State()
		at, _ := browser.Authorize(rp.Config.AuthCodeURL(state), callback, "", "")
		q := mustQuery(t, at)
		if q.Get("error") != "invalid_request" || !strings.Contains(q.Get("error_description"), "code_challenge") {
			t.Fatalf("want invalid_request about PKCE, got %s", at)
		}
	})

	t.Run("a role change reaches the next token", func(t *testing.T) {
		state := e2etest.State()
		verifier, pkce := e2etest.PKCE()
		at, _ := browser.Authorize(rp.Config.AuthCodeURL(state, pkce...), callback, "", "")
		tok := exchange(t, rp, at, state, verifier)
		e2etest.SetRole(t, id, "instructor")
		defer e2etest.SetRole(t, id, "student")
		fresh := tokFromRefresh(t, rp, tok)
		if role := e2etest.JWTClaims(t, fresh.AccessToken)["role"]; role != "instructor" {
			t.Fatalf("role after refresh: %v", role)
		}
		idt, _ := fresh.Extra("id_token").(string)
		if idt == "" || e2etest.JWTClaims(t, idt)["role"] != "instructor" {
			t.Fatal("the refreshed ID token must carry the new role too")
		}
		// And a new authorization (consent at this moment) carries it as well.
		state = e2etest.State()
		verifier, pkce = e2etest.PKCE()
		at, _ = browser.Authorize(rp.Config.AuthCodeURL(state, pkce...), callback, "", "")
		if role := e2etest.JWTClaims(t, exchange(t, rp, at, state, verifier).AccessToken)["role"]; role != "instructor" {
			t.Fatalf("role after a new authorization: %v", role)
		}
	})

	t.Run("logout ends the Kratos session and returns to the client", func(t *testing.T) {
		q := url.Values{"id_token_hint": {rawID}, "post_logout_redirect_uri": {st.URL("tutor")}, "state": {"bye"}}
		end := st.URL("hydra") + "oauth2/sessions/logout?" + q.Encode()
		at, page := browser.Follow(end, st.URL("tutor"))
		if page != nil || !strings.HasPrefix(at, st.URL("tutor")) || mustQuery(t, at).Get("state") != "bye" {
			t.Fatalf("logout ended at %s", at)
		}
		if res := browser.Do("GET", "/sessions/whoami", nil); res.Status != http.StatusUnauthorized {
			t.Fatalf("the Kratos session survived logout: %d", res.Status)
		}
		// A new authorization asks for credentials again.
		_, asked := browser.Authorize(rp.Config.AuthCodeURL(e2etest.State(), pkceOnly()...), callback, email, e2etest.StrongPassword)
		if !asked {
			t.Fatal("after logout the browser was signed in without credentials")
		}
	})
}

func tokFromRefresh(t *testing.T, rp *e2etest.OIDC, tok *oauth2.Token) *oauth2.Token {
	t.Helper()
	fresh, err := rp.Config.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Minute)}).Token()
	if err != nil {
		t.Fatal(err)
	}
	return fresh
}

func pkceOnly() []oauth2.AuthCodeOption {
	_, opts := e2etest.PKCE()
	return opts
}

func mustQuery(t *testing.T, u string) url.Values {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.Query()
}

func TestUnverifiedUserTokensSayUnverified(t *testing.T) {
	email := e2etest.UniqueEmail("unverified")
	c := e2etest.NewClient(t)
	c.Register(email, e2etest.StrongPassword, "")
	rp := e2etest.NewOIDC(t, e2etest.TutorWeb, "", "")
	state := e2etest.State()
	verifier, pkce := e2etest.PKCE()
	at, _ := e2etest.NewClient(t).Authorize(rp.Config.AuthCodeURL(state, pkce...), rp.Config.RedirectURL, email, e2etest.StrongPassword)
	tok := exchange(t, rp, at, state, verifier)
	if v := e2etest.JWTClaims(t, tok.AccessToken)["email_verified"]; v != false {
		t.Fatalf("email_verified = %v, want false", v)
	}
}
