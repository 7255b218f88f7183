// Package config is the consent app's configuration file (consent.yml) and
// the OAuth2 clients file it names (clients.yaml, read into consent.Client
// specs): where it listens, the infrastructure it talks to (Kratos, Hydra,
// tracing) and the secrets it takes from the environment. It names the
// infrastructure, so it lives here and not in the domain package;
// cmd/consent loads it and wires the app from it, and the deployment checks
// in e2e load the shipped files with it.
package config

import (
	"path/filepath"
	"time"

	kitconfig "github.com/learnplatform/platform/kit/config"
	"github.com/learnplatform/platform/kit/tracing"
)

// Config is the consent service's configuration file.
type Config struct {
	// Listen is the address the consent app serves on.
	Listen string `yaml:"listen"`
	// OpsListen, when set, serves /metrics and /readyz with details on a
	// separate address for Prometheus and probes; the public port then
	// keeps them to itself (production configs set it).
	OpsListen string `yaml:"ops_listen"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// PublicURL is where browsers reach the consent app (Hydra's
	// urls.login, urls.consent and urls.logout point below it).
	PublicURL kitconfig.URL `yaml:"public_url" required:"true"`
	// LoginURL is the hosted login page that signs a browser in to Kratos.
	LoginURL kitconfig.URL `yaml:"login_url" required:"true"`
	// ClientsFile lists the OAuth2 clients applied to Hydra at start-up,
	// relative to this file's directory unless absolute.
	ClientsFile string `yaml:"clients_file"`
	// RememberFor is how long Hydra remembers a login or consent the user
	// asked to be remembered.
	RememberFor time.Duration `yaml:"remember_for"`
	// TokenHookSecret authenticates Hydra's calls of the token hook;
	// placeholders and weak values are refused (kit/config.CheckSecret).
	TokenHookSecret string `yaml:"token_hook_secret" env:"CONSENT_TOKEN_HOOK_SECRET" required:"true" secret:"true"`
	// Kratos locates Kratos' APIs (sessions, identities).
	Kratos Kratos `yaml:"kratos"`
	// Hydra locates Hydra's admin API (login, consent and logout requests).
	Hydra Hydra `yaml:"hydra"`
	// Tracing sends OpenTelemetry traces to an OTLP/HTTP collector; off
	// unless tracing.otlp_endpoint (or OTEL_EXPORTER_OTLP_ENDPOINT) is set.
	Tracing tracing.Config `yaml:"tracing"`
}

// Kratos locates Kratos' public and admin APIs.
type Kratos struct {
	PublicURL kitconfig.URL `yaml:"public_url" required:"true"`
	AdminURL  kitconfig.URL `yaml:"admin_url" required:"true"`
}

// Hydra locates Hydra's admin API.
type Hydra struct {
	AdminURL kitconfig.URL `yaml:"admin_url" required:"true"`
}

// Default holds the values a file may leave out.
func Default() Config {
	return Config{Listen: ":4456", LogLevel: "info", RememberFor: 30 * 24 * time.Hour}
}

// Validate checks what the field types cannot.
func (c *Config) Validate() error {
	if c.RememberFor < 0 {
		return kitconfig.Problem("remember_for", "must not be negative")
	}
	return nil
}

// ClientsPath resolves ClientsFile against the config file's directory.
func (c *Config) ClientsPath(configPath string) string {
	if c.ClientsFile == "" || filepath.IsAbs(c.ClientsFile) {
		return c.ClientsFile
	}
	return filepath.Join(filepath.Dir(configPath), c.ClientsFile)
}
