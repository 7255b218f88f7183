package oryconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// repoRoot is the checkout this package lives in (ory-config/ is read
// from it).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func yamlRoundTrip(t *testing.T, v any) any {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := yaml.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func env(kv ...string) func(string) string {
	vars := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		vars[kv[i]] = kv[i+1]
	}
	return func(k string) string { return vars[k] }
}

// providerIDs reads the provider list out of a rendered overlay, as Kratos
// would see it after YAML.
func providerIDs(t *testing.T, overlay m) ([]map[string]any, []string) {
	t.Helper()
	tree, _ := yamlRoundTrip(t, overlay).(map[string]any)
	get := func(v any, k string) any { mm, _ := v.(map[string]any); return mm[k] }
	list, _ := get(get(get(get(get(tree, "selfservice"), "methods"), "oidc"), "config"), "providers").([]any)
	var out []map[string]any
	var ids []string
	for _, p := range list {
		pm := p.(map[string]any)
		out = append(out, pm)
		ids = append(ids, pm["id"].(string))
	}
	return out, ids
}

// A provider's button shows only when it is configured: the launcher lists
// Google and GitHub only when their client id and secret are in the
// environment, plus what Options add, and nothing at all otherwise.
func TestSocialProvidersOnlyWhenConfigured(t *testing.T) {
	root := repoRoot(t)
	local := OIDCProvider{ID: "local", Provider: "generic", Label: "Local ID", IssuerURL: "http://127.0.0.1:1",
		ClientID: "c", ClientSecret: "s", Mapper: "google.jsonnet", Scope: []string{"email", "profile"}}
	cases := []struct {
		name  string
		env   func(string) string
		extra []OIDCProvider
		want  []string
	}{
		{"nothing configured", env(), nil, nil},
		{"google", env("GOOGLE_CLIENT_ID", "gid", "GOOGLE_CLIENT_SECRET", "gsecret"), nil, []string{"google"}},
		{"github", env("GITHUB_CLIENT_ID", "hid", "GITHUB_CLIENT_SECRET", "hsecret"), nil, []string{"github"}},
		{"both", env("GOOGLE_CLIENT_ID", "gid", "GOOGLE_CLIENT_SECRET", "gs", "GITHUB_CLIENT_ID", "hid", "GITHUB_CLIENT_SECRET", "hs"), nil, []string{"google", "github"}},
		{"a test's own", env(), []OIDCProvider{local}, []string{"local"}},
		{"env and a test's own", env("GITHUB_CLIENT_ID", "hid", "GITHUB_CLIENT_SECRET", "hs"), []OIDCProvider{local}, []string{"github", "local"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := Run{Root: root, Providers: c.extra}
			overlay, err := r.kratosSocial(c.env)
			if err != nil {
				t.Fatal(err)
			}
			if c.want == nil {
				if len(overlay) != 0 {
					t.Fatalf("no provider configured, yet the overlay says %v", overlay)
				}
				return
			}
			providers, ids := providerIDs(t, overlay)
			if strings.Join(ids, ",") != strings.Join(c.want, ",") {
				t.Fatalf("providers %v, want %v", ids, c.want)
			}
			for _, p := range providers {
				mapper, _ := p["mapper_url"].(string)
				path, ok := strings.CutPrefix(mapper, "file://")
				if !ok || !filepath.IsAbs(path) {
					t.Errorf("%s: mapper_url %q is not an absolute file URL", p["id"], mapper)
				} else if _, err := os.Stat(path); err != nil {
					t.Errorf("%s: %v", p["id"], err)
				}
				if p["client_id"] == "" || p["client_secret"] == "" || p["label"] == "" {
					t.Errorf("%s: incomplete: %v", p["id"], p)
				}
			}
			if providers[0]["id"] == "google" && (providers[0]["client_id"] != "gid" || providers[0]["provider"] != "google") {
				t.Errorf("google: %v", providers[0])
			}
			// Rendered with the secrets (client secrets are in it), the
			// overlay keeps Kratos' own secrets beside it.
			merged, _ := yamlRoundTrip(t, mergeTrees(r.kratosSecrets(), overlay)).(map[string]any)
			if merged["secrets"] == nil {
				t.Fatal("merging the providers lost the secrets")
			}
			if _, ids := providerIDs(t, mergeTrees(r.kratosSecrets(), overlay)); len(ids) != len(c.want) {
				t.Fatalf("merged overlay lists %v", ids)
			}
		})
	}
}

func TestSocialProviderMistakes(t *testing.T) {
	root := repoRoot(t)
	for name, c := range map[string]struct {
		env   func(string) string
		extra []OIDCProvider
		want  string
	}{
		"id without secret": {env("GOOGLE_CLIENT_ID", "gid"), nil, "GOOGLE_CLIENT_SECRET"},
		"secret without id": {env("GITHUB_CLIENT_SECRET", "hs"), nil, "GITHUB_CLIENT_ID"},
		"id used twice": {env("GOOGLE_CLIENT_ID", "g", "GOOGLE_CLIENT_SECRET", "s"),
			[]OIDCProvider{{ID: "google", Provider: "generic", ClientID: "c", ClientSecret: "s", Mapper: "google.jsonnet"}}, "used twice"},
		"missing mapper": {env(), []OIDCProvider{{ID: "x", Provider: "generic", ClientID: "c", ClientSecret: "s", Mapper: "nope.jsonnet"}}, "nope.jsonnet"},
	} {
		t.Run(name, func(t *testing.T) {
			r := Run{Root: root, Providers: c.extra}
			if _, err := r.kratosSocial(c.env); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one naming %s", err, c.want)
			}
		})
	}
}

// kratos.yml enables the method with an empty list (Kratos v1.3.1 accepts
// it; e2e/identity's stack runs with it and shows no social button), so a
// deployment only adds providers.
func TestBaseConfigHasNoProviders(t *testing.T) {
	root := repoRoot(t)
	raw, err := os.ReadFile(filepath.Join(root, "ory-config", "kratos", "kratos.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Selfservice struct {
			Methods struct {
				OIDC struct {
					Enabled bool `yaml:"enabled"`
					Config  struct {
						Providers []any `yaml:"providers"`
					} `yaml:"config"`
				} `yaml:"oidc"`
			} `yaml:"methods"`
		} `yaml:"selfservice"`
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	if o := cfg.Selfservice.Methods.OIDC; !o.Enabled || len(o.Config.Providers) != 0 {
		t.Fatalf("kratos.yml oidc: enabled %v, %d providers; want enabled with none", o.Enabled, len(o.Config.Providers))
	}
	for _, e := range envProviders {
		if _, err := os.Stat(filepath.Join(root, "ory-config", "kratos", "oidc", e.Mapper)); err != nil {
			t.Errorf("%s: %v", e.ID, err)
		}
	}
}
