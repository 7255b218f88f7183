package e2etest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// TutorWeb is the public client of ory-config/clients.yaml.
const TutorWeb = "tutor-web"

// OIDC is a relying party against the stack's Hydra, discovered from its
// issuer URL like any OIDC client would.
type OIDC struct {
	Provider *oidc.Provider
	Config   oauth2.Config
}

// NewOIDC discovers Hydra and configures clientID with the tutor's callback.
func NewOIDC(t testing.TB, clientID, secret, redirect string, scopes ...string) *OIDC {
	t.Helper()
	st := Need(t)
	p, err := oidc.NewProvider(context.Background(), st.URL("hydra"))
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	if redirect == "" {
		redirect = st.URL("tutor") + "callback"
	}
	if len(scopes) == 0 {
		scopes = []string{oidc.ScopeOpenID, oidc.ScopeOfflineAccess, "email", "profile"}
	}
	return &OIDC{Provider: p, Config: oauth2.Config{
		ClientID: clientID, ClientSecret: secret, Endpoint: p.Endpoint(), RedirectURL: redirect, Scopes: scopes,
	}}
}

// Follow walks a browser's redirects from u with c's cookies until a response
// is not a redirect or the next hop would leave for stopAt (the client's
// redirect URI, which nothing serves yet). It returns that last URL and response.
func (c *Client) Follow(u, stopAt string) (string, *Response) {
	c.T.Helper()
	for i := 0; i < 25; i++ {
		if stopAt != "" && strings.HasPrefix(u, stopAt) {
			return u, nil
		}
		res := c.Do("GET", u, nil, "Accept", "text/html")
		if res.Status < 300 || res.Status > 399 {
			return u, res
		}
		next, err := url.Parse(res.Header.Get("Location"))
		if err != nil {
			c.T.Fatal(err)
		}
		base, _ := url.Parse(u)
		u = base.ResolveReference(next).String()
	}
	c.T.Fatalf("too many redirects at %s", u)
	return "", nil
}

var (
	actionRE = regexp.MustCompile(`<form[^>]*class="card form-password"[^>]*action="([^"]+)"`)
	csrfRE   = regexp.MustCompile(`name="csrf_token" value="([^"]*)"`)
)

// SubmitLogin fills in the hosted login page (its HTML, as a browser would
// see it) and posts it through the edge; it returns the redirect target.
func (c *Client) SubmitLogin(page *Response, email, password string) string {
	c.T.Helper()
	return c.SubmitLoginForm(page, email, password, false).Header.Get("Location")
}

// SubmitLoginForm is SubmitLogin with the "keep me signed in" box, returning
// the whole response.
func (c *Client) SubmitLoginForm(page *Response, email, password string, remember bool) *Response {
	c.T.Helper()
	body := string(page.Body)
	a, k := actionRE.FindStringSubmatch(body), csrfRE.FindStringSubmatch(body)
	if a == nil || k == nil {
		c.T.Fatalf("not a login page:\n%s", body)
	}
	form := url.Values{
		"csrf_token": {html.UnescapeString(k[1])}, "identifier": {email}, "password": {password}, "method": {"password"},
	}
	if remember {
		form.Set("remember", "true")
	}
	res := c.Do("POST", html.UnescapeString(a[1]), form, "Accept", "text/html")
	if res.Status != http.StatusSeeOther {
		c.T.Fatalf("login post: %d\n%s", res.Status, res.Body)
	}
	return res
}

// Authorize runs the authorization request u in c (whose cookies say whether
// a Kratos session exists), signing in with email and password when the
// hosted login page shows up. It returns the callback URL Hydra redirected to
// and whether credentials were asked for.
func (c *Client) Authorize(u, callback, email, password string) (string, bool) {
	c.T.Helper()
	at, page := c.Follow(u, callback)
	asked := false
	if page != nil {
		if !strings.Contains(at, "/login") {
			c.T.Fatalf("stopped at %s (%d):\n%s", at, page.Status, page.Body)
		}
		asked = true
		next := c.SubmitLogin(page, email, password)
		base, _ := url.Parse(at)
		nu, _ := url.Parse(next)
		at, page = c.Follow(base.ResolveReference(nu).String(), callback)
		if page != nil {
			c.T.Fatalf("after sign-in stopped at %s (%d):\n%s", at, page.Status, page.Body)
		}
	}
	return at, asked
}

// PKCE returns a verifier and the options that send its S256 challenge.
func PKCE() (string, []oauth2.AuthCodeOption) {
	v := oauth2.GenerateVerifier()
	return v, []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(v)}
}

