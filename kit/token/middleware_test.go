package token

import (
	"github.com/learnplatform/platform/kit/account"

	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

var b64 = base64.RawURLEncoding

// signRaw signs header.payloadSegment with key by hand (RS256), for headers
// jwx would not produce.
func signRaw(t testing.TB, header map[string]any, payloadSegment string, key *rsa.PrivateKey) string {
	t.Helper()
	hj, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	input := b64.EncodeToString(hj) + "." + payloadSegment
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64.EncodeToString(sig)
}

func payloadSegment(t testing.TB, claims map[string]any) string {
	t.Helper()
	pj, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return b64.EncodeToString(pj)
}

func TestRequireUserAcceptsValidToken(t *testing.T) {
	f := newFixture(t)
	a, _, _ := testKeys(t)
	now := f.clock.Now()
	h := RequireUser(f.v)(echoUser)

	w := do(h, "Bearer "+sign(t, jwa.RS256, a, kidA, claimsAt(now)))
	if w.Code != http.StatusOK {
		t.Fatalf("status %d, body %s", w.Code, w.Body)
	}
	var u User
	if err := json.Unmarshal(w.Body.Bytes(), &u); err != nil {
		t.Fatal(err)
	}
	want := User{
		User:      account.User{ID: "7d3f0a52-identity", Email: "ada@example.org", EmailVerified: true, Role: "instructor", Name: "Ada Lovelace"},
		Scopes:    []string{"openid", "offline_access", "tutor"},
		ExpiresAt: now.Add(time.Hour).UTC(),
	}
	if u.ID != want.ID || u.Email != want.Email || u.EmailVerified != want.EmailVerified || u.Role != want.Role ||
		u.Name != want.Name || strings.Join(u.Scopes, " ") != strings.Join(want.Scopes, " ") || !u.ExpiresAt.Equal(want.ExpiresAt) {
		t.Fatalf("user = %+v, want %+v", u, want)
	}
	if !u.HasScope("tutor") || u.HasScope("admin") {
		t.Fatalf("HasScope wrong for %v", u.Scopes)
	}
}

func TestValidateClaimVariants(t *testing.T) {
	f := newFixture(t)
	a, _, _ := testKeys(t)
	now := f.clock.Now()
	base := claimsAt(now)
	tests := []struct {
		name   string
		claims map[string]any
		check  func(t *testing.T, u User)
	}{
		{"role absent defaults to student", with(base, "role", nil), func(t *testing.T, u User) {
			if u.Role != account.RoleStudent {
				t.Errorf("role %q", u.Role)
			}
		}},
		{"scope string when scp absent", with(base, "scp", nil, "scope", "openid  tutor"), func(t *testing.T, u User) {
			if strings.Join(u.Scopes, ",") != "openid,tutor" {
				t.Errorf("scopes %q", u.Scopes)
			}
		}},
		{"scp as a string", with(base, "scp", "openid tutor"), func(t *testing.T, u User) {
			if strings.Join(u.Scopes, ",") != "openid,tutor" {
				t.Errorf("scopes %q", u.Scopes)
			}
		}},
		{"aud as a single string", with(base, "aud", testAudience), nil},
		{"email_verified absent is false", with(base, "email_verified", nil), func(t *testing.T, u User) {
			if u.EmailVerified {
				t.Error("verified")
			}
		}},
		{"fractional exp", with(base, "exp", float64(now.Unix())+3600.5), nil},
		{"expired within leeway", with(base, "exp", now.Add(-20*time.Second).Unix()), nil},
		{"nbf within leeway", with(base, "nbf", now.Add(20*time.Second).Unix()), nil},
		{"iat within leeway", with(base, "iat", now.Add(20*time.Second).Unix()), nil},
		{"no nbf and no iat", with(base, "nbf", nil, "iat", nil), nil},
		{"unknown claims ignored", with(base, "ext", map[string]any{"role": "admin"}, "amr", []string{"pwd"}), func(t *testing.T, u User) {
			if u.Role != "instructor" {
				t.Errorf("role %q", u.Role)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := f.v.Validate(t.Context(), sign(t, jwa.RS256, a, kidA, tt.claims))
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, u)
			}
		})
	}
}

