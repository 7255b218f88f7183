// Package secrets keeps the local stack's generated credentials: made on the
// first start, kept in a 0600 file and reused afterwards, so a restarted
// stack finds its cluster, sessions and signing keys again. The stack
// package loads them; oryconfig writes them into Kratos' and Hydra's layers.
package secrets

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Secrets are the local stack's generated credentials. They are created on
// the first start into <data>/secrets/ (mode 0600) and reused afterwards;
// production reads the same values from its own secret store via env.
type Secrets struct {
	PostgresPassword string `json:"postgres_password"`
	KratosDefault    string `json:"kratos_default"`
	KratosCookie     string `json:"kratos_cookie"`
	KratosCipher     string `json:"kratos_cipher"` // exactly 32 characters
	HydraSystem      string `json:"hydra_system"`
	HydraCookie      string `json:"hydra_cookie"`
	// TokenHook authenticates Hydra's token hook calls to the consent app.
	TokenHook string `json:"token_hook"`
	// KratosHook authenticates Kratos' web hooks to the identity edge.
	KratosHook string `json:"kratos_hook"`
	// IntegratorExample is the secret of clients.yaml's example client.
	IntegratorExample string `json:"integrator_example_client"`
}

// File is the name of the secrets file in its directory.
const File = "generated.json"

// Load reads the secrets of an earlier start from dir and generates any
// that are missing (a newer launcher may know more of them).
func Load(dir string) (Secrets, error) {
	var s Secrets
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return s, err
	}
	path := filepath.Join(dir, File)
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(data, &s); err != nil {
			return s, fmt.Errorf("secrets file %s is damaged (%v); remove it only together with the postgres data directory", path, err)
		}
	case !os.IsNotExist(err):
		return s, err
	}
	changed := false
	for _, f := range []*string{&s.PostgresPassword, &s.KratosDefault, &s.KratosCookie, &s.KratosCipher, &s.HydraSystem, &s.HydraCookie, &s.TokenHook, &s.IntegratorExample, &s.KratosHook} {
		if *f == "" {
			*f = Random(32)
			changed = true
		}
	}
	if !changed {
		return s, nil
	}
	out, _ := json.MarshalIndent(s, "", "  ")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, out, 0o600); err != nil {
		return s, err
	}
	return s, os.Rename(tmp, path)
}

const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// Random returns n characters from a 62-letter alphabet (about 5.95
// bits each, so 32 characters carry over 190 bits).
func Random(n int) string {
	b := make([]byte, n)
	out := make([]byte, n)
	for i := 0; i < n; {
		if _, err := rand.Read(b); err != nil {
			panic(err) // crypto/rand does not fail on Linux
		}
		for _, c := range b {
			if c < 248 && i < n { // 248 = 4*62: no modulo bias
				out[i] = alphabet[int(c)%len(alphabet)]
				i++
			}
		}
	}
	return string(out)
}
