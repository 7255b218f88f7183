// Package security attacks the running platform from outside, the way a
// hostile client would: forged tokens at every token-checking service,
// other users' data and admin APIs, CSRF on the hosted forms, SQL injection
// strings in every kind of input, header injection and open redirects.
// (XSS in lessons and answers is checked in e2e/web, lockout bypasses in
// e2e/edge, oversized and malformed bodies in e2e/identity and e2e/tutor.)
package security

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/learnplatform/platform/e2e/internal/e2etest"
)

func TestMain(m *testing.M) { e2etest.Main(m) }

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func segment(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b64(b)
}

// hydraKey fetches the first RS256 public key Hydra publishes.
func hydraKey(t *testing.T) (string, *rsa.PublicKey) {
	t.Helper()
	res, err := http.Get(e2etest.Need(t).URL("hydra") + ".well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var set struct {
		Keys []struct{ Kid, N, E, Alg string } `json:"keys"`
	}
	json.NewDecoder(res.Body).Decode(&set)
	for _, k := range set.Keys {
		n, _ := base64.RawURLEncoding.DecodeString(k.N)
		e, _ := base64.RawURLEncoding.DecodeString(k.E)
		return k.Kid, &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	t.Fatal("no key")
	return "", nil
}

// forgeries are tokens a service must refuse, built from a real token.
func forgeries(t *testing.T, real string) map[string]string {
	t.Helper()
	parts := strings.Split(real, ".")
	var claims map[string]any
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	json.Unmarshal(raw, &claims)
	kid, pub := hydraKey(t)
	with := func(change func(map[string]any)) map[string]any {
		c := map[string]any{}
		for k, v := range claims {
			c[k] = v
		}
		change(c)
		return c
	}
	attacker, _ := rsa.GenerateKey(rand.Reader, 2048)
	rs256 := func(key *rsa.PrivateKey, hdr, c map[string]any) string {
		in := segment(t, hdr) + "." + segment(t, c)
		sum := sha256.Sum256([]byte(in))
		sig, _ := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
		return in + "." + b64(sig)
	}
	der, _ := x509.MarshalPKIXPublicKey(pub)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	hs256 := func(secret []byte) string {
		in := segment(t, map[string]any{"alg": "HS256", "typ": "JWT", "kid": kid}) + "." + segment(t, with(func(c map[string]any) { c["role"] = "admin" }))
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(in))
		return in + "." + b64(m.Sum(nil))
	}
	elevated := with(func(c map[string]any) { c["role"] = "admin" })
	return map[string]string{
		"alg none":                  segment(t, map[string]any{"alg": "none", "typ": "JWT"}) + "." + segment(t, elevated) + ".",
		"HS256 with the PEM key":    hs256(pemKey),
		"HS256 with the modulus":    hs256(pub.N.Bytes()),
		"attacker key, Hydra's kid": rs256(attacker, map[string]any{"alg": "RS256", "kid": kid}, elevated),
		"unknown kid":               rs256(attacker, map[string]any{"alg": "RS256", "kid": "nope"}, elevated),
		"embedded jwk": rs256(attacker, map[string]any{"alg": "RS256", "kid": kid, "jwk": map[string]any{
			"kty": "RSA", "n": b64(attacker.N.Bytes()), "e": "AQAB"}}, elevated),
		"role raised, old signature": parts[0] + "." + segment(t, elevated) + "." + parts[2],
		"wrong issuer":               rs256(attacker, map[string]any{"alg": "RS256", "kid": kid}, with(func(c map[string]any) { c["iss"] = "https://evil.example.org/" })),
		"expired":                    rs256(attacker, map[string]any{"alg": "RS256", "kid": kid}, with(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() })),
		"truncated":                  real[:len(real)-10],
		"garbage":                    "not.a.token",
	}
}

func call(t *testing.T, method, u, bearer string, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := res.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return res, b.String()
}

