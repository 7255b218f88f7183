// Package config is the identity edge's configuration file (identity.yml):
// where it listens, the infrastructure it talks to (PostgreSQL, Kratos,
// Hydra, an SMTP relay, the token issuer), and the operator's identity
// policy file it names (ory-config/identity.yml, read into
// identity.Policy). It names the infrastructure, so it lives here and not
// in the domain package; cmd/identity loads it and wires the edge from it,
// and the deployment checks in e2e load the shipped files with it.
package config

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/learnplatform/platform/identity"
	kitconfig "github.com/learnplatform/platform/kit/config"
	"github.com/learnplatform/platform/kit/tracing"
)

// Config is the identity service's configuration file.
type Config struct {
	// Listen is the address the edge serves on.
	Listen string `yaml:"listen"`
	// OpsListen, when set, serves /metrics and /readyz with details on a
	// separate address for Prometheus and probes; the public port then
	// keeps them to itself (production configs set it).
	OpsListen string `yaml:"ops_listen"`
	// TrustedProxies are the networks (CIDRs, or single addresses) of the
	// proxies in front of the edge. X-Forwarded-For is believed only when
	// the direct peer is one of them, and then the client is its right-most
	// address that is not: that address is throttled, logged and passed to
	// Kratos. Empty (the default): the peer's own address, and
	// X-Forwarded-For is ignored.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// MailLimitExempt are client networks the per-address-of-client mail
	// limit (mail_limits.per_ip in the policy) does not count, for a
	// launcher or tooling whose clients all share one address; the limit
	// per recipient still applies. Default empty.
	MailLimitExempt []string `yaml:"mail_limit_exempt"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// PublicURL is where browsers reach the edge; Kratos' serve.public.base_url
	// must be the same.
	PublicURL kitconfig.URL `yaml:"public_url" required:"true"`
	// AllowedReturnURLs are the only places return_to may point to (prefix
	// match on scheme, host and path). Kratos checks its own list too.
	AllowedReturnURLs []kitconfig.URL `yaml:"allowed_return_urls"`
	// PolicyFile is the operator's identity policy (ory-config/identity.yml),
	// relative to this file's directory unless absolute.
	PolicyFile string `yaml:"policy_file" required:"true"`
	// MaxBodyBytes bounds request bodies sent to Kratos through the edge.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// Database is the platform database (auth event log, lockouts).
	Database Database `yaml:"database"`
	// Kratos locates Ory Kratos' APIs.
	Kratos Kratos `yaml:"kratos"`
	// HookSecret authenticates Kratos' web hooks (header X-Hook-Secret);
	// placeholders and weak values are refused (config.CheckSecret).
	HookSecret string `yaml:"hook_secret" env:"IDENTITY_HOOK_SECRET" required:"true" secret:"true"`
	// TokenIssuer is Hydra's issuer; the admin API accepts its access tokens.
	TokenIssuer kitconfig.URL `yaml:"token_issuer" required:"true"`
	// TokenJWKSURL is where the edge fetches the issuer's signing keys when
	// it cannot reach them at <token_issuer>/.well-known/jwks.json, as in
	// containers (http://hydra:4444/.well-known/jwks.json). Default: there.
	TokenJWKSURL kitconfig.URL `yaml:"token_jwks_url"`
	// TokenAudience is the audience the admin API accepts: an access token
	// must name it in aud (default "identity-api"). Clients ask Hydra for
	// it (audience=identity-api) and must be allowed it
	// (ory-config/clients.yaml). Tokens for other services, ID tokens and
	// clients' own tokens are refused.
	TokenAudience string `yaml:"token_audience"`
	// Hydra locates Hydra's admin API, where the edge ends a user's OAuth2
	// login and consent sessions (sign out everywhere, deactivation, the
	// admin API's session revocation).
	Hydra Hydra `yaml:"hydra"`
	// Mail sends the edge's own messages (lockout notices).
	Mail Mail `yaml:"mail"`
	// Tracing sends OpenTelemetry traces to an OTLP/HTTP collector; off
	// unless tracing.otlp_endpoint (or OTEL_EXPORTER_OTLP_ENDPOINT) is set.
	Tracing tracing.Config `yaml:"tracing"`

	// Policy is loaded from PolicyFile.
	Policy identity.Policy `yaml:"-"`
}

// Database locates PostgreSQL.
type Database struct {
	URL string `yaml:"url" env:"IDENTITY_DATABASE_URL" required:"true"`
}

// Mail is an SMTP relay: smtp://host:port/ (plain, for Mailpit), or
// smtps:// / smtp://...?starttls=true with user:password in the URL.
type Mail struct {
	URL  string `yaml:"url" env:"IDENTITY_SMTP_URL" required:"true"`
	From string `yaml:"from"`
}

// Kratos locates Kratos' public and admin APIs (both private to the edge).
type Kratos struct {
	PublicURL kitconfig.URL `yaml:"public_url" required:"true"`
	AdminURL  kitconfig.URL `yaml:"admin_url" required:"true"`
}

// Hydra locates Hydra's admin API (private to the edge and the consent app).
type Hydra struct {
	AdminURL kitconfig.URL `yaml:"admin_url" required:"true"`
}

// DefaultTokenAudience is the audience the edge's admin API accepts by
// default.
const DefaultTokenAudience = "identity-api"

// Default holds the values a file may leave out.
func Default() Config {
	return Config{Listen: ":4455", LogLevel: "info", MaxBodyBytes: 64 << 10, TokenAudience: DefaultTokenAudience,
		Mail: Mail{From: "Learning Platform <no-reply@learnplatform.local>"}}
}

// Validate checks what the field types cannot.
func (c *Config) Validate() error {
	if err := kitconfig.CheckPostgresURL("database.url", c.Database.URL); err != nil {
		return err
	}
	if c.MaxBodyBytes < 1024 {
		return kitconfig.Problem("max_body_bytes", "must be at least 1024, got %d", c.MaxBodyBytes)
	}
	if a := c.TokenAudience; strings.TrimSpace(a) == "" || strings.ContainsAny(a, " \t\r\n") {
		return kitconfig.Problem("token_audience", "must be one audience without spaces, like %q: the admin API accepts only access tokens whose aud names it", DefaultTokenAudience)
	}
	if u, err := url.Parse(c.Mail.URL); err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Host == "" {
		return kitconfig.Problem("mail.url", "expected smtp://host:port/ or smtps://host:port/")
	}
	if _, err := ParseNetworks("trusted_proxies", c.TrustedProxies); err != nil {
		return err
	}
	if _, err := ParseNetworks("mail_limit_exempt", c.MailLimitExempt); err != nil {
		return err
	}
	return nil
}

// ParseNetworks reads a list of CIDRs (or single addresses, taken as one
// host) named key in the config.
func ParseNetworks(key string, in []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(in))
	for i, s := range in {
		s = strings.TrimSpace(s)
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, kitconfig.Problem(fmt.Sprintf("%s[%d]", key, i), "%q is not a CIDR like 10.0.0.0/8 or an address", s)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// LoadPolicy reads the policy file named by the config at configPath.
func (c *Config) LoadPolicy(configPath string) error {
	path := c.PolicyFile
	if !filepath.IsAbs(path) {
		path = filepath.Join(filepath.Dir(configPath), path)
	}
	c.Policy = identity.DefaultPolicy()
	if _, err := os.Stat(path); err != nil {
		return &kitconfig.Error{File: configPath, Key: "policy_file", Problem: "cannot read " + path + ": " + errors.Unwrap(err).Error()}
	}
	p := policyFile(c.Policy)
	if err := kitconfig.Load(path, &p); err != nil {
		var ce *kitconfig.Error
		if errors.As(err, &ce) {
			return err
		}
		return &kitconfig.Error{File: path, Problem: err.Error()}
	}
	c.Policy = identity.Policy(p)
	if err := c.Policy.Validate(); err != nil {
		var pe *identity.PolicyError
		if errors.As(err, &pe) {
			return &kitconfig.Error{File: path, Key: pe.Key, Problem: pe.Problem}
		}
		return &kitconfig.Error{File: path, Problem: err.Error()}
	}
	return nil
}

// policyFile is the policy as kitconfig.Load decodes it: without
// identity.Policy's Validate, whose error LoadPolicy turns into one naming
// the file and the key.
type policyFile identity.Policy
