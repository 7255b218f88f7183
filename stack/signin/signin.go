// Package signin gets a learner's access token for the tutor's API from a
// running local stack, signing in the way the learner web app does. The
// launcher's `stack token EMAIL` command prints what it gets.
package signin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/learnplatform/platform/stack"
	"github.com/learnplatform/platform/stack/secrets"
)

// TokenRequest asks the local stack for a learner's access token.
type TokenRequest struct {
	// Ports are the stack's (stack.DefaultPorts for `make run`).
	Ports stack.Ports
	// Email of the learner. An account that does not exist yet is created
	// (through Kratos' admin API, with a verified address) with Password,
	// or a generated one when Password is empty.
	Email, Password string
	// Name is the new account's name (default "Local Learner").
	Name string
}

// TokenResult is what LearnerToken got.
type TokenResult struct {
	// AccessToken is for the tutor's API (audience tutor-api): send it as
	// "Authorization: Bearer ...".
	AccessToken string
	// Created is true when the account was made now, Password its password.
	Created  bool
	Password string
}

// LearnerToken signs a learner in on a running stack the way the learner
// web app does: the authorization code flow with PKCE at Hydra as client
// tutor-web, asking for audience tutor-api, through the hosted login page
// (the identity edge and Kratos) and the consent app. Only for local
// stacks: it uses Kratos' admin API to create a missing account.
func LearnerToken(ctx context.Context, r TokenRequest) (TokenResult, error) {
	local := func(port int) string { return fmt.Sprintf("http://127.0.0.1:%d", port) }
	res := TokenResult{Password: r.Password}
	exists, err := identityExists(ctx, local(r.Ports.KratosAdmin), r.Email)
	if err != nil {
		return res, err
	}
	if !exists {
		if res.Password == "" {
			res.Password = generatedPassword()
		}
		name := r.Name
		if name == "" {
			name = "Local Learner"
		}
		if err := createIdentity(ctx, local(r.Ports.KratosAdmin), r.Email, name, res.Password); err != nil {
			return res, err
		}
		res.Created = true
	} else if res.Password == "" {
		return res, fmt.Errorf("%s has an account: give its password (-password or STACK_PASSWORD)", r.Email)
	}

	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	conf := oauth2.Config{
		ClientID:    "tutor-web",
		Endpoint:    oauth2.Endpoint{AuthURL: local(r.Ports.HydraPublic) + "/oauth2/auth", TokenURL: local(r.Ports.HydraPublic) + "/oauth2/token", AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: local(r.Ports.Tutor) + "/callback",
		Scopes:      []string{"openid", "offline_access", "email", "profile"},
	}
	verifier := oauth2.GenerateVerifier()
	state := secrets.Random(12)
	u := conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("audience", "tutor-api"))
	signedIn := false
	for hops := 0; ; hops++ {
		if hops > 30 {
			return res, errors.New("too many redirects in the sign-in")
		}
		if strings.HasPrefix(u, conf.RedirectURL) {
			break
		}
		page, next, err := get(ctx, client, u)
		if err != nil {
			return res, err
		}
		if next != "" {
			u = next
			continue
		}
		if signedIn || !strings.Contains(u, "/login") {
			return res, fmt.Errorf("the sign-in stopped at %s: %s", u, snippet(page))
		}
		if u, err = submitLogin(ctx, client, u, page, r.Email, res.Password); err != nil {
			return res, err
		}
		signedIn = true
	}
	cb, err := url.Parse(u)
	if err != nil {
		return res, err
	}
	if cb.Query().Get("state") != state || cb.Query().Get("code") == "" {
		return res, fmt.Errorf("the sign-in ended at %s", u)
	}
	tok, err := conf.Exchange(context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Timeout: 30 * time.Second}), cb.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		return res, fmt.Errorf("code exchange: %w", err)
	}
	res.AccessToken = tok.AccessToken
	return res, nil
}

// get fetches u; next is the absolute redirect target of a redirect.
func get(ctx context.Context, c *http.Client, u string) (body []byte, next string, err error) {
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Accept", "text/html")
	res, err := c.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer res.Body.Close()
	body, _ = io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode >= 300 && res.StatusCode < 400 {
		loc, err := res.Request.URL.Parse(res.Header.Get("Location"))
		if err != nil {
			return nil, "", err
		}
		return body, loc.String(), nil
	}
	if res.StatusCode != 200 {
		return nil, "", fmt.Errorf("GET %s: %s: %s", u, res.Status, snippet(body))
	}
	return body, "", nil
}

var (
	loginActionRE = regexp.MustCompile(`<form[^>]*class="card form-password"[^>]*action="([^"]+)"`)
	csrfRE        = regexp.MustCompile(`name="csrf_token" value="([^"]*)"`)
	errorNodeRE   = regexp.MustCompile(`class="[^"]*(?:error|message)[^"]*"[^>]*>([^<]+)<`)
)

// submitLogin posts the hosted login page's password form and returns
// where it redirects to.
func submitLogin(ctx context.Context, c *http.Client, pageURL string, page []byte, email, password string) (string, error) {
	a, k := loginActionRE.FindSubmatch(page), csrfRE.FindSubmatch(page)
	if a == nil || k == nil {
		return "", fmt.Errorf("%s is not the hosted login page: %s", pageURL, snippet(page))
	}
	base, _ := url.Parse(pageURL)
	action, err := base.Parse(html.UnescapeString(string(a[1])))
	if err != nil {
		return "", err
	}
	form := url.Values{"csrf_token": {html.UnescapeString(string(k[1]))}, "identifier": {email}, "password": {password}, "method": {"password"}}
	req, err := http.NewRequestWithContext(ctx, "POST", action.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	res, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode != http.StatusSeeOther && res.StatusCode != http.StatusFound {
		msg := snippet(body)
		if m := errorNodeRE.FindSubmatch(body); m != nil {
			msg = strings.TrimSpace(html.UnescapeString(string(m[1])))
		}
		return "", fmt.Errorf("signing in as %s: %s: %s", email, res.Status, msg)
	}
	next, err := action.Parse(res.Header.Get("Location"))
	if err != nil {
		return "", err
	}
	return next.String(), nil
}

func identityExists(ctx context.Context, admin, email string) (bool, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", admin+"/admin/identities?credentials_identifier="+url.QueryEscape(email), nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, fmt.Errorf("kratos admin API (is the stack running?): %w", err)
	}
	defer res.Body.Close()
	var list []json.RawMessage
	if res.StatusCode != 200 || json.NewDecoder(res.Body).Decode(&list) != nil {
		return false, fmt.Errorf("kratos admin API: looking up %s: %s", email, res.Status)
	}
	return len(list) > 0, nil
}

func createIdentity(ctx context.Context, admin, email, name, password string) error {
	body, _ := json.Marshal(map[string]any{
		"schema_id":            "default",
		"traits":               map[string]any{"email": email, "name": name},
		"credentials":          map[string]any{"password": map[string]any{"config": map[string]any{"password": password}}},
		"verifiable_addresses": []any{map[string]any{"value": email, "verified": true, "via": "email", "status": "completed"}},
	})
	req, _ := http.NewRequestWithContext(ctx, "POST", admin+"/admin/identities", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		return fmt.Errorf("creating %s: %s: %s", email, res.Status, snippet(b))
	}
	return nil
}

// generatedPassword meets the default password profile (upper, lower,
// digit, special, 12+).
func generatedPassword() string { return "Lp-" + secrets.Random(12) + "-7x!" }

func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
