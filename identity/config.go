// Package identity is the platform's identity edge: the hosted login UI for
// Kratos' self-service flows and the only public path to Kratos' public API,
// where the platform enforces what Kratos lacks (password composition rules
// today; lockout, roles and the auth event log with their issues). This root
// package holds the domain (password policy) and configuration; kratos/
// talks to Kratos, web/ serves pages and the proxy, cmd/identity wires them.
package identity

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/learnplatform/platform/kit/config"
)

// Config is the identity service's configuration file.
type Config struct {
	// Listen is the address the edge serves on.
	Listen string `yaml:"listen"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// PublicURL is where browsers reach the edge; Kratos' serve.public.base_url
	// must be the same.
	PublicURL config.URL `yaml:"public_url" required:"true"`
	// AllowedReturnURLs are the only places return_to may point to (prefix
	// match on scheme, host and path). Kratos checks its own list too.
	AllowedReturnURLs []config.URL `yaml:"allowed_return_urls"`
	// PolicyFile is the operator's identity policy (ory-config/identity.yml),
	// relative to this file's directory unless absolute.
	PolicyFile string `yaml:"policy_file" required:"true"`
	// MaxBodyBytes bounds request bodies sent to Kratos through the edge.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// Database is the platform database (auth event log, lockouts).
	Database Database `yaml:"database"`
	// Kratos locates Ory Kratos' APIs.
	Kratos Kratos `yaml:"kratos"`

	// Policy is loaded from PolicyFile.
	Policy Policy `yaml:"-"`
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

// Policy is the operator's identity policy file.
type Policy struct {
	PasswordPolicy PasswordPolicy `yaml:"password_policy"`
}

// DefaultConfig holds the values a file may leave out.
func DefaultConfig() Config {
	return Config{Listen: ":4455", LogLevel: "info", MaxBodyBytes: 64 << 10}
}

// DefaultPolicy is the policy before the operator's file is read.
func DefaultPolicy() Policy {
	return Policy{PasswordPolicy: PasswordPolicy{Profile: ProfileComposition, Profiles: DefaultProfiles()}}
}

// Validate checks what the field types cannot.
func (c *Config) Validate() error {
	if err := config.CheckPostgresURL("database.url", c.Database.URL); err != nil {
		return err
	}
	if c.MaxBodyBytes < 1024 {
		return config.Problem("max_body_bytes", "must be at least 1024, got %d", c.MaxBodyBytes)
	}
	return nil
}

// Validate checks the policy file.
func (p *Policy) Validate() error {
	return p.PasswordPolicy.validate("password_policy")
}

// LoadPolicy reads the policy file named by the config at configPath.
func (c *Config) LoadPolicy(configPath string) error {
	path := c.PolicyFile
	if !filepath.IsAbs(path) {
		path = filepath.Join(filepath.Dir(configPath), path)
	}
	c.Policy = DefaultPolicy()
	if _, err := os.Stat(path); err != nil {
		return &config.Error{File: configPath, Key: "policy_file", Problem: "cannot read " + path + ": " + errors.Unwrap(err).Error()}
	}
	if err := config.Load(path, &c.Policy); err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			return err
		}
		return &config.Error{File: path, Problem: err.Error()}
	}
	return nil
}
