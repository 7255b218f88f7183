package stack

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/learnplatform/platform/plugins"
	"github.com/learnplatform/platform/plugins/host"
)

type m = map[string]any

func (s *Stack) local(port int) string { return fmt.Sprintf("http://127.0.0.1:%d/", port) }

// kratosLocal is the overlay with this run's ports and paths, layered over
// ory-config/kratos/kratos.yml and kratos.dev.yml.
func (s *Stack) kratosLocal() m {
	p := s.opts.Ports
	edge := s.local(p.Identity)
	ui := func(path string) m { return m{"ui_url": edge + path} }
	return m{
		"serve": m{
			"public": m{"host": "127.0.0.1", "port": p.KratosPublic, "base_url": edge},
			"admin":  m{"host": "127.0.0.1", "port": p.KratosAdmin, "base_url": s.local(p.KratosAdmin)},
		},
		"identity": m{"schemas": []m{{
			"id":  "default",
			"url": "file://" + filepath.Join(s.opts.Root, "ory-config", "kratos", "identity.schema.json"),
		}}},
		"selfservice": m{
			"default_browser_return_url": edge + "welcome",
			"allowed_return_urls":        []string{edge, s.local(p.Tutor), s.local(p.Consent), s.local(p.HydraPublic)},
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
		"courier": m{"smtp": m{"connection_uri": fmt.Sprintf("smtp://127.0.0.1:%d/?disable_starttls=true", p.MailpitSMTP)}},
	}
}

// hydraLocal is the overlay with this run's ports, layered over
// ory-config/hydra/hydra.yml and hydra.dev.yml.
func (s *Stack) hydraLocal() m {
	p := s.opts.Ports
	consent := s.local(p.Consent)
	tutor := strings.TrimSuffix(s.local(p.Tutor), "/")
	return m{
		"serve": m{
			// The learner web app on the tutor's origin calls the token
			// endpoint (code exchange, refresh, revocation) from the browser.
			"public": m{"host": "127.0.0.1", "port": p.HydraPublic,
				"cors": m{"enabled": true, "allowed_origins": []string{tutor}}},
			"admin": m{"host": "127.0.0.1", "port": p.HydraAdmin},
		},
		"urls": m{
			"self":                 m{"issuer": s.local(p.HydraPublic)},
			"login":                consent + "login",
			"consent":              consent + "consent",
			"logout":               consent + "logout",
			"error":                consent + "error",
			"post_logout_redirect": s.local(p.Tutor),
		},
		"oauth2": m{"token_hook": m{"url": consent + "token-hook"}},
	}
}

// kratosSecrets holds Kratos' secrets and the after-hooks that report to the
// identity edge's auth event log: the hooks carry the shared secret, and
// Kratos takes hook lists from files only (an environment variable holding
// one is read as a string, not a list), so they live in this private
// overlay (production mounts its own; docs/operations.md).
func (s *Stack) kratosSecrets() m {
	hooks := KratosHooks(s.local(s.opts.Ports.Identity),
		"file://"+filepath.Join(s.opts.Root, "ory-config", "kratos", "hooks", "auth-event.jsonnet"),
		s.secrets.KratosHook)
	return mergeTrees(m{
		"secrets": m{
			"default": []string{s.secrets.KratosDefault},
			"cookie":  []string{s.secrets.KratosCookie},
			"cipher":  []string{s.secrets.KratosCipher},
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

func (s *Stack) hydraSecrets() m {
	return m{
		"secrets": m{
			"system": []string{s.secrets.HydraSystem},
			"cookie": []string{s.secrets.HydraCookie},
		},
		"oauth2": m{"token_hook": m{"auth": m{"type": "api_key", "config": m{
			"in": "header", "name": "X-Token-Hook-Secret", "value": s.secrets.TokenHook,
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
// the environment (getenv) configures, then Options.OIDCProviders.
func (s *Stack) oidcProviders(getenv func(string) string) ([]OIDCProvider, error) {
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
	out = append(out, s.opts.OIDCProviders...)
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
func (s *Stack) kratosSocial(getenv func(string) string) (m, error) {
	providers, err := s.oidcProviders(getenv)
	if err != nil || len(providers) == 0 {
		return m{}, err
	}
	var list []m
	for _, p := range providers {
		mapper := p.Mapper
		if !strings.Contains(mapper, "://") {
			path := filepath.Join(s.opts.Root, "ory-config", "kratos", "oidc", mapper)
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

// serviceConfigs are the platform services' config files for this run.
// Database URLs are not in them: they carry a password and travel by env.
func (s *Stack) serviceConfigs() map[string]m {
	p := s.opts.Ports
	kratos := m{"public_url": s.local(p.KratosPublic), "admin_url": s.local(p.KratosAdmin)}
	services := map[string]m{
		"identity": {
			"listen":              fmt.Sprintf("127.0.0.1:%d", p.Identity),
			"public_url":          s.local(p.Identity),
			"allowed_return_urls": []string{s.local(p.Identity), s.local(p.Tutor), s.local(p.Consent)},
			"policy_file":         s.identityPolicy(),
			"token_issuer":        s.local(p.HydraPublic),
			"mail":                m{"url": fmt.Sprintf("smtp://127.0.0.1:%d/", p.MailpitSMTP)},
			"kratos":              kratos,
			"hydra":               m{"admin_url": s.local(p.HydraAdmin)},
			// Every client of a local stack (browsers, the tests) comes from
			// loopback: the policy's per-client mail limit would count them
			// as one. The limit per recipient still applies.
			"mail_limit_exempt": []string{"127.0.0.0/8", "::1/128"},
		},
		"consent": {
			"listen":       fmt.Sprintf("127.0.0.1:%d", p.Consent),
			"public_url":   s.local(p.Consent),
			"login_url":    s.local(p.Identity) + "login",
			"clients_file": filepath.Join(s.opts.Root, "ory-config", "clients.yaml"),
			"kratos":       kratos,
			"hydra":        m{"admin_url": s.local(p.HydraAdmin)},
		},
		"tutor": {
			"listen":     fmt.Sprintf("127.0.0.1:%d", p.Tutor),
			"public_url": s.local(p.Tutor),
			"hydra":      m{"issuer": s.local(p.HydraPublic)},
			"web":        m{"identity_url": s.local(p.Identity)},
			// The sample course, ingested at the tutor's start, so a fresh
			// stack has something to teach from offline.
			"content": m{"dir": filepath.Join(s.opts.Root, "tutor", "content", "sample")},
			// "plugins" comes from tutorPlugins (it needs the binaries).
		},
	}
	if s.opts.TracingEndpoint != "" {
		for _, cfg := range services {
			cfg["tracing"] = m{"otlp_endpoint": s.opts.TracingEndpoint, "sample_ratio": 1.0}
		}
	}
	return services
}

// DefaultTutorPlugins are the plugins the launcher declares for the
// tutor, from binDir: retriever-postgres on the platform database (its
// DSN is the tutor's own database URL, passed by env, never written into
// the file) and both guardrails, all required, guardrails failing closed.
func DefaultTutorPlugins(binDir string) []host.Spec {
	bin := func(name string) string { return filepath.Join(binDir, name) }
	return []host.Spec{
		{Name: "retriever-postgres", Kind: plugins.KindRetriever, Path: bin("retriever-postgres"), Required: true,
			Env:    map[string]string{"RETRIEVER_POSTGRES_DSN": "${TUTOR_DATABASE_URL}"},
			Config: m{"table": "retriever_chunks", "max_conns": 8}},
		{Name: "guardrail-socratic", Kind: plugins.KindGuardrail, Path: bin("guardrail-socratic"), Required: true},
		{Name: "guardrail-safety", Kind: plugins.KindGuardrail, Path: bin("guardrail-safety"), Required: true},
	}
}

// tutorPlugins is the tutor config's plugins list for this run, each
// binary's checksum pinned as the launcher finds it.
func (s *Stack) tutorPlugins() ([]m, error) {
	specs := DefaultTutorPlugins(s.opts.BinDir)
	if s.opts.TutorPlugins != nil {
		specs = s.opts.TutorPlugins(specs)
	}
	out := make([]m, 0, len(specs))
	for _, sp := range specs {
		if sp.SHA256 == "" {
			sum, err := host.FileSHA256(sp.Path)
			if err != nil {
				return nil, fmt.Errorf("tutor plugin %s: %w (run `make build`: it builds the plugins into bin/)", sp.Name, err)
			}
			sp.SHA256 = sum
		}
		out = append(out, pluginYAML(sp))
	}
	return out, nil
}

// pluginYAML is one declaration as the tutor's YAML holds it, without the
// keys left at their defaults.
func pluginYAML(sp host.Spec) m {
	d := m{"name": sp.Name, "kind": sp.Kind, "path": sp.Path, "sha256": sp.SHA256, "required": sp.Required}
	if len(sp.Args) > 0 {
		d["args"] = sp.Args
	}
	if len(sp.Env) > 0 {
		d["env"] = sp.Env
	}
	if sp.Config != nil {
		d["config"] = sp.Config
	}
	if sp.Timeout > 0 {
		d["timeout"] = sp.Timeout.String()
	}
	if sp.FailOpen {
		d["fail_open"] = true
	}
	if sp.MaxResponseBytes > 0 {
		d["max_response_bytes"] = sp.MaxResponseBytes
	}
	return d
}

// writeConfigs renders this run's overlays and service configs into
// <data>/run (and the secret overlays into <data>/secrets).
func (s *Stack) writeConfigs() error {
	runDir := filepath.Join(s.opts.DataDir, "run")
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return err
	}
	social, err := s.kratosSocial(os.Getenv)
	if err != nil {
		return err
	}
	// The tutor's database URL for running bin/tutor by hand (ingest,
	// plugins check) against this stack: `env $(cat .data/secrets/tutor.env) bin/tutor ...`.
	if err := os.WriteFile(filepath.Join(s.opts.DataDir, "secrets", "tutor.env"), []byte("TUTOR_DATABASE_URL="+s.DSN("platform")+"\n"), 0o600); err != nil {
		return err
	}
	// Likewise for the identity CLI (`identity users set-role/set-state`),
	// which writes token revocations and auth events to the platform
	// database: `env $(cat .data/secrets/identity.env) bin/identity users ...`.
	if err := os.WriteFile(filepath.Join(s.opts.DataDir, "secrets", "identity.env"), []byte("IDENTITY_DATABASE_URL="+s.DSN("platform")+"\n"), 0o600); err != nil {
		return err
	}
	kratosSecrets := mergeTrees(s.kratosSecrets(), social)
	files := map[string]m{
		filepath.Join(runDir, "kratos.local.yml"):              s.kratosLocal(),
		filepath.Join(runDir, "hydra.local.yml"):               s.hydraLocal(),
		filepath.Join(s.opts.DataDir, "secrets", "kratos.yml"): kratosSecrets,
		filepath.Join(s.opts.DataDir, "secrets", "hydra.yml"):  s.hydraSecrets(),
	}
	services := s.serviceConfigs()
	if services["tutor"]["plugins"], err = s.tutorPlugins(); err != nil {
		return err
	}
	for name, cfg := range services {
		files[filepath.Join(runDir, name+".yml")] = cfg
	}
	for path, v := range files {
		out, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		header := "# Generated by the stack launcher for this run; edits are overwritten.\n"
		if err := os.WriteFile(path, append([]byte(header), out...), 0o600); err != nil {
			return err
		}
	}
	return nil
}

func (s *Stack) identityPolicy() string {
	if s.opts.IdentityPolicy != "" {
		return s.opts.IdentityPolicy
	}
	return filepath.Join(s.opts.Root, "ory-config", "identity.yml")
}

func (s *Stack) runFile(name string) string { return filepath.Join(s.opts.DataDir, "run", name) }
