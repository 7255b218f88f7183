// Package oryconfig writes the layers the launcher puts over Kratos' and
// Hydra's committed configuration (ory-config/<product>/<product>.yml, then
// <product>.dev.yml): this run's ports and paths, then a private overlay with
// the generated secrets, the hooks that report to the identity edge and the
// social sign-in providers. The stack package writes its files and passes
// its Flags.
package oryconfig

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"github.com/learnplatform/platform/stack/secrets"
)

type m = map[string]any

// Run is one run of the stack as Kratos' and Hydra's layers see it.
type Run struct {
	// Root is the checkout: ory-config/ is read from it.
	Root string
	// RunDir receives the overlays with this run's ports and paths,
	// SecretsDir (private) those holding secrets.
	RunDir, SecretsDir string
	// The ports on 127.0.0.1 the layers name.
	KratosPublic, KratosAdmin, HydraPublic, HydraAdmin, MailpitSMTP int
	Identity, Consent, Tutor                                        int
	// Secrets are the stack's generated credentials.
	Secrets secrets.Secrets
	// Providers are social sign-in providers besides those the environment
	// configures (see ProviderEnv).
	Providers []OIDCProvider
}

// Flags are product's -c flags, in the order the layers apply: the base
// file, the dev overlay, this run's overlay, the secrets overlay.
func (r Run) Flags(product string) []string {
	dir := filepath.Join(r.Root, "ory-config", product)
	var args []string
	for _, f := range []string{
		filepath.Join(dir, product+".yml"), filepath.Join(dir, product+".dev.yml"),
		filepath.Join(r.RunDir, product+".local.yml"), filepath.Join(r.SecretsDir, product+".yml"),
	} {
		args = append(args, "-c", f)
	}
	return args
}

// Files are this run's layers to write, by path: the overlays Flags names
// after the committed files. getenv reads the social sign-in providers'
// client credentials (os.Getenv).
func (r Run) Files(getenv func(string) string) (map[string]map[string]any, error) {
	social, err := r.kratosSocial(getenv)
	if err != nil {
		return nil, err
	}
	return map[string]map[string]any{
		filepath.Join(r.RunDir, "kratos.local.yml"): r.kratosLocal(),
		filepath.Join(r.RunDir, "hydra.local.yml"):  r.hydraLocal(),
		filepath.Join(r.SecretsDir, "kratos.yml"):   mergeTrees(r.kratosSecrets(), social),
		filepath.Join(r.SecretsDir, "hydra.yml"):    r.hydraSecrets(),
	}, nil
}

func local(port int) string { return fmt.Sprintf("http://127.0.0.1:%d/", port) }

// kratosLocal is the overlay with this run's ports and paths, layered over
// ory-config/kratos/kratos.yml and kratos.dev.yml.
func (r Run) kratosLocal() m {
	edge := local(r.Identity)
	ui := func(path string) m { return m{"ui_url": edge + path} }
	return m{
		"serve": m{
			"public": m{"host": "127.0.0.1", "port": r.KratosPublic, "base_url": edge},
			"admin":  m{"host": "127.0.0.1", "port": r.KratosAdmin, "base_url": local(r.KratosAdmin)},
		},
		"identity": m{"schemas": []m{{
			"id":  "default",
			"url": "file://" + filepath.Join(r.Root, "ory-config", "kratos", "identity.schema.json"),
		}}},
		"selfservice": m{
			"default_browser_return_url": edge + "welcome",
			"allowed_return_urls":        []string{edge, local(r.Tutor), local(r.Consent), local(r.HydraPublic)},
			"flows": m{
				"error":        ui("error"),
				"login":        ui("login"),
				"registration": ui("registration"),
				"verification": m{"ui_url": edge + "verification", "after": m{"default_browser_return_url": edge + "welcome"}},
				"recovery":     ui("recovery"),
				"settings":     ui("settings"),
				"logout":       m{"after": m{"default_browser_return_url": edge + "login"}},
			},
		},
		"courier": m{"smtp": m{"connection_uri": fmt.Sprintf("smtp://127.0.0.1:%d/?disable_starttls=true", r.MailpitSMTP)}},
	}
}