// Every service that takes tokens refuses forged ones with 401 and an RFC
// 6750 challenge, and a real student token cannot reach admin APIs.
func TestForgedTokensAndAdminAPIs(t *testing.T) {
	st := e2etest.Need(t)
	student := e2etest.NewLearner(t, "")
	endpoints := []struct{ method, url, body string }{
		{"GET", st.URL("tutor") + "api/v1/me", ""},
		{"GET", st.URL("tutor") + "api/v1/admin/usage", ""},
		{"POST", st.URL("tutor") + "api/v1/chatkit", `{"type":"threads.list","params":{}}`},
		{"GET", st.URL("identity") + "admin/auth-events", ""},
		{"GET", st.URL("identity") + "admin/lockouts", ""},
		{"PUT", st.URL("identity") + "admin/users/" + student.ID + "/role", `{"role":"admin"}`},
	}
	for name, forged := range forgeries(t, student.AccessToken) {
		for _, ep := range endpoints {
			res, body := call(t, ep.method, ep.url, forged, ep.body)
			if res.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s at %s %s: %d %s", name, ep.method, ep.url, res.StatusCode, body)
			}
		}
	}
	for _, ep := range endpoints[1:2] {
		if res, _ := call(t, ep.method, ep.url, student.AccessToken, ep.body); res.StatusCode != http.StatusForbidden {
			t.Errorf("a student at %s: %d", ep.url, res.StatusCode)
		}
	}
	for _, ep := range endpoints[3:] {
		if res, _ := call(t, ep.method, ep.url, student.AccessToken, ep.body); res.StatusCode != http.StatusForbidden {
			t.Errorf("a student at %s: %d", ep.url, res.StatusCode)
		}
	}
	// Identity headers sent by a client change nothing.
	req, _ := http.NewRequest("GET", st.URL("tutor")+"api/v1/me", nil)
	req.Header.Set("X-User-Id", "00000000-0000-0000-0000-000000000000")
	req.Header.Set("X-User-Role", "admin")
	res, _ := http.DefaultClient.Do(req)
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("X-User-* headers without a token: %d", res.StatusCode)
	}
}

// A registration form posted without the CSRF cookie (from another site)
// creates nothing and answers without a 500.
func TestCSRFOnHostedForms(t *testing.T) {
	st := e2etest.Need(t)
	c := e2etest.NewClient(t)
	_, page := c.Follow(st.URL("identity")+"registration", "")
	action := regexpFind(`action="([^"]+)"`, string(page.Body))
	email := e2etest.UniqueEmail("csrf")
	attacker := e2etest.NewClient(t) // no cookies from the edge
	for _, token := range []string{"", "forged-token"} {
		res := attacker.Do("POST", strings.ReplaceAll(action, "&amp;", "&"), url.Values{
			"csrf_token": {token}, "traits.email": {email}, "password": {e2etest.StrongPassword}, "method": {"password"},
		}, "Accept", "text/html")
		if res.Status >= 500 {
			t.Fatalf("CSRF attempt answered %d", res.Status)
		}
	}
	if ids := e2etest.AdminIdentities(t, email); len(ids) != 0 {
		t.Fatal("a cross-site form post created an account")
	}
}

var injections = []string{
	`' OR '1'='1`, `'; DROP TABLE auth_event_log; --`, `" OR ""="`, `1; SELECT pg_sleep(5)`,
	`\'; DELETE FROM threads; --`, `%27%20OR%201%3D1`, "\x00", `$1`, `) OR 1=1 --`,
}

