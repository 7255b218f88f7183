// Package oidcprovider is a small OpenID Connect provider for tests: it
// stands in for Google or GitHub, which this machine cannot reach. It speaks
// the real protocol (discovery, JWKS, authorization code with PKCE, RS256 ID
// tokens, userinfo), so Kratos talks to it as a generic provider exactly as
// it would to any other; only the sign-in page is missing: /authorize signs
// the configured test user in at once.
//
// e2e/social starts one in its TestMain and hands it to the stack.
package oidcprovider

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// User is who signs in at the provider.
type User struct {
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
	// Nickname is the login name (GitHub's login), sent when set.
	Nickname string
}

// Config says which client may use the provider.
type Config struct {
	ClientID     string
	ClientSecret string
	// RedirectURIs are the client's registered callbacks; an authorization
	// request with any other redirect_uri is refused. They can also be set
	// later with SetRedirectURIs (the stack's port is chosen after the
	// provider starts).
	RedirectURIs []string
	// User signs in until SetUser changes it.
	User User
	// Now is the clock (default time.Now).
	Now func() time.Time
}

const (
	codeLifetime  = time.Minute
	tokenLifetime = time.Hour
)

// Provider is a running provider. Tests that change its user must not run
// in parallel with others that sign in through it.
type Provider struct {
	issuer string
	srv    *http.Server
	key    *rsa.PrivateKey
	kid    string
	now    func() time.Time
	client Config

	mu        sync.Mutex
	redirects []string
	user      User
	codes     map[string]*grant
	tokens    map[string]tokenGrant
	authorize int // successful authorization requests
}

// grant is an issued authorization code.
type grant struct {
	redirectURI  string
	scope        string
	nonce        string
	challenge    string
	method       string
	user         User
	authTime     time.Time
	expires      time.Time
	used         bool
	accessTokens []string
}

type tokenGrant struct {
	user    User
	scope   string
	expires time.Time
}

// Start serves a provider on a free loopback port.
func Start(cfg Config) (*Provider, error) {
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("oidcprovider: a client id and secret are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Provider{
		issuer:    "http://" + l.Addr().String(),
		key:       key,
		kid:       randomString(8),
		now:       cfg.Now,
		client:    cfg,
		redirects: slices.Clone(cfg.RedirectURIs),
		user:      cfg.User,
		codes:     map[string]*grant{},
		tokens:    map[string]tokenGrant{},
	}
	p.srv = &http.Server{Handler: p.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go p.srv.Serve(l)
	return p, nil
}

// Close stops serving.
func (p *Provider) Close() error { return p.srv.Close() }

// Issuer is the issuer identifier (no trailing slash), the URL discovery
// starts from.
func (p *Provider) Issuer() string { return p.issuer }

// ClientID is the registered client's id.
func (p *Provider) ClientID() string { return p.client.ClientID }

// ClientSecret is the registered client's secret.
func (p *Provider) ClientSecret() string { return p.client.ClientSecret }

// SetUser makes u the user who signs in from now on.
func (p *Provider) SetUser(u User) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.user = u
}

// SetRedirectURIs replaces the client's registered callbacks.
func (p *Provider) SetRedirectURIs(uris ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.redirects = slices.Clone(uris)
}

// Authorizations counts the authorization requests answered with a code.
func (p *Provider) Authorizations() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.authorize
}

// Handler serves the provider's endpoints.
func (p *Provider) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /jwks", p.jwks)
	mux.HandleFunc("GET /authorize", p.authorizeEndpoint)
	mux.HandleFunc("POST /token", p.token)
	mux.HandleFunc("GET /userinfo", p.userinfo)
	mux.HandleFunc("POST /userinfo", p.userinfo)
	return mux
}

func (p *Provider) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                p.issuer,
		"authorization_endpoint":                p.issuer + "/authorize",
		"token_endpoint":                        p.issuer + "/token",
		"userinfo_endpoint":                     p.issuer + "/userinfo",
		"jwks_uri":                              p.issuer + "/jwks",
		"response_types_supported":              []string{"code"},
		"response_modes_supported":              []string{"query"},
		"grant_types_supported":                 []string{"authorization_code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported":                      []string{"openid", "email", "profile"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"code_challenge_methods_supported":      []string{"S256", "plain"},
		"claims_supported":                      []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "email", "email_verified", "name", "nickname"},
	})
}

func (p *Provider) jwks(w http.ResponseWriter, _ *http.Request) {
	pub := p.key.PublicKey
	writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": p.kid,
		"n": b64(pub.N.Bytes()),
		"e": b64(big.NewInt(int64(pub.E)).Bytes()),
	}}})
}

// authorizeEndpoint answers an authorization request (RFC 6749 4.1.1, OIDC
// Core 3.1.2). Problems with the client or its redirect URI are shown here,
// never sent to an unverified redirect URI; the rest go back to the client.
func (p *Provider) authorizeEndpoint(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != p.client.ClientID {
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	}
	redirect := q.Get("redirect_uri")
	p.mu.Lock()
	registered := slices.Contains(p.redirects, redirect)
	p.mu.Unlock()
	if !registered {
		http.Error(w, "redirect_uri is not registered for this client", http.StatusBadRequest)
		return
	}
	back := func(params url.Values) {
		u, _ := url.Parse(redirect)
		v := u.Query()
		for k, vs := range params {
			v[k] = vs
		}
		if s := q.Get("state"); s != "" {
			v.Set("state", s)
		}
		v.Set("iss", p.issuer) // RFC 9207
		u.RawQuery = v.Encode()
		http.Redirect(w, r, u.String(), http.StatusSeeOther)
	}
	fail := func(code, desc string) { back(url.Values{"error": {code}, "error_description": {desc}}) }

	if q.Get("response_type") != "code" {
		fail("unsupported_response_type", "only the authorization code flow is supported")
		return
	}
	scope := strings.Fields(q.Get("scope"))
	if !slices.Contains(scope, "openid") {
		fail("invalid_scope", "the openid scope is required")
		return
	}
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	if challenge != "" && method == "" {
		method = "plain"
	}
	if challenge == "" && method != "" || method != "" && method != "S256" && method != "plain" {
		fail("invalid_request", "unsupported or incomplete PKCE parameters")
		return
	}

	now := p.now()
	code := randomString(32)
	p.mu.Lock()
	p.codes[code] = &grant{
		redirectURI: redirect, scope: strings.Join(scope, " "), nonce: q.Get("nonce"),
		challenge: challenge, method: method, user: p.user,
		authTime: now, expires: now.Add(codeLifetime),
	}
	p.authorize++
	p.mu.Unlock()
	back(url.Values{"code": {code}})
}

