package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/learnplatform/platform/e2e/internal/e2etest"
)

// createClient registers a client directly in Hydra, as an operator would.
func createClient(t *testing.T, body map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	res, err := http.Post(e2etest.Need(t).URL("hydra-admin")+"admin/clients", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create client: %s", res.Status)
	}
}

var (
	challengeRE = regexp.MustCompile(`name="consent_challenge" value="([^"]+)"`)
)

func TestThirdPartyClientsAskForConsent(t *testing.T) {
	st := e2etest.Need(t)
	email := e2etest.UniqueEmail("consent")
	e2etest.VerifiedUser(t, email, e2etest.StrongPassword, "Grace")
	clientID := "third-party-" + strings.ToLower(e2etest.State()[:8])
	secret := "third-party-secret-0123456789"
	callback := "http://127.0.0.1:1/third-party/callback"
	createClient(t, map[string]any{
		"client_id": clientID, "client_secret": secret, "client_name": "Study Buddy",
		"grant_types": []string{"authorization_code"}, "response_types": []string{"code"},
		"scope": "openid email", "redirect_uris": []string{callback},
		"metadata": map[string]any{"first_party": false},
	})
	rp := e2etest.NewOIDC(t, clientID, secret, callback, "openid", "email")
	browser := e2etest.NewClient(t)

	// askConsent signs in (first time) and stops at the consent page.
	askConsent := func() (challenge string) {
		t.Helper()
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
		if !strings.Contains(body, "Study Buddy") || !strings.Contains(body, `data-scope="email"`) || !strings.Contains(body, `data-scope="openid"`) {
			t.Fatalf("consent page does not list the client and scopes:\n%s", body)
		}
		return html.UnescapeString(challengeRE.FindStringSubmatch(body)[1])
	}
	decide := func(challenge, decision string, header ...string) *e2etest.Response {
		return browser.Do("POST", st.URL("consent")+"consent",
			url.Values{"consent_challenge": {challenge}, "decision": {decision}}, append([]string{"Accept", "text/html"}, header...)...)
	}

	t.Run("deny returns access_denied to the client", func(t *testing.T) {
		res := decide(askConsent(), "deny")
		at, _ := browser.Follow(res.Header.Get("Location"), callback)
		if q := mustQuery(t, at); q.Get("error") != "access_denied" {
			t.Fatalf("deny ended at %s", at)
		}
	})
	t.Run("a forged consent post is refused", func(t *testing.T) {
		// What a browser sends for a form another site posts here.
		if res := decide(askConsent(), "allow", "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"); res.Status != http.StatusForbidden {
			t.Fatalf("cross-site consent post: %d", res.Status)
		}
	})
	t.Run("allow issues a code", func(t *testing.T) {
		res := decide(askConsent(), "allow")
		at, _ := browser.Follow(res.Header.Get("Location"), callback)
		code := mustQuery(t, at).Get("code")
		if code == "" {
			t.Fatalf("allow ended at %s", at)
		}
		tok, err := rp.Config.Exchange(context.Background(), code)
		if err != nil {
			t.Fatal(err)
		}
		if e2etest.JWTClaims(t, tok.AccessToken)["email"] != email {
			t.Fatal("third-party token lacks the email claim")
		}
	})
}

func TestIntegratorClientCredentials(t *testing.T) {
	st := e2etest.Need(t)
	cc := clientcredentials.Config{
		ClientID: "integrator-example", ClientSecret: st.Secrets().IntegratorExample,
		TokenURL: st.URL("hydra") + "oauth2/token", Scopes: []string{"courses.read"},
	}
	tok, err := cc.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c := e2etest.JWTClaims(t, tok.AccessToken)
	if c["sub"] != "integrator-example" || c["role"] != nil {
		t.Fatalf("client token claims: %v", c)
	}
	cc.ClientSecret = "wrong-secret-wrong-secret"
	if _, err := cc.Token(context.Background()); err == nil {
		t.Fatal("a wrong client secret got a token")
	}
}

func TestTokenHookNeedsTheSecret(t *testing.T) {
	st := e2etest.Need(t)
	for _, secret := range []string{"", "wrong-secret"} {
		req, _ := http.NewRequest("POST", st.URL("consent")+"token-hook", strings.NewReader(`{"session":{"id_token":{"subject":"x"}},"request":{"grant_types":["refresh_token"]}}`))
		req.Header.Set("X-Token-Hook-Secret", secret)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("secret %q: %d", secret, res.StatusCode)
		}
	}
}

func TestExpiredOrForgedChallenges(t *testing.T) {
	st := e2etest.Need(t)
	c := e2etest.NewClient(t)
	for _, path := range []string{"login?login_challenge=nope", "consent?consent_challenge=nope", "logout?logout_challenge=nope", "login"} {
		res := c.Do("GET", st.URL("consent")+path, nil, "Accept", "text/html")
		if res.Status != http.StatusBadRequest || !strings.Contains(string(res.Body), "Go back to the app") {
			t.Fatalf("%s: %d %s", path, res.Status, res.Body)
		}
	}
}
