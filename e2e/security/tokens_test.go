package security

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/learnplatform/platform/e2e/internal/e2etest"
)

// endpoint is a token-checking route; body is sent as JSON when set.
type endpoint struct{ method, url, body string }

// tokenRoutes lists every route of the tutor and of the edge that takes a
// Bearer token.
func tokenRoutes(t *testing.T, subject string) (tutor, edge []endpoint) {
	st := e2etest.Need(t)
	tu, id := st.URL("tutor")+"api/v1/", st.URL("identity")+"admin/"
	tutor = []endpoint{
		{"GET", tu + "me", ""},
		{"GET", tu + "courses", ""},
		{"POST", tu + "chatkit", `{"type":"threads.list","params":{}}`},
		{"POST", tu + "courses/sample/enroll", `{}`},
		{"POST", tu + "courses/sample/stages/1/complete", `{}`},
		{"GET", tu + "courses/sample/lessons/intro", ""},
		{"GET", tu + "admin/usage", ""},
		{"GET", tu + "admin/feedback", ""},
		{"PUT", tu + "admin/enrollments/" + subject + "/sample", `{"stage":1}`},
	}
	edge = []endpoint{
		{"GET", id + "lockouts", ""},
		{"DELETE", id + "lockouts/nobody@example.org", ""},
		{"GET", id + "auth-events", ""},
		{"PUT", id + "users/" + subject + "/role", `{"role":"admin"}`},
		{"PUT", id + "users/" + subject + "/state", `{"state":"inactive"}`},
		{"POST", id + "users/" + subject + "/sessions/revoke", `{}`},
	}
	return tutor, edge
}

func bearer(t *testing.T, ep endpoint, tok string) (int, string) {
	t.Helper()
	var body *bytes.Reader
	if ep.body != "" {
		body = bytes.NewReader([]byte(ep.body))
	} else {
		body = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(ep.method, ep.url, body)
	if err != nil {
		t.Fatal(err)
	}
	if ep.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(res.Body)
	return res.StatusCode, b.String()
}

// otherClientToken signs email in through another first-party client that
// asks for openid only: a real Hydra access token, not meant for our APIs.
func otherClientToken(t *testing.T, email string) string {
	t.Helper()
	st := e2etest.Need(t)
	id := "other-app-" + strings.ToLower(e2etest.State()[:8])
	secret := "other-app-secret-0123456789abcdef"
	callback := "http://127.0.0.1:1/other/callback"
	b, _ := json.Marshal(map[string]any{
		"client_id": id, "client_secret": secret, "client_name": "Other app",
		"grant_types": []string{"authorization_code"}, "response_types": []string{"code"},
		"scope": "openid", "redirect_uris": []string{callback},
		"metadata": map[string]any{"first_party": true},
	})
	res, err := http.Post(st.URL("hydra-admin")+"admin/clients", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create client: %s", res.Status)
	}
	rp := e2etest.NewOIDC(t, id, secret, callback, "openid")
	at, _ := e2etest.NewClient(t).Authorize(rp.Config.AuthCodeURL(e2etest.State()), callback, email, e2etest.StrongPassword)
	u, _ := url.Parse(at)
	tok, err := rp.Config.Exchange(context.Background(), u.Query().Get("code"))
	if err != nil {
		t.Fatalf("other client's exchange: %v", err)
	}
	return tok.AccessToken
}

// Issue 14: a resource server accepts only access tokens minted for its own
// audience: never an ID token, another client's token, a client's own
// (client_credentials) token or a token for the other API.
func TestOnlyAccessTokensForThisServiceAreAccepted(t *testing.T) {
	st := e2etest.Need(t)
	email := e2etest.UniqueEmail("aud")
	id := e2etest.VerifiedUser(t, email, e2etest.StrongPassword, "Audrey")
	both := e2etest.Tokens(t, email, e2etest.StrongPassword)
	idToken, _ := both.Extra("id_token").(string)
	if idToken == "" {
		t.Fatal("no ID token")
	}
	tutorOnly := e2etest.TokensFor(t, email, e2etest.StrongPassword, e2etest.TutorAPI).AccessToken
	edgeOnly := e2etest.TokensFor(t, email, e2etest.StrongPassword, e2etest.IdentityAPI).AccessToken
	noAudience := e2etest.TokensFor(t, email, e2etest.StrongPassword).AccessToken
	cc := clientcredentials.Config{ClientID: "integrator-example", ClientSecret: st.Secrets().IntegratorExample,
		TokenURL: st.URL("hydra") + "oauth2/token", Scopes: []string{"courses.read"}}
	machine, err := cc.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	other := otherClientToken(t, email)

	tutor, edge := tokenRoutes(t, id)
	all := append(append([]endpoint(nil), tutor...), edge...)
	for _, c := range []struct {
		name   string
		token  string
		routes []endpoint
	}{
		{"an ID token", idToken, all},
		{"another client's access token", other, all},
		{"a client_credentials token", machine.AccessToken, all},
		{"a token without an audience", noAudience, all},
		{"a token for the edge", edgeOnly, tutor},
		{"a token for the tutor", tutorOnly, edge},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, ep := range c.routes {
				if code, body := bearer(t, ep, c.token); code != http.StatusUnauthorized {
					t.Errorf("%s %s: %d %s", ep.method, ep.url, code, body)
				}
			}
		})
	}
	t.Run("the right tokens still work", func(t *testing.T) {
		for _, c := range []struct {
			token string
			ep    endpoint
			want  int
		}{
			{both.AccessToken, tutor[0], http.StatusOK},
			{tutorOnly, tutor[0], http.StatusOK},
			{both.AccessToken, edge[0], http.StatusForbidden}, // accepted; a student is no admin
			{edgeOnly, edge[0], http.StatusForbidden},
		} {
			if code, body := bearer(t, c.ep, c.token); code != c.want {
				t.Errorf("%s %s: %d, want %d: %s", c.ep.method, c.ep.url, code, c.want, body)
			}
		}
	})
}

