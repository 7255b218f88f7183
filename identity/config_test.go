package identity

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
