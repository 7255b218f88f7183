package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	kitconfig "github.com/learnplatform/platform/kit/config"
)

// The operator's policy file in ory-config/ must load as committed.
func TestCommittedPolicyLoads(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "identity.yml")
	abs, _ := filepath.Abs("../../ory-config/identity.yml")
	c := Default()
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
	c := Default()
	c.PolicyFile = "policy.yml"
	err := c.LoadPolicy(filepath.Join(dir, "identity.yml"))
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "password_policy.profiles.composition.min_lenght: unknown key") {
		t.Fatalf("got %v", err)
	}
}

// The hook secret guards /hooks/kratos/*: the example's placeholder, or a
// weak value, stops start-up with one line naming the variable.
func TestHookSecretPlaceholderRefused(t *testing.T) {
	src := []byte(minimalConfig)
	env := map[string]string{"IDENTITY_DATABASE_URL": "postgres://u:p@127.0.0.1:5432/platform", "IDENTITY_SMTP_URL": "smtp://127.0.0.1:1025/"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for value, want := range map[string]string{
		"change-me-identity-hook-secret":   "IDENTITY_HOOK_SECRET is a placeholder",
		"7f3a9c21":                         "IDENTITY_HOOK_SECRET is too short",
		"abababababababababababab":         "IDENTITY_HOOK_SECRET is too weak",
		"7f3a9c21e4b5d6087f3a9c21e4b5d608": "",
	} {
		env["IDENTITY_HOOK_SECRET"] = value
		c := Default()
		err := kitconfig.LoadBytes("identity.yml", src, &c, lookup)
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

// minimalConfig is a file with every required key (secrets come by env).
const minimalConfig = "public_url: http://127.0.0.1:4455/\npolicy_file: p.yml\ntoken_issuer: http://127.0.0.1:4444/\n" +
	"kratos: {public_url: http://127.0.0.1:4433/, admin_url: http://127.0.0.1:4434/}\n" +
	"hydra: {admin_url: http://127.0.0.1:4445/}\n"

// load reads src with the secrets in the environment.
func load(src string) (Config, error) {
	env := map[string]string{"IDENTITY_DATABASE_URL": "postgres://u:p@127.0.0.1:5432/platform", "IDENTITY_SMTP_URL": "smtp://127.0.0.1:1025/",
		"IDENTITY_HOOK_SECRET": "7f3a9c21e4b5d6087f3a9c21e4b5d608"}
	c := Default()
	err := kitconfig.LoadBytes("identity.yml", []byte(src), &c, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	return c, err
}

// Issue 14: the edge accepts only access tokens for its own audience
// (token_audience, default identity-api), and reaches Hydra's admin API to
// end a user's OAuth2 sessions (hydra.admin_url, required).
func TestTokenAudienceAndHydra(t *testing.T) {
	c, err := load(minimalConfig)
	if err != nil {
		t.Fatal(err)
	}
	if c.TokenAudience != "identity-api" || c.Hydra.AdminURL.String() != "http://127.0.0.1:4445/" {
		t.Fatalf("audience %q, hydra %q", c.TokenAudience, c.Hydra.AdminURL.String())
	}
	if c, err := load(minimalConfig + "token_audience: admin-api\n"); err != nil || c.TokenAudience != "admin-api" {
		t.Fatalf("%q %v", c.TokenAudience, err)
	}
	hydra := "hydra: {admin_url: http://127.0.0.1:4445/}\n"
	for src, want := range map[string]string{
		minimalConfig + "token_audience: \"\"\n":                                     "key token_audience: must be one audience",
		minimalConfig + "token_audience: \"a b\"\n":                                  "key token_audience: must be one audience",
		strings.Replace(minimalConfig, hydra, "", 1):                                 "key hydra.admin_url: required but not set",
		strings.Replace(minimalConfig, hydra, "hydra: {admin_url: hydra:4445}\n", 1): "key hydra.admin_url: expected an http:// or https:// URL",
		strings.Replace(minimalConfig, hydra, "hydra: {adminurl: x}\n", 1):           "key hydra.adminurl: unknown key",
	} {
		if _, err := load(src); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want %q", err, want)
		}
	}
}

// ops_listen, trusted_proxies and mail_limit_exempt: read, and bad
// networks named by key and index.
func TestOpsListenAndNetworks(t *testing.T) {
	c, err := load(minimalConfig + "ops_listen: 0.0.0.0:9090\ntrusted_proxies: [10.0.0.0/8, 192.168.1.7, \"fd00::/8\"]\nmail_limit_exempt: [127.0.0.0/8]\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.OpsListen != "0.0.0.0:9090" || len(c.TrustedProxies) != 3 {
		t.Fatalf("%q %v", c.OpsListen, c.TrustedProxies)
	}
	nets, err := ParseNetworks("trusted_proxies", c.TrustedProxies)
	if err != nil || nets[1].String() != "192.168.1.7/32" {
		t.Fatalf("%v %v", nets, err)
	}
	for src, want := range map[string]string{
		minimalConfig + "trusted_proxies: [10.0.0.0/8, proxy.local]\n": "key trusted_proxies[1]: \"proxy.local\" is not a CIDR",
		minimalConfig + "mail_limit_exempt: [300.1.1.1/8]\n":           "key mail_limit_exempt[0]",
	} {
		if _, err := load(src); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want %q", err, want)
		}
	}
}

// mail_limits in the policy: defaults 5 per address and 20 per client an
// hour; bad values stop start-up naming the key.
func TestMailLimitsPolicy(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "policy.yml")
	c := Default()
	c.PolicyFile = "policy.yml"
	os.WriteFile(p, []byte("lockout: {max_failures: 5, window: 15m, duration: 30m, ip_throttle: {max_failures: 50, window: 15m, block: 15m}}\n"), 0o600)
	if err := c.LoadPolicy(filepath.Join(dir, "identity.yml")); err != nil {
		t.Fatal(err)
	}
	if m := c.Policy.MailLimits; m.PerAddress != 5 || m.PerIP != 20 || m.Window.Hours() != 1 {
		t.Fatalf("defaults %+v", m)
	}
	os.WriteFile(p, []byte("mail_limits: {per_address: 0}\n"), 0o600)
	if err := c.LoadPolicy(filepath.Join(dir, "identity.yml")); err == nil || !strings.Contains(err.Error(), p+": key mail_limits.per_address: must be at least 1") {
		t.Fatalf("got %v", err)
	}
}
