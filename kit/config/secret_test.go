package config

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckSecretRefuses(t *testing.T) {
	cases := []struct{ value, want string }{
		{"", "is empty"},
		{"change-me-identity-hook-secret", `placeholder (it contains "changeme")`},
		{"CHANGE_ME_0123456789abcdefXYZ", `placeholder (it contains "changeme")`},
		{"ChangeMe7f3a9c21e4b5d608a", `placeholder (it contains "changeme")`},
		{"please-replace-me-7f3a9c21e4b5", `placeholder (it contains "replaceme")`},
		{"an-example-hook-secret-value", `placeholder (it contains "example")`},
		{"placeholder-7f3a9c21e4b5d6", `placeholder (it contains "placeholder")`},
		{"insecure-dev-only-7f3a9c21", `placeholder (it contains "insecure")`},
		{"secret", "well-known word"},
		{"Secret123", "well-known word"},
		{"password", "well-known word"},
		{"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "one character repeated"},
		{"0000000000000000", "one character repeated"},
		{"7f3a9c21e4b5", "too short: it needs at least 16 characters"},
		{"abababababababababababab", "fewer than 8 distinct characters"},
		{"1234123412341234", "fewer than 8 distinct characters"},
		{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "fewer than 8 distinct characters"},
	}
	for _, c := range cases {
		err := CheckSecret("IDENTITY_HOOK_SECRET", c.value)
		if err == nil {
			t.Errorf("%q accepted", c.value)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "IDENTITY_HOOK_SECRET ") || !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
			t.Errorf("%q: got %q, want one line naming the variable and %q", c.value, msg, c.want)
		}
		if rest := strings.TrimPrefix(msg, "IDENTITY_HOOK_SECRET "); len(c.value) >= 6 && strings.Contains(rest, c.value) {
			t.Errorf("%q: the error echoes the value: %q", c.value, msg)
		}
	}
}

func TestCheckSecretAcceptsGeneratedValues(t *testing.T) {
	for i := 0; i < 200; i++ {
		b := make([]byte, 32)
		rand.Read(b)
		for _, v := range []string{hex.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b), hex.EncodeToString(b[:16])} {
			if err := CheckSecret("X", v); err != nil {
				t.Fatalf("%q: %v", v, err)
			}
		}
	}
	// Fixed values the repository's tests and manifests use.
	for _, v := range []string{"0123456789abcdef", "0123456789abcdef0123", "unused-by-this-command"} {
		if err := CheckSecret("X", v); err != nil {
			t.Errorf("%q: %v", v, err)
		}
	}
	if err := CheckSecretMin("X", "0123456789abcdef", 32); err == nil || !strings.Contains(err.Error(), "at least 32") {
		t.Errorf("min 32: %v", err)
	}
}

// Every value of deploy/compose/.env.example is refused, by the list of
// literal example values as well as by the rules.
func TestEnvExampleValuesAreRefused(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "..", "deploy", "compose", ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		key, value, ok := strings.Cut(line, "=")
		if line == "" || strings.HasPrefix(line, "#") || !ok || strings.Contains(value, "://") {
			continue
		}
		n++
		if !exampleValues[value] {
			t.Errorf("%s: the example value is missing from exampleValues", key)
		}
		if err := CheckSecret(key, value); err == nil {
			t.Errorf("%s: the example value is accepted", key)
		}
	}
	if n < 10 {
		t.Fatalf("read only %d values from .env.example", n)
	}
}

type hookConfig struct {
	Listen string `yaml:"listen"`
	Hooks  struct {
		Secret string `yaml:"secret" env:"T_HOOK_SECRET" required:"true" secret:"true"`
		Long   string `yaml:"long" secret:"32"`
	} `yaml:"hooks"`
}

func TestLoadRefusesPlaceholderSecrets(t *testing.T) {
	good := "7f3a9c21e4b5d6087f3a9c21e4b5d608"
	var ok hookConfig
	if err := LoadBytes("svc.yml", []byte("hooks: {secret: x}\n"), &ok, env(map[string]string{"T_HOOK_SECRET": good})); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, src string
		env       map[string]string
		key, want string
	}{
		{"env placeholder", "listen: x\n", map[string]string{"T_HOOK_SECRET": "change-me-token-hook-secret"},
			"hooks.secret", `T_HOOK_SECRET is a placeholder (it contains "changeme")`},
		{"env too short", "listen: x\n", map[string]string{"T_HOOK_SECRET": "7f3a9c21"},
			"hooks.secret", "T_HOOK_SECRET is too short"},
		{"env low variety", "listen: x\n", map[string]string{"T_HOOK_SECRET": "abcabcabcabcabcabcabc"},
			"hooks.secret", "T_HOOK_SECRET is too weak"},
		{"file placeholder", "hooks: {secret: secret}\n", nil,
			"hooks.secret", "the file's value is a well-known word"},
		{"own minimum", "hooks: {long: 7f3a9c21e4b5d608}\n", map[string]string{"T_HOOK_SECRET": good},
			"hooks.long", "at least 32 characters"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var cfg hookConfig
			err := LoadBytes("svc.yml", []byte(c.src), &cfg, env(c.env))
			var ce *Error
			if !errors.As(err, &ce) || ce.File != "svc.yml" || ce.Key != c.key || !strings.Contains(ce.Problem, c.want) {
				t.Fatalf("got %v; want key %s and %q", err, c.key, c.want)
			}
			for _, v := range c.env {
				if strings.Contains(err.Error(), v) {
					t.Fatalf("the error echoes the secret: %v", err)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
		})
	}
}
