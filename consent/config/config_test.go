package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	kitconfig "github.com/learnplatform/platform/kit/config"
)

// The token hook secret guards the hook that hands out claims: the
// example's placeholder, or a weak value, stops start-up with one line
// naming the variable.
func TestTokenHookSecretPlaceholderRefused(t *testing.T) {
	src := []byte("public_url: http://127.0.0.1:4456/\nlogin_url: http://127.0.0.1:4455/login\n" +
		"kratos: {public_url: http://127.0.0.1:4433/, admin_url: http://127.0.0.1:4434/}\nhydra: {admin_url: http://127.0.0.1:4445/}\n")
	for value, want := range map[string]string{
		"change-me-token-hook-secret":      "CONSENT_TOKEN_HOOK_SECRET is a placeholder",
		"0000000000000000":                 "CONSENT_TOKEN_HOOK_SECRET is one character repeated",
		"7f3a9c21e4b5":                     "CONSENT_TOKEN_HOOK_SECRET is too short",
		"7f3a9c21e4b5d6087f3a9c21e4b5d608": "",
	} {
		c := Default()
		err := kitconfig.LoadBytes("consent.yml", src, &c, env(map[string]string{"CONSENT_TOKEN_HOOK_SECRET": value}))
		if want == "" {
			if err != nil {
				t.Errorf("a random secret: %v", err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "key token_hook_secret: "+want) || strings.Contains(err.Error(), value) {
			t.Errorf("%q: got %v, want %q without the value", value, err, want)
		}
	}
}

// A confidential client's secret is held to the same rules.
func TestClientSecretPlaceholderRefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "clients.yaml")
	os.WriteFile(p, []byte("clients:\n  - id: a1\n    secret_env: A1_SECRET\n    grant_types: [client_credentials]\n"), 0o600)
	for value, want := range map[string]string{
		"change-me-integrator-client-secret": "A1_SECRET is a placeholder",
		"Password1":                          "A1_SECRET is a well-known word",
		"abcabcabcabcabcabcabc":              "A1_SECRET is too weak",
	} {
		_, err := LoadClients(p, env(map[string]string{"A1_SECRET": value}))
		if err == nil || !strings.Contains(err.Error(), "clients[0].secret_env: "+want) || strings.Contains(err.Error(), value) {
			t.Errorf("%q: got %v, want %q without the value", value, err, want)
		}
	}
}