// TestRequireUserRejectsForgedTokens is the attack table: every entry must
// be 401 with an RFC 6750 challenge and the platform error shape.
func TestRequireUserRejectsForgedTokens(t *testing.T) {
	f := newFixture(t)
	a, _, other := testKeys(t)
	now := f.clock.Now()
	good := claimsAt(now)
	valid := sign(t, jwa.RS256, a, kidA, good)
	parts := strings.Split(valid, ".")

	// The classic key confusion: HS256 keyed with what the verifier knows
	// as the RSA public key, in the encodings a naive library might use.
	pkix, err := x509.MarshalPKIXPublicKey(&a.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemPKIX := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix})
	pemPKCS1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&a.PublicKey)})
	pubJWK, _ := jwk.FromRaw(&a.PublicKey)
	_ = pubJWK.Set(jwk.KeyIDKey, kidA)
	jwkJSON, _ := json.Marshal(pubJWK)

	noneHeader := b64.EncodeToString([]byte(`{"alg":"none","kid":"` + kidA + `","typ":"JWT"}`))
	noneHeaderCaps := b64.EncodeToString([]byte(`{"alg":"None","kid":"` + kidA + `"}`))

	tamperedPayload := func() string {
		c := with(good, "role", "admin")
		return parts[0] + "." + payloadSegment(t, c) + "." + parts[2]
	}()
	tamperedSig := func() string {
		sig, err := b64.DecodeString(parts[2])
		if err != nil {
			t.Fatal(err)
		}
		sig[len(sig)/2] ^= 0x01
		return parts[0] + "." + parts[1] + "." + b64.EncodeToString(sig)
	}()

	// The same signature bytes, spelled with non-zero trailing bits: a
	// lenient decoder would accept it, making tokens malleable.
	nonCanonical := func() string {
		last := parts[2][len(parts[2])-1]
		alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		idx := strings.IndexByte(alphabet, last)
		return parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-1] + string(alphabet[idx|1])
	}()
	if nonCanonical == valid {
		t.Fatal("the signature already ends in an odd sextet; pick another")
	}

	// An attacker's own JWKS, named by jku: it must never be contacted.
	attacker := newJWKSServer(t)
	attacker.serve(t, map[string]*rsa.PrivateKey{"attacker": other})
	otherJWK, _ := jwk.FromRaw(&other.PublicKey)
	_ = otherJWK.Set(jwk.KeyIDKey, kidA)

	tests := []struct {
		name  string
		auth  []string
		error string // the RFC 6750 error code, "" for the bare realm challenge
		// reason is the InvalidError.Reason Validate gives, for
		// invalid_token rows: the forgery fails for the intended cause.
		reason string
	}{
		{"alg none", []string{"Bearer " + noneHeader + "." + parts[1] + "."}, "invalid_token", "algorithm"},
		{"alg none with the original signature", []string{"Bearer " + noneHeader + "." + parts[1] + "." + parts[2]}, "invalid_token", "algorithm"},
		{"alg None", []string{"Bearer " + noneHeaderCaps + "." + parts[1] + "."}, "invalid_token", "algorithm"},
		{"HS256 keyed with the PEM (PKIX) public key", []string{"Bearer " + sign(t, jwa.HS256, pemPKIX, kidA, good)}, "invalid_token", "algorithm"},
		{"HS256 keyed with the PEM (PKCS1) public key", []string{"Bearer " + sign(t, jwa.HS256, pemPKCS1, kidA, good)}, "invalid_token", "algorithm"},
		{"HS256 keyed with the raw modulus", []string{"Bearer " + sign(t, jwa.HS256, a.N.Bytes(), kidA, good)}, "invalid_token", "algorithm"},
		{"HS256 keyed with the public JWK JSON", []string{"Bearer " + sign(t, jwa.HS256, jwkJSON, kidA, good)}, "invalid_token", "algorithm"},
		{"RS512 with the right key", []string{"Bearer " + sign(t, jwa.RS512, a, kidA, good)}, "invalid_token", "algorithm"},
		{"PS256 with the right key", []string{"Bearer " + sign(t, jwa.PS256, a, kidA, good)}, "invalid_token", "algorithm"},
		{"unknown kid", []string{"Bearer " + sign(t, jwa.RS256, other, "no-such-kid", good)}, "invalid_token", "unknown_key"},
		{"no kid", []string{"Bearer " + sign(t, jwa.RS256, a, "", good)}, "invalid_token", "unknown_key"},
		{"different key, same kid", []string{"Bearer " + sign(t, jwa.RS256, other, kidA, good)}, "invalid_token", "signature"},
		{"jku pointing at the attacker's JWKS", []string{"Bearer " + sign(t, jwa.RS256, other, "attacker", good, "jku", attacker.jwksURL())}, "invalid_token", "unknown_key"},
		{"embedded jwk header with the attacker's key", []string{"Bearer " + sign(t, jwa.RS256, other, kidA, good, "jwk", otherJWK)}, "invalid_token", "signature"},
		{"x5u header", []string{"Bearer " + sign(t, jwa.RS256, other, kidA, good, "x5u", attacker.URL+"/cert.pem")}, "invalid_token", "signature"},
		{"crit header", []string{"Bearer " + signRaw(t, map[string]any{"alg": "RS256", "kid": kidA, "crit": []string{"exp"}, "exp": 1}, parts[1], a)}, "invalid_token", "malformed"},
		{"b64 false", []string{"Bearer " + signRaw(t, map[string]any{"alg": "RS256", "kid": kidA, "b64": false, "crit": []string{"b64"}}, "abc", a)}, "invalid_token", "malformed"},
		{"b64 false without crit", []string{"Bearer " + signRaw(t, map[string]any{"alg": "RS256", "kid": kidA, "b64": false}, "abc", a)}, "invalid_token", "malformed"},
		{"wrong iss", []string{"Bearer " + sign(t, jwa.RS256, a, kidA, with(good, "iss", "http://evil.example/"))}, "invalid_token", "issuer"},
		{"iss without the trailing slash", []string{"Bearer " + sign(t, jwa.RS256, a, kidA, with(good, "iss", strings.TrimSuffix(testIssuer, "/")))}, "invalid_token", "issuer"},
		{"no iss", []string{"Bearer " + sign(t, jwa.RS256, a, kidA, with(good, "iss", nil))}, "invalid_token", "issuer"},
		{"wrong aud", []string{"Bearer " + sign(t, jwa.RS256, a, kidA, with(good, "aud", []string{"identity"}))}, "invalid_token", "audience"},
		{"no aud", []string{"Bearer " + sign(t, jwa.RS256, a, kidA, with(good, "aud", nil))}, "invalid_token", "audience"},
		{"expired", []string{"Bearer " + sign(t, jwa.RS256, a, kidA, with(good, "exp", now.Add(-time.Minute).Unix()))}, "invalid_token", "expired"},
		{"nbf in the future", []string{"Bearer " + sign(t, jwa.RS256, a, kidA, with(good, "nbf", now.Add(time.Minute).Unix()))}, "invalid_token", "not_yet_valid"},
		{"iat in the future", []string{"Bearer " + sign(t, jwa.RS256, a, kidA, with(good, "iat", now.Add(time.Minute).Unix()))}, "invalid_token", "not_yet_valid"},
		{"missing exp", []string{"Bearer " + sign(t, jwa.RS256, a, kidA, with(good, "exp", nil))}, "invalid_token", "claims"},
		{"exp as a string", []string{"Bearer " + sign(t, jwa.RS256, a, kidA, with(good, "exp", "9999999999"))}, "invalid_token", "claims"},
		{"exp null", []string{"Bearer " + sign(t, jwa.RS256, a, kidA, with(good, "exp", json.RawMessage("null")))}, "invalid_token", "claims"},
		{"missing sub", []string{"Bearer " + sign(t, jwa.RS256, a, kidA, with(good, "sub", nil))}, "invalid_token", "claims"},
		{"email_verified as a string", []string{"Bearer " + sign(t, jwa.RS256, a, kidA, with(good, "email_verified", "true"))}, "invalid_token", "claims"},
		{"payload not JSON", []string{"Bearer " + signRaw(t, map[string]any{"alg": "RS256", "kid": kidA}, b64.EncodeToString([]byte("not json")), a)}, "invalid_token", "claims"},
		{"tampered payload", []string{"Bearer " + tamperedPayload}, "invalid_token", "signature"},
		{"tampered signature", []string{"Bearer " + tamperedSig}, "invalid_token", "signature"},
		{"truncated", []string{"Bearer " + valid[:len(valid)-10]}, "invalid_token", "signature"},
		{"two segments", []string{"Bearer " + parts[0] + "." + parts[1]}, "invalid_token", "malformed"},
		{"four segments", []string{"Bearer " + valid + ".x"}, "invalid_token", "malformed"},
		{"non-canonical base64 signature", []string{"Bearer " + nonCanonical}, "invalid_token", "malformed"},
		{"padded base64", []string{"Bearer " + valid + "=="}, "invalid_token", "malformed"},
		{"JSON serialization", []string{"Bearer {\"payload\":\"" + parts[1] + "\"}"}, "invalid_token", "malformed"},
		{"garbage", []string{"Bearer garbage"}, "invalid_token", "malformed"},
		{"too long", []string{"Bearer " + strings.Repeat("a", MaxTokenSize+1)}, "invalid_token", "malformed"},
		{"empty bearer", []string{"Bearer "}, "invalid_request", ""},
		{"bearer without token", []string{"Bearer"}, "invalid_request", ""},
		{"token with a space", []string{"Bearer " + parts[0] + " " + parts[1]}, "invalid_request", ""},
		{"Basic credentials", []string{"Basic YWRhOnNlY3JldA=="}, "invalid_request", ""},
		{"token without scheme", []string{valid}, "invalid_request", ""},
		{"two Authorization headers", []string{"Bearer " + valid, "Bearer " + valid}, "invalid_request", ""},
		{"no Authorization header", nil, "", ""},
		{"empty Authorization header", []string{""}, "", ""},
	}
	if len(tests) < 12 {
		t.Fatal("the table must hold at least 12 forgeries")
	}
	h := RequireUser(f.v)(echoUser)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := do(h, tt.auth...)
			if w.Code != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401; body %s", w.Code, w.Body)
			}
			challenge := w.Header().Get("WWW-Authenticate")
			if tt.error == "" {
				if challenge != `Bearer realm="learnplatform"` {
					t.Fatalf("WWW-Authenticate %q", challenge)
				}
			} else if !strings.HasPrefix(challenge, `Bearer error="`+tt.error+`", error_description="`) || !strings.HasSuffix(challenge, `"`) {
				t.Fatalf("WWW-Authenticate %q, want error %q", challenge, tt.error)
			}
			code, _ := errorBody(t, w)
			if tt.error != "" && code != tt.error {
				t.Fatalf("error code %q, want %q", code, tt.error)
			}
			if tt.reason != "" {
				_, err := f.v.Validate(t.Context(), strings.TrimPrefix(tt.auth[0], "Bearer "))
				var ie *InvalidError
				if !errors.As(err, &ie) || ie.Reason != tt.reason {
					t.Fatalf("Validate: %v, want reason %q", err, tt.reason)
				}
			}
		})
	}
	if n := attacker.hits.Load(); n != 0 {
		t.Fatalf("the attacker's jku was fetched %d times", n)
	}
	// The forgeries above cost Hydra at most the first fetch: the one
	// unknown-kid refetch they could trigger is rate-limited away.
	if n := f.srv.hits.Load(); n != 1 {
		t.Fatalf("jwks fetched %d times, want 1", n)
	}
}

