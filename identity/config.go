// Package identity is the platform's identity edge: the hosted login UI for
// Kratos' self-service flows and the public path to Kratos, where the
// platform enforces what Kratos lacks. This root package holds the domain
// and configuration; sub-packages hold one dependency or protocol each, and
// cmd/identity wires them.
package identity

import "github.com/learnplatform/platform/kit/config"

// Config is the identity service's configuration file.
type Config struct {
	// Listen is the address the edge serves on.
	Listen string `yaml:"listen"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// Database is the platform database (auth event log, lockouts).
	Database Database `yaml:"database"`
	// Kratos locates Ory Kratos' APIs.
	Kratos Kratos `yaml:"kratos"`
}

// Database locates PostgreSQL.
type Database struct {
	URL string `yaml:"url" env:"IDENTITY_DATABASE_URL" required:"true"`
}

// Kratos locates Kratos' public and admin APIs (both private to the edge).
type Kratos struct {
	PublicURL config.URL `yaml:"public_url" required:"true"`
	AdminURL  config.URL `yaml:"admin_url" required:"true"`
}

// DefaultConfig holds the values a file may leave out.
func DefaultConfig() Config {
	return Config{Listen: ":4455", LogLevel: "info"}
}

// Validate checks what the field types cannot.
func (c *Config) Validate() error {
	return config.CheckPostgresURL("database.url", c.Database.URL)
}
