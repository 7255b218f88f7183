package oidcprovider

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

const callback = "http://127.0.0.1:1/callback"

var ada = User{Subject: "ada-1", Email: "ada@example.org", EmailVerified: true, Name: "Ada Lovelace", Nickname: "ada"}

func start(t *testing.T) (*Provider, *oidc.Provider, oauth2.Config) {
	t.Helper()
	p, err := Start(Config{ClientID: "rp", ClientSecret: "s3cret/+&", RedirectURIs: []string{callback}, User: ada})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	op, err := oidc.NewProvider(context.Background(), p.Issuer())
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	return p, op, oauth2.Config{
		ClientID: "rp", ClientSecret: "s3cret/+&", Endpoint: op.Endpoint(), RedirectURL: callback,
		Scopes: []string{oidc.ScopeOpenID, "email", "profile"},
	}
}

var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// authorize runs an authorization request and returns the callback's query.
func authorize(t *testing.T, u string) url.Values {
	t.Helper()
	res, err := noRedirects.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("authorize: %s", res.Status)
	}
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), callback) {
		t.Fatalf("redirected to %q", res.Header.Get("Location"))
	}
	return loc.Query()
}

// A relying party built from go-oidc and x/oauth2 signs in with PKCE and a
// nonce, verifies the ID token, reads userinfo; each auth style works.
func TestCodeFlowWithGoOIDC(t *testing.T) {
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		p, op, cfg := start(t)
		cfg.Endpoint.AuthStyle = style
		verifier := oauth2.GenerateVerifier()
		q := authorize(t, cfg.AuthCodeURL("st-1", oauth2.S256ChallengeOption(verifier), oidc.Nonce("n-1")))
		if q.Get("state") != "st-1" || q.Get("code") == "" || q.Get("iss") != p.Issuer() {
			t.Fatalf("callback query: %v", q)
		}
		ctx := context.Background()
		tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("exchange (auth style %d): %v", style, err)
		}
		raw, _ := tok.Extra("id_token").(string)
		idt, err := op.Verifier(&oidc.Config{ClientID: "rp"}).Verify(ctx, raw)
		if err != nil {
			t.Fatalf("verify id token: %v", err)
		}
		var c struct {
			Email         string `json:"email"`
			EmailVerified bool   `json:"email_verified"`
			Name          string `json:"name"`
			Nonce         string `json:"nonce"`
		}
		if err := idt.Claims(&c); err != nil {
			t.Fatal(err)
		}
		if idt.Subject != ada.Subject || c.Email != ada.Email || !c.EmailVerified || c.Name != ada.Name || c.Nonce != "n-1" {
			t.Fatalf("id token: sub %q, %+v", idt.Subject, c)
		}
		ui, err := op.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			t.Fatalf("userinfo: %v", err)
		}
		if ui.Subject != ada.Subject || ui.Email != ada.Email || !ui.EmailVerified {
			t.Fatalf("userinfo: %+v", ui)
		}
		if p.Authorizations() != 1 {
			t.Fatalf("authorizations: %d", p.Authorizations())
		}
		// The code is single use.
		if _, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier)); !isOAuthError(err, "invalid_grant") {
			t.Fatalf("second exchange: %v", err)
		}
		// ...and using it twice revokes what it gave.
		if _, err := op.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil {
			t.Fatal("userinfo still answers after the code was replayed")
		}
	}
}

func isOAuthError(err error, code string) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.ErrorCode == code
}

// What a provider must refuse: wrong PKCE verifier, a missing one, a wrong
// secret, another redirect URI, and requests from unknown clients.
func TestRefusals(t *testing.T) {
	ctx := context.Background()
	_, _, cfg := start(t)
	code := func(opts ...oauth2.AuthCodeOption) string {
		return authorize(t, cfg.AuthCodeURL("s", opts...)).Get("code")
	}
	verifier := oauth2.GenerateVerifier()
	if _, err := cfg.Exchange(ctx, code(oauth2.S256ChallengeOption(verifier)), oauth2.VerifierOption(oauth2.GenerateVerifier())); !isOAuthError(err, "invalid_grant") {
		t.Errorf("wrong verifier: %v", err)
	}
	if _, err := cfg.Exchange(ctx, code(oauth2.S256ChallengeOption(verifier))); !isOAuthError(err, "invalid_grant") {
		t.Errorf("missing verifier: %v", err)
	}
	bad := cfg
	bad.ClientSecret = "wrong"
	if _, err := bad.Exchange(ctx, code()); !isOAuthError(err, "invalid_client") {
		t.Errorf("wrong secret: %v", err)
	}
	other := cfg
	other.RedirectURL = "http://127.0.0.1:1/other"
	if _, err := other.Exchange(ctx, code()); !isOAuthError(err, "invalid_grant") {
		t.Errorf("other redirect_uri at the token endpoint: %v", err)
	}
	for name, u := range map[string]string{
		"unregistered redirect_uri": other.AuthCodeURL("s"),
		"unknown client":            strings.Replace(cfg.AuthCodeURL("s"), "client_id=rp", "client_id=evil", 1),
	} {
		res, err := noRedirects.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %s (want 400, no redirect)", name, res.Status)
		}
	}
	noOpenID := cfg
	noOpenID.Scopes = []string{"email"}
	if q := authorize(t, noOpenID.AuthCodeURL("s")); q.Get("error") != "invalid_scope" || q.Get("code") != "" {
		t.Errorf("without openid: %v", q)
	}
}

// SetUser changes who signs in next; scopes limit the claims released.
func TestSetUserAndScopes(t *testing.T) {
	p, op, cfg := start(t)
	grace := User{Subject: "grace-2", Email: "grace@example.org", Nickname: "grace"}
	p.SetUser(grace)
	cfg.Scopes = []string{oidc.ScopeOpenID, "profile"}
	ctx := context.Background()
	tok, err := cfg.Exchange(ctx, authorize(t, cfg.AuthCodeURL("s")).Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	idt, err := op.Verifier(&oidc.Config{ClientID: "rp"}).Verify(ctx, tok.Extra("id_token").(string))
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	_ = idt.Claims(&c)
	if idt.Subject != "grace-2" || c["nickname"] != "grace" || c["email"] != nil || c["name"] != nil {
		t.Fatalf("claims: %v", c)
	}
}