// hydraLocal is the overlay with this run's ports, layered over
// ory-config/hydra/hydra.yml and hydra.dev.yml.
func (r Run) hydraLocal() m {
	consent := local(r.Consent)
	tutor := strings.TrimSuffix(local(r.Tutor), "/")
	return m{
		"serve": m{
			// The learner web app on the tutor's origin calls the token
			// endpoint (code exchange, refresh, revocation) from the browser.
			"public": m{"host": "127.0.0.1", "port": r.HydraPublic,
				"cors": m{"enabled": true, "allowed_origins": []string{tutor}}},
			"admin": m{"host": "127.0.0.1", "port": r.HydraAdmin},
		},
		"urls": m{
			"self":                 m{"issuer": local(r.HydraPublic)},
			"login":                consent + "login",
			"consent":              consent + "consent",
			"logout":               consent + "logout",
			"error":                consent + "error",
			"post_logout_redirect": local(r.Tutor),
		},
		"oauth2": m{"token_hook": m{"url": consent + "token-hook"}},
	}
}

// kratosSecrets holds Kratos' secrets and the after-hooks that report to the
// identity edge's auth event log: the hooks carry the shared secret, and
// Kratos takes hook lists from files only (an environment variable holding
// one is read as a string, not a list), so they live in this private
// overlay (production mounts its own; docs/operations.md).
func (r Run) kratosSecrets() m {
	hooks := KratosHooks(local(r.Identity),
		"file://"+filepath.Join(r.Root, "ory-config", "kratos", "hooks", "auth-event.jsonnet"),
		r.Secrets.KratosHook)
	return mergeTrees(m{
		"secrets": m{
			"default": []string{r.Secrets.KratosDefault},
			"cookie":  []string{r.Secrets.KratosCookie},
			"cipher":  []string{r.Secrets.KratosCipher},
		},
	}, hooks)
}

// KratosHooks is the part of Kratos' configuration that makes its flows
// report to the identity edge's auth event log: edge is the edge's base URL
// as Kratos reaches it, body the URL of ory-config/kratos/hooks/
// auth-event.jsonnet as Kratos reads it, secret the shared X-Hook-Secret.
// Each list keeps the hooks kratos.yml runs (session, show_verification_ui,
// revoke_active_sessions), since a later file replaces a list whole.
// docker-compose.yml's kratos-hooks config carries the same lists
// (e2e/compose compares them).
func KratosHooks(edge, body, secret string) map[string]any {
	hook := func(event string) m {
		return m{"hook": "web_hook", "config": m{
			"url":      edge + "hooks/kratos/" + event,
			"method":   "POST",
			"body":     body,
			"response": m{"ignore": true}, // asynchronous: the log never slows a flow
			"auth": m{"type": "api_key", "config": m{
				"in": "header", "name": "X-Hook-Secret", "value": secret,
			}},
		}}
	}
	after := func(hooks ...m) m { return m{"hooks": hooks} }
	return m{
		"selfservice": m{"flows": m{
			"registration": m{"after": m{
				"password": after(hook("registration"), m{"hook": "session"}, m{"hook": "show_verification_ui"}),
				"oidc":     after(hook("registration"), m{"hook": "session"}),
			}},
			// Password sign-ins are counted by the edge itself (lockout).
			"login":        m{"after": m{"oidc": after(hook("login"))}},
			"verification": m{"after": after(hook("verification"))},
			"recovery":     m{"after": after(hook("recovery"))},
			"settings": m{"after": m{
				"password": after(hook("settings-password"), m{"hook": "revoke_active_sessions"}),
				"profile":  after(hook("settings-profile")),
				"oidc":     after(hook("settings-oidc")),
			}},
		}},
	}
}

func (r Run) hydraSecrets() m {
	return m{
		"secrets": m{
			"system": []string{r.Secrets.HydraSystem},
			"cookie": []string{r.Secrets.HydraCookie},
		},
		"oauth2": m{"token_hook": m{"auth": m{"type": "api_key", "config": m{
			"in": "header", "name": "X-Token-Hook-Secret", "value": r.Secrets.TokenHook,
		}}}},
	}
}

