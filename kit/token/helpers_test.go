package token

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

const (
	testIssuer   = "http://127.0.0.1:4444/"
	testAudience = "tutor"
	kidA         = "key-a"
	kidB         = "key-b"
)

// RSA key generation is slow; every test shares these (read-only).
var (
	keysOnce             sync.Once
	keyA, keyB, keyOther *rsa.PrivateKey
)

func testKeys(t testing.TB) (a, b, other *rsa.PrivateKey) {
	t.Helper()
	keysOnce.Do(func() {
		gen := func() *rsa.PrivateKey {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			return k
		}
		keyA, keyB, keyOther = gen(), gen(), gen()
	})
	return keyA, keyB, keyOther
}

// fakeClock is the injectable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// jwksServer is a stand-in for Hydra's /.well-known/jwks.json.
type jwksServer struct {
	*httptest.Server
	hits atomic.Int64

	mu   sync.Mutex
	body []byte
	down bool
	gate chan struct{} // when set, requests wait for it to close
}

func newJWKSServer(t testing.TB) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/jwks.json" {
			http.NotFound(w, r)
			return
		}
		s.hits.Add(1)
		s.mu.Lock()
		body, down, gate := s.body, s.down, s.gate
		s.mu.Unlock()
		if gate != nil {
			<-gate
		}
		if down {
			// Like a crashed Hydra: the connection dies without an answer.
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
					return
				}
			}
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

// serve publishes the public halves of keys, by kid.
func (s *jwksServer) serve(t testing.TB, keys map[string]*rsa.PrivateKey) {
	t.Helper()
	set := jwk.NewSet()
	for kid, k := range keys {
		pub, err := jwk.FromRaw(&k.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		_ = pub.Set(jwk.KeyIDKey, kid)
		_ = pub.Set(jwk.AlgorithmKey, jwa.RS256)
		_ = pub.Set(jwk.KeyUsageKey, "sig")
		if err := set.AddKey(pub); err != nil {
			t.Fatal(err)
		}
	}
	body, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	s.serveRaw(body)
}

func (s *jwksServer) serveRaw(body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body = body
}

func (s *jwksServer) setDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

func (s *jwksServer) jwksURL() string { return s.URL + "/.well-known/jwks.json" }

type fixture struct {
	srv   *jwksServer
	clock *fakeClock
	v     *Validator
}

// newFixture serves keyA as kidA and returns a validator for testIssuer
// with testAudience on a fake clock.
func newFixture(t testing.TB, mutate ...func(*Config)) *fixture {
	t.Helper()
	a, _, _ := testKeys(t)
	srv := newJWKSServer(t)
	srv.serve(t, map[string]*rsa.PrivateKey{kidA: a})
	clock := newClock()
	cfg := Config{
		Issuer:   testIssuer,
		JWKSURL:  srv.jwksURL(),
		Audience: testAudience,
		Now:      clock.Now,
	}
	for _, m := range mutate {
		m(&cfg)
	}
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{srv: srv, clock: clock, v: v}
}

// claimsAt are the claims of a good token issued at now.
func claimsAt(now time.Time) map[string]any {
	return map[string]any{
		"iss":            testIssuer,
		"sub":            "7d3f0a52-identity",
		"aud":            []string{testAudience},
		"exp":            now.Add(time.Hour).Unix(),
		"iat":            now.Unix(),
		"nbf":            now.Unix(),
		"jti":            "jti-1",
		"client_id":      "learner-web",
		"email":          "ada@example.org",
		"email_verified": true,
		"name":           "Ada Lovelace",
		"role":           "instructor",
		"scp":            []string{"openid", "offline_access", "tutor"},
	}
}

func with(c map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(c))
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		k := kv[i].(string)
		if kv[i+1] == nil {
			delete(out, k)
			continue
		}
		out[k] = kv[i+1]
	}
	return out
}

// sign makes a compact JWS over claims with alg and key (an *rsa.PrivateKey
// or []byte for HMAC), with kid and any extra protected headers.
func sign(t testing.TB, alg jwa.SignatureAlgorithm, key any, kid string, claims map[string]any, extra ...any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	h := jws.NewHeaders()
	if kid != "" {
		_ = h.Set(jws.KeyIDKey, kid)
	}
	_ = h.Set(jws.TypeKey, "JWT")
	for i := 0; i+1 < len(extra); i += 2 {
		if err := h.Set(extra[i].(string), extra[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	tok, err := jws.Sign(payload, jws.WithKey(alg, key, jws.WithProtectedHeaders(h)))
	if err != nil {
		t.Fatal(err)
	}
	return string(tok)
}

// waitFetch waits for the JWKS fetch in flight, if any.
func waitFetch(t testing.TB, v *Validator) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := v.keys.Wait(ctx); err != nil {
		t.Fatal("jwks fetch did not finish")
	}
}

// do runs h on a GET with the given Authorization header values.
func do(h http.Handler, auth ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequestWithContext(context.Background(), http.MethodGet, "/api/v1/thing", nil)
	for _, a := range auth {
		r.Header.Add("Authorization", a)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// echoUser answers 200 with the user RequireUser stored.
var echoUser = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	u, ok := UserFrom(r.Context())
	if !ok {
		http.Error(w, "no user in context", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(u)
})

// errorBody decodes the platform error shape, failing on anything else.
func errorBody(t testing.TB, w *httptest.ResponseRecorder) (code, message string) {
	t.Helper()
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q is not the platform error shape: %v", w.Body.String(), err)
	}
	if body.Error.Code == "" || body.Error.Message == "" {
		t.Fatalf("body %q lacks code or message", w.Body.String())
	}
	return body.Error.Code, body.Error.Message
}
