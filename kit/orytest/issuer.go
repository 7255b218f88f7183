package orytest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Issuer stands in for Hydra as the issuer of access tokens: it publishes
// an RSA key at /.well-known/jwks.json and signs RS256 JWTs with it.
type Issuer struct {
	Server *httptest.Server
	key    *rsa.PrivateKey
}

const issuerKID = "fake-hydra-key"

var (
	keyOnce sync.Once
	key     *rsa.PrivateKey
)

// NewIssuer starts the issuer's JWKS endpoint, closed when the test ends.
func NewIssuer(t testing.TB) *Issuer {
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		key = k
	})
	i := &Issuer{key: key}
	b64 := base64.RawURLEncoding.EncodeToString
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]any{{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": issuerKID,
		"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
	}}})
	i.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/jwks.json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(jwks)
	}))
	t.Cleanup(i.Server.Close)
	return i
}

// URL is the issuer as tokens name it in iss.
func (i *Issuer) URL() string { return i.Server.URL + "/" }

// JWKSURL is where the keys are.
func (i *Issuer) JWKSURL() string { return i.Server.URL + "/.well-known/jwks.json" }

// Sign returns an RS256 JWT of claims.
func (i *Issuer) Sign(claims map[string]any) string {
	b64 := base64.RawURLEncoding.EncodeToString
	header, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": issuerKID})
	payload, _ := json.Marshal(claims)
	input := b64(header) + "." + b64(payload)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, i.key, crypto.SHA256, sum[:])
	if err != nil {
		panic(err)
	}
	return input + "." + b64(sig)
}

// AccessToken returns the claims of an access token Hydra would issue to
// the web app for a signed-in user with audience: iss, sub, aud,
// client_id, iat, exp (6 h), jti, scp, role and the Kratos session_id.
// Tests change or delete claims before Sign.
func (i *Issuer) AccessToken(sub, sessionID, role, audience string) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": i.URL(), "sub": sub, "aud": []string{audience}, "client_id": "tutor-web",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(6 * time.Hour).Unix(), "jti": NewID(),
		"scp": []string{"openid", "email", "profile"}, "role": role, "session_id": sessionID,
		"email": "someone@example.org", "email_verified": true,
	}
}