func TestValidateErrorKinds(t *testing.T) {
	f := newFixture(t)
	a, _, _ := testKeys(t)
	_, err := f.v.Validate(t.Context(), sign(t, jwa.RS256, a, kidA, with(claimsAt(f.clock.Now()), "exp", f.clock.Now().Add(-time.Hour).Unix())))
	var ie *InvalidError
	if !errors.Is(err, ErrInvalidToken) || !errors.As(err, &ie) || ie.Reason != "expired" {
		t.Fatalf("err = %v", err)
	}
	if errors.Is(err, ErrKeysUnavailable) {
		t.Fatal("an expired token is not a key problem")
	}
}

func TestRequireRole(t *testing.T) {
	f := newFixture(t)
	a, _, _ := testKeys(t)
	now := f.clock.Now()
	adminOnly := RequireUser(f.v)(RequireRole(account.RoleAdmin)(echoUser))
	staff := RequireUser(f.v)(RequireRole(account.RoleInstructor, account.RoleAdmin)(echoUser))
	students := RequireUser(f.v)(RequireRole(account.RoleStudent)(echoUser))

	tok := func(role any) string {
		return "Bearer " + sign(t, jwa.RS256, a, kidA, with(claimsAt(now), "role", role))
	}
	tests := []struct {
		name string
		h    http.Handler
		auth string
		want int
	}{
		{"admin on admin route", adminOnly, tok("admin"), 200},
		{"instructor on admin route", adminOnly, tok("instructor"), 403},
		{"instructor on staff route", staff, tok("instructor"), 200},
		{"admin on staff route", staff, tok("admin"), 200},
		{"no role claim is a student", adminOnly, tok(nil), 403},
		{"no role claim on student route", students, tok(nil), 200},
		{"role case matters", adminOnly, tok("Admin"), 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := do(tt.h, tt.auth)
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.want, w.Body)
			}
			if tt.want == 403 {
				if got := w.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, `Bearer error="insufficient_scope", error_description="`) {
					t.Fatalf("WWW-Authenticate %q", got)
				}
				if code, _ := errorBody(t, w); code != "forbidden" {
					t.Fatalf("code %q", code)
				}
			}
		})
	}
	t.Run("without RequireUser fails closed", func(t *testing.T) {
		w := do(RequireRole(account.RoleAdmin)(echoUser), tok("admin"))
		if w.Code != http.StatusUnauthorized {
			t.Fatalf("status %d", w.Code)
		}
	})
}

