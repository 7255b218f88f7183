package security

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/learnplatform/platform/e2e/internal/e2etest"
)

// Issue 15: a page that merely sends the browser to Hydra's logout endpoint
// (no id_token_hint) must not sign the user out: the consent app asks
// first. With the web app's valid hint the sign-out goes through.
func TestLogoutWithoutHintAsksFirst(t *testing.T) {
	st := e2etest.Need(t)
	email := e2etest.UniqueEmail("logoutcsrf")
	e2etest.VerifiedUser(t, email, e2etest.StrongPassword, "Lou Gout")
	browser, tok := e2etest.SignIn(t, email, e2etest.StrongPassword, e2etest.TutorAPI)
	signedIn := func() bool {
		res := browser.Do("GET", st.URL("identity")+"sessions/whoami", nil, "Accept", "application/json")
		return res.Status == http.StatusOK
	}
	if !signedIn() {
		t.Fatal("not signed in to begin with")
	}

	// What a hostile page can do: a top-level navigation without a hint.
	at, page := browser.Follow(st.URL("hydra")+"oauth2/sessions/logout", st.URL("tutor"))
	if page == nil || page.Status != http.StatusOK || !strings.Contains(string(page.Body), "Sign out of Learning Platform?") {
		t.Fatalf("a logout without id_token_hint ended at %s without asking", at)
	}
	if !signedIn() {
		t.Fatal("a logout without id_token_hint ended the session before the user confirmed")
	}
	refusedSoon := func() bool {
		code, _ := bearer(t, endpoint{"GET", st.URL("tutor") + "api/v1/me", ""}, tok.AccessToken)
		return code == http.StatusUnauthorized
	}
	if refusedSoon() {
		t.Fatal("the access token died without a confirmed sign-out")
	}

	// The web app's own sign-out carries the ID token as hint and proceeds.
	idToken, _ := tok.Extra("id_token").(string)
	q := url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {st.URL("tutor")}}
	if at, page := browser.Follow(st.URL("hydra")+"oauth2/sessions/logout?"+q.Encode(), st.URL("tutor")); page != nil {
		t.Fatalf("the web app's sign-out stopped at %s (%d)", at, page.Status)
	}
	if signedIn() {
		t.Fatal("still signed in after the web app's sign-out")
	}
	refusedWithin(t, tok.AccessToken)
}
