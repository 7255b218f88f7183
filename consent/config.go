// Package consent is Hydra's login, consent and logout provider: it turns a
// Kratos session into OAuth2 tokens carrying the platform's claims. This root
// package holds the domain and configuration; cmd/consent wires it.
package consent

import "github.com/learnplatform/platform/kit/config"

// Config is the consent service's configuration file.
type Config struct {
	// Listen is the address the consent app serves on.
	Listen string `yaml:"listen"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// Kratos locates Kratos' APIs (sessions, identities).
	Kratos Kratos `yaml:"kratos"`
	// Hydra locates Hydra's admin API (login, consent and logout requests).
	Hydra Hydra `yaml:"hydra"`
}

// Kratos locates Kratos' public and admin APIs.
type Kratos struct {
	PublicURL config.URL `yaml:"public_url" required:"true"`
	AdminURL  config.URL `yaml:"admin_url" required:"true"`
}

// Hydra locates Hydra's admin API.
type Hydra struct {
	AdminURL config.URL `yaml:"admin_url" required:"true"`
}

// DefaultConfig holds the values a file may leave out.
func DefaultConfig() Config {
	return Config{Listen: ":4456", LogLevel: "info"}
}