func TestRequireVerifiedEmail(t *testing.T) {
	f := newFixture(t)
	a, _, _ := testKeys(t)
	h := RequireUser(f.v)(RequireVerifiedEmail(echoUser))
	now := f.clock.Now()

	if w := do(h, "Bearer "+sign(t, jwa.RS256, a, kidA, claimsAt(now))); w.Code != http.StatusOK {
		t.Fatalf("verified: status %d", w.Code)
	}
	for name, verified := range map[string]any{"false": false, "absent": nil} {
		t.Run(name, func(t *testing.T) {
			w := do(h, "Bearer "+sign(t, jwa.RS256, a, kidA, with(claimsAt(now), "email_verified", verified)))
			if w.Code != http.StatusForbidden {
				t.Fatalf("status %d", w.Code)
			}
			code, msg := errorBody(t, w)
			if code != "email_not_verified" || !strings.Contains(msg, "verify your email") {
				t.Fatalf("error %q %q", code, msg)
			}
		})
	}
	if w := do(RequireVerifiedEmail(echoUser)); w.Code != http.StatusUnauthorized {
		t.Fatalf("without RequireUser: status %d", w.Code)
	}
}

func TestIdentityHeadersAreIgnored(t *testing.T) {
	f := newFixture(t)
	a, _, _ := testKeys(t)
	spoof := map[string]string{
		"X-User-Id":            "admin-user",
		"X-User-Role":          "admin",
		"X-User-Email":         "root@example.org",
		"X-Forwarded-User":     "admin-user",
		"X-Auth-Request-Email": "root@example.org",
		"Remote-User":          "admin-user",
	}
	var seen http.Header
	var user User
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Clone()
		user, _ = UserFrom(r.Context())
	})
	req := func(auth string) *http.Request {
		r, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "/", nil)
		for k, v := range spoof {
			r.Header.Set(k, v)
		}
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		return r
	}

	w := httptest.NewRecorder()
	RequireUser(f.v)(inner).ServeHTTP(w, req(""))
	if w.Code != http.StatusUnauthorized || seen != nil {
		t.Fatalf("identity headers without a token: status %d", w.Code)
	}

	tok := "Bearer " + sign(t, jwa.RS256, a, kidA, with(claimsAt(f.clock.Now()), "role", nil))
	w = httptest.NewRecorder()
	RequireUser(f.v)(inner).ServeHTTP(w, req(tok))
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	if user.ID != "7d3f0a52-identity" || user.Role != account.RoleStudent || user.Email != "ada@example.org" {
		t.Fatalf("user %+v taken from headers?", user)
	}
	for k := range spoof {
		if seen.Get(k) != "" {
			t.Errorf("%s reached the handler", k)
		}
	}

	w = httptest.NewRecorder()
	RequireUser(f.v)(RequireRole(account.RoleAdmin)(inner)).ServeHTTP(w, req(tok))
	if w.Code != http.StatusForbidden {
		t.Fatalf("X-User-Role: admin made a student an admin: status %d", w.Code)
	}
}

func TestChallengeDescriptionsAreHeaderSafe(t *testing.T) {
	if got := headerSafe("a \"quoted\" \\ line\r\nbreak é"); got != "a quoted  linebreak " {
		t.Fatalf("headerSafe = %q", got)
	}
}
