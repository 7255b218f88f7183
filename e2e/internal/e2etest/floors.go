package e2etest

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// RSAVerifyCost is the median time of the bare RSA check of a real access
// token on this machine, now: the one cryptographic step every request to
// the tutor pays, and so a floor the benchmarks compare against. It finds
// the token's key in the stack's Hydra JWKS and returns its size in bits.
func RSAVerifyCost(t testing.TB, token string) (bits int, p50 time.Duration) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %d parts", len(parts))
	}
	pub := hydraKey(t, parts[0])
	signed := []byte(parts[0] + "." + parts[1])
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	times := make([]time.Duration, 2000)
	for i := range times {
		start := time.Now()
		sum := sha256.Sum256(signed)
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
			t.Fatal(err)
		}
		times[i] = time.Since(start)
	}
	slices.Sort(times)
	return pub.N.BitLen(), times[len(times)/2]
}

// hydraKey is the key of the stack's Hydra JWKS that the header names.
func hydraKey(t testing.TB, header string) *rsa.PublicKey {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(header)
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ Kid string }
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	res, err := http.Get(Need(t).URL("hydra") + ".well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var set struct {
		Keys []struct{ Kid, N, E string } `json:"keys"`
	}
	if err := json.NewDecoder(res.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	for _, k := range set.Keys {
		if k.Kid == h.Kid {
			n, _ := base64.RawURLEncoding.DecodeString(k.N)
			e, _ := base64.RawURLEncoding.DecodeString(k.E)
			return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		}
	}
	t.Fatalf("key %q is not in Hydra's JWKS", h.Kid)
	return nil
}