// refusedWithin polls until tok is refused (401) at the tutor and at the
// edge, for at most 5 seconds: revocations must reach every resource server
// that fast.
func refusedWithin(t *testing.T, tok string) {
	t.Helper()
	st := e2etest.Need(t)
	me := endpoint{"GET", st.URL("tutor") + "api/v1/me", ""}
	locks := endpoint{"GET", st.URL("identity") + "admin/lockouts", ""}
	deadline := time.Now().Add(5 * time.Second)
	for {
		a, _ := bearer(t, me, tok)
		b, _ := bearer(t, locks, tok)
		if a == http.StatusUnauthorized && b == http.StatusUnauthorized {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 5 s the token still answers %d at the tutor and %d at the edge", a, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func accepted(t *testing.T, who, tok string) {
	t.Helper()
	if code, body := bearer(t, endpoint{"GET", e2etest.Need(t).URL("tutor") + "api/v1/me", ""}, tok); code != http.StatusOK {
		t.Fatalf("%s's token: %d %s", who, code, body)
	}
}

func adminCall(t *testing.T, admin, method, path, body string) {
	t.Helper()
	code, out := bearer(t, endpoint{method, e2etest.Need(t).URL("identity") + path, body}, admin)
	if code != http.StatusOK && code != http.StatusNoContent {
		t.Fatalf("%s %s: %d %s", method, path, code, out)
	}
}

// refresh uses tok's refresh token once, as the web app would.
func refresh(t *testing.T, tok *oauth2.Token) (*oauth2.Token, error) {
	t.Helper()
	rp := e2etest.NewOIDC(t, e2etest.TutorWeb, "", "")
	old := *tok
	old.Expiry = time.Now().Add(-time.Minute)
	return rp.Config.TokenSource(context.Background(), &old).Token()
}

// Issue 14: sign-out, sign-out everywhere, deactivation, role demotion,
// password change and recovery each void the affected access tokens at the
// tutor and the edge within seconds, while other users' tokens keep working.
func TestRevokedTokensAreRefusedWithinSeconds(t *testing.T) {
	st := e2etest.Need(t)
	admin := e2etest.NewLearner(t, "admin")
	bystander := e2etest.NewLearner(t, "")
	defer func() {
		accepted(t, "an unaffected learner", bystander.AccessToken)
		accepted(t, "the admin", admin.AccessToken)
	}()
	newUser := func(prefix string) (string, string) {
		email := e2etest.UniqueEmail(prefix)
		return email, e2etest.VerifiedUser(t, email, e2etest.StrongPassword, "Revoked "+prefix)
	}

	t.Run("sign-out from the web app", func(t *testing.T) {
		email, _ := newUser("signout")
		browser, tok := e2etest.SignIn(t, email, e2etest.StrongPassword, e2etest.TutorAPI, e2etest.IdentityAPI)
		keep := e2etest.Tokens(t, email, e2etest.StrongPassword) // another session of the same user
		idToken, _ := tok.Extra("id_token").(string)
		q := url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {st.URL("tutor")}, "state": {"signed-out"}}
		at, page := browser.Follow(st.URL("hydra")+"oauth2/sessions/logout?"+q.Encode(), st.URL("tutor"))
		if page != nil {
			t.Fatalf("sign-out stopped at %s (%d): %s", at, page.Status, page.Body)
		}
		refusedWithin(t, tok.AccessToken)
		accepted(t, "the same user's other session", keep.AccessToken)
	})

	t.Run("sign out everywhere on the account security page", func(t *testing.T) {
		email, _ := newUser("everywhere")
		browser, here := e2etest.SignIn(t, email, e2etest.StrongPassword, e2etest.TutorAPI, e2etest.IdentityAPI)
		elsewhere := e2etest.Tokens(t, email, e2etest.StrongPassword) // another device
		res := browser.Do("POST", st.URL("identity")+"security/sessions/end-all", url.Values{},
			"Origin", strings.TrimSuffix(st.URL("identity"), "/"), "Accept", "text/html")
		if res.Status != http.StatusSeeOther || !strings.HasSuffix(res.Header.Get("Location"), "/login") {
			t.Fatalf("sign out everywhere: %d %s %s", res.Status, res.Header.Get("Location"), res.Body)
		}
		refusedWithin(t, here.AccessToken)
		refusedWithin(t, elsewhere.AccessToken)
		if _, err := refresh(t, elsewhere); err == nil {
			t.Fatal("another device refreshed its token after sign-out everywhere")
		}
	})

	t.Run("deactivation by an admin", func(t *testing.T) {
		email, id := newUser("deactivated")
		tok := e2etest.Tokens(t, email, e2etest.StrongPassword)
		adminCall(t, admin.AccessToken, "PUT", "admin/users/"+id+"/state", `{"state":"inactive"}`)
		refusedWithin(t, tok.AccessToken)
		if _, err := refresh(t, tok); err == nil {
			t.Fatal("a deactivated user refreshed their token")
		}
		t.Run("a restarted tutor still refuses it", func(t *testing.T) {
			if err := st.Restart(context.Background(), "tutor"); err != nil {
				t.Fatal(err)
			}
			if code, _ := bearer(t, endpoint{"GET", st.URL("tutor") + "api/v1/me", ""}, tok.AccessToken); code != http.StatusUnauthorized {
				t.Fatalf("after a restart the tutor answers %d", code)
			}
		})
	})

	t.Run("sessions revoked by an admin", func(t *testing.T) {
		email, id := newUser("sessions")
		tok := e2etest.Tokens(t, email, e2etest.StrongPassword)
		adminCall(t, admin.AccessToken, "POST", "admin/users/"+id+"/sessions/revoke", `{}`)
		refusedWithin(t, tok.AccessToken)
		if _, err := refresh(t, tok); err == nil {
			t.Fatal("a refresh token outlived the revoked sessions")
		}
	})

	t.Run("role demotion by the admin API", func(t *testing.T) {
		other := e2etest.NewLearner(t, "admin")
		tok := e2etest.Tokens(t, other.Email, other.Password)
		adminCall(t, admin.AccessToken, "PUT", "admin/users/"+other.ID+"/role", `{"role":"student"}`)
		refusedWithin(t, tok.AccessToken)
		refusedWithin(t, other.AccessToken)
		// The next token carries the new role; its iat must pass the
		// revocation's second.
		time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(1100 * time.Millisecond)))
		next, err := refresh(t, tok)
		if err != nil {
			t.Fatalf("refresh after the role change: %v", err)
		}
		if role := e2etest.JWTClaims(t, next.AccessToken)["role"]; role != "student" {
			t.Fatalf("refreshed token role %v", role)
		}
		accepted(t, "the demoted user's new", next.AccessToken)
		if code, _ := bearer(t, endpoint{"GET", st.URL("identity") + "admin/lockouts", ""}, next.AccessToken); code != http.StatusForbidden {
			t.Fatalf("a demoted admin's new token at the admin API: %d", code)
		}
	})

	t.Run("role demotion by the CLI", func(t *testing.T) {
		other := e2etest.NewLearner(t, "admin")
		cmd := exec.Command(filepath.Join(st.BinDir, "identity"), "users", "set-role",
			"-config", filepath.Join(st.Dir, "data", "run", "identity.yml"), other.Email, "student")
		cmd.Env = append(os.Environ(), "IDENTITY_DATABASE_URL="+st.DSN("platform"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("identity users set-role: %v\n%s", err, out)
		}
		refusedWithin(t, other.AccessToken)
	})

	t.Run("password change", func(t *testing.T) {
		email, _ := newUser("pwchange")
		tok := e2etest.Tokens(t, email, e2etest.StrongPassword)
		c := e2etest.NewClient(t)
		session, _ := c.Login(email, e2etest.StrongPassword)
		f := c.NewAPIFlow("settings", "X-Session-Token", session)
		res := c.Do("POST", "/self-service/settings?flow="+f.ID,
			map[string]any{"method": "password", "password": "An0ther-Strong-Passphrase!"}, "X-Session-Token", session)
		if res.Status != http.StatusOK {
			t.Fatalf("password change: %d %s", res.Status, res.Body)
		}
		refusedWithin(t, tok.AccessToken)
	})

	t.Run("recovery", func(t *testing.T) {
		email, _ := newUser("recovered")
		tok := e2etest.Tokens(t, email, e2etest.StrongPassword)
		c := e2etest.NewClient(t)
		since := time.Now()
		f := c.NewAPIFlow("recovery")
		if res := c.Do("POST", "/self-service/recovery?flow="+f.ID, map[string]any{"method": "code", "email": email}); res.Status != http.StatusOK {
			t.Fatalf("recovery request: %d %s", res.Status, res.Body)
		}
		code := e2etest.MailCode(t, email, "Recover access", since)
		res := c.Do("POST", "/self-service/recovery?flow="+f.ID, map[string]any{"method": "code", "code": code})
		if res.Status != http.StatusOK && res.Status != http.StatusUnprocessableEntity {
			t.Fatalf("recovery code: %d %s", res.Status, res.Body)
		}
		refusedWithin(t, tok.AccessToken)
	})
}

// Issue 14: revocations written while a service's connection to PostgreSQL
// was down (PostgreSQL restarted) reach it once it reconnects.
func TestRevocationsSurvivePostgresRestart(t *testing.T) {
	st := e2etest.Need(t)
	admin := e2etest.NewLearner(t, "admin")
	victim := e2etest.NewLearner(t, "")
	if err := st.Restart(context.Background(), "postgres"); err != nil {
		t.Fatal(err)
	}
	// The edge's pool reconnects on its own; retry until it answers.
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body := bearer(t, endpoint{"POST", st.URL("identity") + "admin/users/" + victim.ID + "/sessions/revoke", `{}`}, admin.AccessToken)
		if code == http.StatusOK || code == http.StatusNoContent {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("revoking after the restart: %d %s", code, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	refusedWithin(t, victim.AccessToken)
	accepted(t, "the admin", admin.AccessToken)
}