// token exchanges an authorization code (RFC 6749 4.1.3, RFC 7636 4.6).
func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request", "malformed body")
		return
	}
	id, secret, basic := r.BasicAuth()
	if basic {
		// client_secret_basic form-encodes both parts before base64 (RFC 6749 2.3.1).
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
		if r.PostForm.Get("client_secret") != "" {
			tokenError(w, http.StatusBadRequest, "invalid_request", "more than one client authentication method")
			return
		}
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != p.client.ClientID || subtle.ConstantTimeCompare([]byte(secret), []byte(p.client.ClientSecret)) != 1 {
		if basic {
			w.Header().Set("WWW-Authenticate", `Basic realm="token"`)
		}
		tokenError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	if r.PostForm.Get("grant_type") != "authorization_code" {
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "only authorization_code is supported")
		return
	}

	now := p.now()
	p.mu.Lock()
	g, ok := p.codes[r.PostForm.Get("code")]
	switch {
	case !ok || now.After(g.expires):
		p.mu.Unlock()
		tokenError(w, http.StatusBadRequest, "invalid_grant", "unknown or expired code")
		return
	case g.used:
		// A code used twice may have been stolen: what it gave is revoked (RFC 6749 4.1.2).
		for _, t := range g.accessTokens {
			delete(p.tokens, t)
		}
		p.mu.Unlock()
		tokenError(w, http.StatusBadRequest, "invalid_grant", "code already used")
		return
	}
	g.used = true
	p.mu.Unlock()

	if r.PostForm.Get("redirect_uri") != g.redirectURI {
		tokenError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri differs from the authorization request's")
		return
	}
	if err := checkPKCE(g.challenge, g.method, r.PostForm.Get("code_verifier")); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_grant", err.Error())
		return
	}

	claims := map[string]any{
		"iss": p.issuer, "sub": g.user.Subject, "aud": p.client.ClientID,
		"iat": now.Unix(), "exp": now.Add(tokenLifetime).Unix(), "auth_time": g.authTime.Unix(),
	}
	if g.nonce != "" {
		claims["nonce"] = g.nonce
	}
	for k, v := range userClaims(g.user, g.scope) {
		claims[k] = v
	}
	idToken, err := p.sign(claims)
	if err != nil {
		tokenError(w, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	access := randomString(32)
	p.mu.Lock()
	p.tokens[access] = tokenGrant{user: g.user, scope: g.scope, expires: now.Add(tokenLifetime)}
	g.accessTokens = append(g.accessTokens, access)
	p.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": access, "token_type": "Bearer", "expires_in": int(tokenLifetime.Seconds()),
		"id_token": idToken, "scope": g.scope,
	})
}

// checkPKCE compares the verifier with the challenge of the authorization
// request; a verifier without a challenge is refused too (RFC 7636 4.6,
// OAuth 2.1).
func checkPKCE(challenge, method, verifier string) error {
	switch {
	case challenge == "" && verifier == "":
		return nil
	case challenge == "":
		return errors.New("code_verifier sent but no code_challenge was")
	case verifier == "":
		return errors.New("code_verifier is required")
	}
	got := verifier
	if method == "S256" {
		sum := sha256.Sum256([]byte(verifier))
		got = b64(sum[:])
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) != 1 {
		return errors.New("code_verifier does not match the code_challenge")
	}
	return nil
}

// userinfo answers the user's claims for a bearer access token (OIDC Core 5.3).
func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	p.mu.Lock()
	g, known := p.tokens[token]
	p.mu.Unlock()
	if !ok || !known || p.now().After(g.expires) {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		http.Error(w, "invalid token", http.StatusUnauthorized)
		return
	}
	claims := userClaims(g.user, g.scope)
	claims["sub"] = g.user.Subject
	writeJSON(w, http.StatusOK, claims)
}

// userClaims are the claims the granted scopes release (OIDC Core 5.4).
func userClaims(u User, scope string) map[string]any {
	out := map[string]any{}
	scopes := strings.Fields(scope)
	if slices.Contains(scopes, "email") && u.Email != "" {
		out["email"] = u.Email
		out["email_verified"] = u.EmailVerified
	}
	if slices.Contains(scopes, "profile") {
		if u.Name != "" {
			out["name"] = u.Name
		}
		if u.Nickname != "" {
			out["nickname"] = u.Nickname
		}
	}
	return out
}

// sign makes a compact RS256 JWS of claims.
func (p *Provider) sign(claims map[string]any) (string, error) {
	header, err := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": p.kid})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := b64(header) + "." + b64(payload)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, p.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return input + "." + b64(sig), nil
}

func tokenError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("oidcprovider: no randomness: %v", err))
	}
	return b64(b)
}
