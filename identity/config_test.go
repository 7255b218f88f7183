package identity

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/learnplatform/platform/kit/config"
)

// The operator's policy file in ory-config/ must load as committed.
func TestCommittedPolicyLoads(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "identity.yml")
	abs, _ := filepath.Abs("../ory-config/identity.yml")
	c := DefaultConfig()
	c.PolicyFile = abs
	if err := c.LoadPolicy(cfgPath); err != nil {
		t.Fatal(err)
	}
	active := c.Policy.PasswordPolicy.Active()
	if active.MinLength != 12 || !active.RequireUpper || !active.RequireSpecial {
		t.Fatalf("active profile: %+v", active)
	}
}

func TestPolicyFileErrorsNameFileAndKey(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "policy.yml")
	os.WriteFile(p, []byte("password_policy:\n  profile: composition\n  profiles:\n    composition:\n      min_lenght: 12\n"), 0o600)
	c := DefaultConfig()
	c.PolicyFile = "policy.yml"
	err := c.LoadPolicy(filepath.Join(dir, "identity.yml"))
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "password_policy.profiles.composition.min_lenght: unknown key") {
		t.Fatalf("got %v", err)
	}
}

// The hook secret guards /hooks/kratos/*: the example's placeholder, or a
// weak value, stops start-up with one line naming the variable.
func TestHookSecretPlaceholderRefused(t *testing.T) {
	src := []byte("public_url: http://127.0.0.1:4455/\npolicy_file: p.yml\ntoken_issuer: http://127.0.0.1:4444/\n" +
		"kratos: {public_url: http://127.0.0.1:4433/, admin_url: http://127.0.0.1:4434/}\n")
	env := map[string]string{"IDENTITY_DATABASE_URL": "postgres://u:p@127.0.0.1:5432/platform", "IDENTITY_SMTP_URL": "smtp://127.0.0.1:1025/"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for value, want := range map[string]string{
		"change-me-identity-hook-secret":   "IDENTITY_HOOK_SECRET is a placeholder",
		"7f3a9c21":                         "IDENTITY_HOOK_SECRET is too short",
		"abababababababababababab":         "IDENTITY_HOOK_SECRET is too weak",
		"7f3a9c21e4b5d6087f3a9c21e4b5d608": "",
	} {
		env["IDENTITY_HOOK_SECRET"] = value
		c := DefaultConfig()
		err := config.LoadBytes("identity.yml", src, &c, lookup)
		if want == "" {
			if err != nil {
				t.Errorf("a random secret: %v", err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "key hook_secret: "+want) || strings.Contains(err.Error(), value) {
			t.Errorf("%q: got %v, want %q without the value", value, err, want)
		}
	}
}