// OIDCProvider is one social sign-in provider, as Kratos'
// selfservice.methods.oidc.config.providers lists it.
type OIDCProvider struct {
	// ID names the provider in Kratos' URLs (its callback is
	// <edge>/self-service/methods/oidc/callback/<ID>) and in the identities'
	// oidc credentials; changing it orphans the links made under it.
	ID string
	// Provider is Kratos' provider type: google, github, generic, ...
	Provider string
	// Label names the provider on its button ("Sign in with <Label>").
	Label string
	// IssuerURL is where a generic provider's discovery starts.
	IssuerURL string
	// ClientID and ClientSecret are the client registered at the provider.
	ClientID     string
	ClientSecret string
	// Mapper is a jsonnet file in ory-config/kratos/oidc/ ("google.jsonnet")
	// or a URL Kratos reads (file://, base64://, https://).
	Mapper string
	// Scope is what is asked for besides openid.
	Scope []string
}

// envProviders are the providers the platform ships mappers for. Each is
// enabled when its client id and secret are both in the launcher's
// environment; without them its button does not show.
var envProviders = []struct {
	OIDCProvider
	idVar, secretVar string
}{
	{OIDCProvider{ID: "google", Provider: "google", Label: "Google", Mapper: "google.jsonnet", Scope: []string{"email", "profile"}},
		"GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET"},
	{OIDCProvider{ID: "github", Provider: "github", Label: "GitHub", Mapper: "github.jsonnet", Scope: []string{"user:email"}},
		"GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET"},
}

// ProviderEnv lists the environment variables that enable social sign-in
// providers in the launcher (a test that wants only its own clears them).
func ProviderEnv() []string {
	var out []string
	for _, p := range envProviders {
		out = append(out, p.idVar, p.secretVar)
	}
	return out
}

// oidcProviders are this run's social sign-in providers: the shipped ones
// the environment (getenv) configures, then Run.Providers.
func (r Run) oidcProviders(getenv func(string) string) ([]OIDCProvider, error) {
	var out []OIDCProvider
	for _, e := range envProviders {
		id, secret := getenv(e.idVar), getenv(e.secretVar)
		if id == "" && secret == "" {
			continue
		}
		if id == "" || secret == "" {
			return nil, fmt.Errorf("%s sign-in: set both %s and %s, or neither", e.Label, e.idVar, e.secretVar)
		}
		p := e.OIDCProvider
		p.ClientID, p.ClientSecret = id, secret
		out = append(out, p)
	}
	out = append(out, r.Providers...)
	seen := map[string]bool{}
	for _, p := range out {
		if p.ID == "" || seen[p.ID] {
			return nil, fmt.Errorf("social sign-in provider id %q is empty or used twice", p.ID)
		}
		seen[p.ID] = true
	}
	return out, nil
}

// kratosSocial is the overlay with this run's social sign-in providers. It
// holds client secrets, so it goes into the secrets overlay. With no
// provider it is empty: kratos.yml's empty list stands and no button shows.
func (r Run) kratosSocial(getenv func(string) string) (m, error) {
	providers, err := r.oidcProviders(getenv)
	if err != nil || len(providers) == 0 {
		return m{}, err
	}
	var list []m
	for _, p := range providers {
		mapper := p.Mapper
		if !strings.Contains(mapper, "://") {
			path := filepath.Join(r.Root, "ory-config", "kratos", "oidc", mapper)
			if _, err := os.Stat(path); err != nil {
				return nil, fmt.Errorf("social sign-in provider %s: mapper: %w", p.ID, err)
			}
			mapper = "file://" + path
		}
		entry := m{
			"id": p.ID, "provider": p.Provider, "label": p.Label,
			"client_id": p.ClientID, "client_secret": p.ClientSecret,
			"mapper_url": mapper, "scope": p.Scope,
		}
		if p.IssuerURL != "" {
			entry["issuer_url"] = p.IssuerURL
		}
		list = append(list, entry)
	}
	return m{"selfservice": m{"methods": m{"oidc": m{"enabled": true, "config": m{"providers": list}}}}}, nil
}

// mergeTrees layers src over dst as Kratos layers config files: maps merge
// key by key, anything else (lists too) is replaced.
func mergeTrees(dst, src m) m {
	out := maps.Clone(dst)
	if out == nil {
		out = m{}
	}
	for k, v := range src {
		if sm, ok := v.(m); ok {
			if dm, ok := out[k].(m); ok {
				out[k] = mergeTrees(dm, sm)
				continue
			}
		}
		out[k] = v
	}
	return out
}