// State returns a random state value.
func State() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// JWTClaims decodes a JWT's payload without checking it (the tests check
// signatures with go-oidc and kit/token separately).
func JWTClaims(t testing.TB, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// VerifiedUser registers an account through the API flow and verifies its
// address with the mailed code; it returns the identity id.
func VerifiedUser(t testing.TB, email, password, name string) string {
	t.Helper()
	c := NewClient(t)
	since := time.Now()
	token := c.Register(email, password, name)
	f := c.NewAPIFlow("verification")
	if res := c.Do("POST", "/self-service/verification?flow="+f.ID, map[string]any{"method": "code", "email": email}); res.Status != 200 {
		t.Fatalf("send code: %d %s", res.Status, res.Body)
	}
	code := MailCodeFor(t, email, "verify your email", since, f.ID)
	res := c.Do("POST", "/self-service/verification?flow="+f.ID, map[string]any{"method": "code", "code": code})
	var done Flow
	res.JSON(t, &done)
	if res.Status != 200 || done.State != "passed_challenge" {
		t.Fatalf("verify: %d state %q", res.Status, done.State)
	}
	res = c.Do("GET", "/sessions/whoami", nil, "X-Session-Token", token)
	var s struct {
		Identity struct {
			ID string `json:"id"`
		} `json:"identity"`
	}
	res.JSON(t, &s)
	return s.Identity.ID
}

// SetRole writes metadata_public.role through Kratos' admin API.
func SetRole(t testing.TB, identityID, role string) {
	t.Helper()
	patch := fmt.Sprintf(`[{"op":"add","path":"/metadata_public","value":{"role":%q}}]`, role)
	req, _ := http.NewRequest("PATCH", Need(t).URL("kratos-admin")+"admin/identities/"+identityID, strings.NewReader(patch))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("set role: %s", res.Status)
	}
}

// JWTHeader decodes a JWT's header.
func JWTHeader(t testing.TB, jwt string) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(jwt, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// Tokens signs email in through the tutor-web client (authorization code
// with PKCE, the hosted login page, the consent app) and returns its tokens:
// what the learner web app holds.
//
// The access token names both first-party APIs (TutorAPI and IdentityAPI),
// so one token serves the tutor and the edge's admin API; TokensFor asks
// for other audiences.
func Tokens(t testing.TB, email, password string) *oauth2.Token {
	t.Helper()
	return TokensFor(t, email, password, TutorAPI, IdentityAPI)
}

// Audiences of the platform's APIs (tutor: hydra.audience, edge:
// token_audience), which tutor-web may ask for.
const (
	TutorAPI    = "tutor-api"
	IdentityAPI = "identity-api"
)

// TokensFor is Tokens asking for an access token for the given audiences
// (none: no audience requested).
func TokensFor(t testing.TB, email, password string, audiences ...string) *oauth2.Token {
	t.Helper()
	_, tok := SignIn(t, email, password, audiences...)
	return tok
}

// SignIn is TokensFor that also returns the browser, whose cookies hold the
// Kratos and Hydra sessions (for signing out the way the web app does).
func SignIn(t testing.TB, email, password string, audiences ...string) (*Client, *oauth2.Token) {
	t.Helper()
	rp := NewOIDC(t, TutorWeb, "", "")
	state := State()
	verifier, pkce := PKCE()
	if len(audiences) > 0 {
		pkce = append(pkce, oauth2.SetAuthURLParam("audience", strings.Join(audiences, " ")))
	}
	browser := NewClient(t)
	at, _ := browser.Authorize(rp.Config.AuthCodeURL(state, pkce...), rp.Config.RedirectURL, email, password)
	u, err := url.Parse(at)
	if err != nil {
		t.Fatal(err)
	}
	if u.Query().Get("state") != state || u.Query().Get("code") == "" {
		t.Fatalf("authorization ended at %s", at)
	}
	tok, err := rp.Config.Exchange(context.Background(), u.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return browser, tok
}

// Learner is a registered account with a verified email and its access token.
type Learner struct {
	ID, Email, Password, AccessToken string
}

// NewLearner registers, verifies and signs in a new account with role
// ("" keeps the default, student).
func NewLearner(t testing.TB, role string) Learner {
	t.Helper()
	l := Learner{Email: UniqueEmail("learner"), Password: StrongPassword}
	l.ID = VerifiedUser(t, l.Email, l.Password, "Test Learner")
	if role != "" {
		SetRole(t, l.ID, role)
	}
	l.AccessToken = Tokens(t, l.Email, l.Password).AccessToken
	return l
}