// SQL injection strings in every input the edge and the tutor take are
// either refused as bad input or treated as plain data; nothing answers
// 500, nothing takes seconds, and the tables are still there.
func TestSQLInjectionStrings(t *testing.T) {
	st := e2etest.Need(t)
	admin := e2etest.NewLearner(t, "admin")
	learner := e2etest.NewLearner(t, "")
	for _, inj := range injections {
		q := url.QueryEscape(inj)
		start := time.Now()
		checks := []struct{ method, url, bearer, body string }{
			{"GET", st.URL("identity") + "admin/auth-events?identity_id=" + q, admin.AccessToken, ""},
			{"GET", st.URL("identity") + "admin/auth-events?type=" + q, admin.AccessToken, ""},
			{"GET", st.URL("identity") + "admin/auth-events?after=" + q, admin.AccessToken, ""},
			{"DELETE", st.URL("identity") + "admin/lockouts/" + url.PathEscape(inj), admin.AccessToken, ""},
			{"PUT", st.URL("identity") + "admin/users/" + url.PathEscape(inj) + "/role", admin.AccessToken, `{"role":"admin"}`},
			{"GET", st.URL("identity") + "login?flow=" + q, "", ""},
			{"GET", st.URL("identity") + "error?id=" + q, "", ""},
			{"GET", st.URL("tutor") + "api/v1/admin/feedback?course=" + q, admin.AccessToken, ""},
			{"GET", st.URL("tutor") + "api/v1/admin/usage?user_id=" + q, admin.AccessToken, ""},
			{"POST", st.URL("tutor") + "api/v1/chatkit", learner.AccessToken, `{"type":"threads.get_by_id","params":{"thread_id":` + jsonString(inj) + `}}`},
			{"POST", st.URL("tutor") + "api/v1/chatkit", learner.AccessToken, `{"type":"items.list","params":{"thread_id":` + jsonString(inj) + `,"after":` + jsonString(inj) + `}}`},
		}
		for _, c := range checks {
			res, body := call(t, c.method, c.url, c.bearer, c.body)
			if res.StatusCode >= 500 {
				t.Errorf("%q at %s %s: %d %s", inj, c.method, c.url, res.StatusCode, body)
			}
		}
		// As a sign-in identifier (the lockout store sees it first).
		cl := e2etest.NewClient(t)
		f := cl.NewAPIFlow("login")
		if res := cl.Do("POST", "/self-service/login?flow="+f.ID, map[string]any{"method": "password", "identifier": inj, "password": "x"}); res.Status >= 500 {
			t.Errorf("%q as identifier: %d %s", inj, res.Status, res.Body)
		}
		if time.Since(start) > 4*time.Second {
			t.Errorf("%q: the requests took %s (a sleep got through?)", inj, time.Since(start))
		}
	}
	// The tables are intact and the strings are data.
	res, body := call(t, "GET", st.URL("identity")+"admin/auth-events?limit=1", admin.AccessToken, "")
	if res.StatusCode != 200 {
		t.Fatalf("auth-events after the injections: %d %s", res.StatusCode, body)
	}
}

// Redirects only go where they are allowed: return_to at the edge, and
// redirect_uri at Hydra (an unregistered one never gets a code).
func TestOpenRedirects(t *testing.T) {
	st := e2etest.Need(t)
	for _, rt := range []string{"https://evil.example.org/", "//evil.example.org/x", "/\\evil.example.org", "http://127.0.0.1:1@evil.example.org/", "javascript:alert(1)"} {
		res, _ := call(t, "GET", st.URL("identity")+"login?return_to="+url.QueryEscape(rt), "", "")
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("return_to %q: %d to %s", rt, res.StatusCode, res.Header.Get("Location"))
		}
	}
	q := url.Values{"client_id": {e2etest.TutorWeb}, "response_type": {"code"}, "scope": {"openid"},
		"redirect_uri": {"https://evil.example.org/callback"}, "state": {"abcdefghijkl"},
		"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}
	res, _ := call(t, "GET", st.URL("hydra")+"oauth2/auth?"+q.Encode(), "", "")
	if loc := res.Header.Get("Location"); strings.HasPrefix(loc, "https://evil.example.org") {
		t.Fatalf("Hydra redirected to an unregistered redirect_uri: %s", loc)
	}
}

// Header injection: CR/LF in values that end up in headers are refused or
// dropped, never reflected as a new header.
func TestHeaderInjection(t *testing.T) {
	st := e2etest.Need(t)
	res, _ := call(t, "GET", st.URL("identity")+"login?return_to="+url.QueryEscape("http://127.0.0.1/\r\nSet-Cookie: pwned=1"), "", "")
	if res.StatusCode != http.StatusBadRequest || res.Header.Get("Set-Cookie") != "" && strings.Contains(res.Header.Get("Set-Cookie"), "pwned") {
		t.Fatalf("return_to with CRLF: %d %v", res.StatusCode, res.Header)
	}
	req, _ := http.NewRequest("GET", st.URL("tutor")+"healthz", nil)
	req.Header.Set("X-Request-Id", "abc\tdef")
	res2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res2.Body.Close()
	if id := res2.Header.Get("X-Request-Id"); strings.ContainsAny(id, "\t\r\n") || id == "abc\tdef" {
		t.Fatalf("a malformed request id was reflected: %q", id)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func regexpFind(expr, s string) string {
	m := regexp.MustCompile(expr).FindStringSubmatch(s)
	if m == nil {
		return ""
	}
	return m[1]
}
