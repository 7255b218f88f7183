package token

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
)

// signedByServedKey is the fuzz oracle, independent of jwx and of the code
// under test: a compact JWS whose header says RS256 and whose signature
// verifies with crypto/rsa against the key the JWKS serves.
func signedByServedKey(tok string, pub *rsa.PublicKey) bool {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return false
	}
	hj, err := b64.DecodeString(parts[0])
	if err != nil {
		return false
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(hj, &h) != nil || h.Alg != "RS256" {
		return false
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return false
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) == nil
}

// FuzzValidate feeds arbitrary strings as the bearer token: no panic, no
// 500, and no success for anything the served key did not sign.
func FuzzValidate(f *testing.F) {
	fx := newFixture(f)
	a, _, other := testKeys(f)
	if err := fx.v.Ready(context.Background()); err != nil {
		f.Fatal(err)
	}
	now := fx.clock.Now()
	valid := sign(f, jwa.RS256, a, kidA, claimsAt(now))
	parts := strings.Split(valid, ".")
	pkix, _ := x509.MarshalPKIXPublicKey(&a.PublicKey)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix})

	for _, seed := range []string{
		valid,
		sign(f, jwa.RS256, a, kidA, with(claimsAt(now), "role", "admin", "scp", "a b c")),
		sign(f, jwa.RS256, a, kidA, with(claimsAt(now), "exp", nil)),
		sign(f, jwa.RS256, other, kidA, claimsAt(now)),
		sign(f, jwa.HS256, pemKey, kidA, claimsAt(now)),
		sign(f, jwa.HS256, a.N.Bytes(), kidA, claimsAt(now)),
		b64.EncodeToString([]byte(`{"alg":"none","kid":"key-a"}`)) + "." + parts[1] + ".",
		parts[0] + "." + parts[1] + ".",
		parts[0] + ".." + parts[2],
		valid[:len(valid)/2],
		"", ".", "..", "...", "a.b.c", "e30.e30.e30", "eyJhbGciOiJSUzI1NiJ9.e30.",
		"Bearer " + valid, " " + valid, valid + " ", "\x00", "\xff\xfe", "ümlaut.ü.ü",
		`{"payload":"e30","signatures":[]}`,
	} {
		f.Add(seed)
	}

	h := RequireUser(fx.v)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := UserFrom(r.Context()); !ok {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := fx.v.Validate(context.Background(), raw)
		switch {
		case err == nil:
			if !signedByServedKey(raw, &a.PublicKey) {
				t.Fatalf("accepted a token the served key did not sign: %q", raw)
			}
			if u.ID == "" || u.Role == "" {
				t.Fatalf("accepted a token without sub or role: %+v", u)
			}
		case !errors.Is(err, ErrInvalidToken):
			t.Fatalf("keys are cached, yet err = %v", err)
		}

		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header["Authorization"] = []string{"Bearer " + raw}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		switch w.Code {
		case http.StatusOK:
			if !signedByServedKey(strings.TrimSpace(raw), &a.PublicKey) {
				t.Fatalf("middleware admitted a token the served key did not sign: %q", raw)
			}
		case http.StatusUnauthorized:
			if !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer ") {
				t.Fatalf("401 without a Bearer challenge for %q", raw)
			}
		default:
			t.Fatalf("status %d for %q", w.Code, raw)
		}
	})
}
