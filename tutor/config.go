// Package tutor is the AI tutor service: the ChatKit-protocol API, threads
// in PostgreSQL, the agent, the plugin host and the learner web app. This
// root package holds the domain and configuration; sub-packages hold one
// dependency or protocol each, and cmd/tutor wires them.
package tutor

import "github.com/learnplatform/platform/kit/config"

// Config is the tutor service's configuration file.
type Config struct {
	// Listen is the address the tutor serves on.
	Listen string `yaml:"listen"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// Database is the platform database (threads, items, enrollments, usage).
	Database Database `yaml:"database"`
	// Hydra is the token issuer whose keys sign access tokens.
	Hydra Hydra `yaml:"hydra"`
}

// Database locates PostgreSQL.
type Database struct {
	URL string `yaml:"url" env:"TUTOR_DATABASE_URL" required:"true"`
}

// Hydra names the issuer; its JWKS lives at <issuer>/.well-known/jwks.json.
type Hydra struct {
	Issuer config.URL `yaml:"issuer" required:"true"`
}

// DefaultConfig holds the values a file may leave out.
func DefaultConfig() Config {
	return Config{Listen: ":8080", LogLevel: "info"}
}

// Validate checks what the field types cannot.
func (c *Config) Validate() error {
	return config.CheckPostgresURL("database.url", c.Database.URL)
}
