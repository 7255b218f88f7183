// Package config is the tutor's configuration file (tutor.yml) and its
// environment variables: what `tutor serve` and `tutor eval` read, with
// its defaults and the checks the field types cannot make. It names the
// infrastructure (PostgreSQL, Hydra, the model, plugins, tracing), so it
// lives here and not in the domain package; cmd/tutor and tutor/eval load
// it, tutor/pipeline builds the answering path from it.
package config

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	kitconfig "github.com/learnplatform/platform/kit/config"
	"github.com/learnplatform/platform/kit/tracing"
	"github.com/learnplatform/platform/plugins/host"
)

// Config is the tutor service's configuration file.
type Config struct {
	// Listen is the address the tutor serves on.
	Listen string `yaml:"listen"`
	// OpsListen, when set, serves /metrics and /readyz with details on a
	// separate address for Prometheus and probes; the public port then
	// keeps them to itself (production configs set it).
	OpsListen string `yaml:"ops_listen"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// PublicURL is where learners reach the tutor; lesson links in answers
	// (annotation sources) are made from it. Empty means relative links.
	PublicURL kitconfig.URL `yaml:"public_url"`
	// Database is the platform database (threads, items, enrollments, usage).
	Database Database `yaml:"database"`
	// Hydra is the token issuer whose keys sign access tokens.
	Hydra Hydra `yaml:"hydra"`
	// Model is the OpenAI-compatible language model. Without a base URL and
	// model name the tutor runs in course-material mode.
	Model Model `yaml:"model"`
	// Limits bound what one learner and one request may use.
	Limits Limits `yaml:"limits"`
	// Content is the course material folder.
	Content Content `yaml:"content"`
	// Retention says how long threads outlive their enrollment.
	Retention Retention `yaml:"retention"`
	// Web configures the learner web app (tutor/web).
	Web Web `yaml:"web"`
	// Plugins are the retriever and guardrail plugins (docs/plugins.md).
	// Without a retriever the tutor searches its own lesson store (the
	// embedded PostgreSQL full-text search); with one or more, it searches
	// through them. Guardrails apply in the order declared.
	Plugins []host.Spec `yaml:"plugins"`
	// Tracing sends OpenTelemetry traces to an OTLP/HTTP collector; off
	// unless tracing.otlp_endpoint (or OTEL_EXPORTER_OTLP_ENDPOINT) is set.
	Tracing tracing.Config `yaml:"tracing"`
}

// Database locates PostgreSQL.
type Database struct {
	URL string `yaml:"url" env:"TUTOR_DATABASE_URL" required:"true"`
	// MaxConns bounds the connection pool (default 16).
	MaxConns int `yaml:"max_conns"`
}

// Hydra names the issuer; its JWKS lives at <issuer>/.well-known/jwks.json.
type Hydra struct {
	// Issuer is Hydra's public URL exactly as tokens name it in iss; the
	// learner web app sends browsers there.
	Issuer kitconfig.URL `yaml:"issuer" required:"true"`
	// InternalURL is where the tutor itself reaches Hydra's public API (the
	// JWKS and the health check) when that differs from the issuer, as in
	// containers (http://hydra:4444/ while browsers use
	// http://localhost:4444/). Default: the issuer.
	InternalURL kitconfig.URL `yaml:"internal_url"`
	// Audience is what access tokens must name in aud to be accepted by the
	// tutor's API (default "tutor-api"). The learner web app asks Hydra for
	// it; the OAuth2 client must be allowed it (ory-config/clients.yaml).
	// Tokens for other services, ID tokens and clients' own tokens are
	// refused.
	Audience string `yaml:"audience"`
	// TokenCacheSize is how many verified tokens the tutor remembers, so a
	// token's signature is checked once per process (default 10000).
	TokenCacheSize int `yaml:"token_cache_size"`
}

// Internal is the base URL the tutor reaches Hydra's public API at.
func (h Hydra) Internal() string {
	if !h.InternalURL.IsZero() {
		return h.InternalURL.String()
	}
	return h.Issuer.String()
}

// Model configures the language model. BaseURL and Name are both needed;
// with neither the tutor answers from the course material alone.
type Model struct {
	// BaseURL is the OpenAI-compatible API root, e.g. https://api.openai.com/v1.
	BaseURL kitconfig.URL `yaml:"base_url" env:"TUTOR_MODEL_BASE_URL"`
	// APIKey is sent as a Bearer token; secrets come from the environment.
	APIKey string `yaml:"api_key" env:"TUTOR_MODEL_API_KEY"`
	// Name is the model to ask for.
	Name string `yaml:"name" env:"TUTOR_MODEL_NAME"`
	// FirstTokenTimeout bounds the wait for the model's first output.
	FirstTokenTimeout time.Duration `yaml:"first_token_timeout" env:"TUTOR_MODEL_FIRST_TOKEN_TIMEOUT"`
	// Timeout bounds one whole answer, tool calls included.
	Timeout time.Duration `yaml:"timeout" env:"TUTOR_MODEL_TIMEOUT"`
	// MaxOutputTokens bounds one model call's output (0: the model's default).
	MaxOutputTokens int `yaml:"max_output_tokens"`
}

// Configured reports whether a model is set up (otherwise: course-material mode).
func (m Model) Configured() bool { return !m.BaseURL.IsZero() && m.Name != "" }

// Limits bound use.
type Limits struct {
	// DailyMessages is how many messages a student may send per rolling 24
	// hours; instructors and admins are exempt.
	DailyMessages int `yaml:"daily_messages" env:"TUTOR_DAILY_MESSAGES"`
	// MaxMessageBytes bounds one user message's text (UTF-8 bytes).
	MaxMessageBytes int `yaml:"max_message_bytes"`
	// MaxPageSize bounds limit in threads.list and items.list.
	MaxPageSize int `yaml:"max_page_size"`
	// ConcurrentAnswersPerUser bounds the answers being written at once for
	// one user (any role); one more is refused (429 busy) before anything
	// is stored or counted.
	ConcurrentAnswersPerUser int `yaml:"concurrent_answers_per_user" env:"TUTOR_CONCURRENT_ANSWERS_PER_USER"`
	// ConcurrentAnswers bounds the answers being written at once by this
	// process, all users together; one more is refused the same way.
	ConcurrentAnswers int `yaml:"concurrent_answers" env:"TUTOR_CONCURRENT_ANSWERS"`
}

// Content is where lessons come from.
type Content struct {
	// Dir, when set, is ingested at start-up (as `tutor ingest DIR` would).
	Dir string `yaml:"dir" env:"TUTOR_CONTENT_DIR"`
}

// Retention configures the clean-up job.
type Retention struct {
	// AfterEnrollmentEnds is how long threads about a course are kept after
	// the learner's enrollment in it ended.
	AfterEnrollmentEnds time.Duration `yaml:"after_enrollment_ends"`
	// Interval is how often the job runs.
	Interval time.Duration `yaml:"interval"`
}

// Web configures the learner web app the tutor serves.
type Web struct {
	// IdentityURL is the hosted login UI (the identity edge): the app links
	// to its registration and verification pages and checks it is up.
	IdentityURL kitconfig.URL `yaml:"identity_url"`
	// IdentityInternalURL is where the tutor itself checks the edge when
	// that differs from what browsers use (containers). Default: IdentityURL.
	IdentityInternalURL kitconfig.URL `yaml:"identity_internal_url"`
	// ClientID is the OAuth2 public client the app signs in as (default
	// tutor-web, ory-config/clients.yaml).
	ClientID string `yaml:"client_id"`
}

// DefaultAudience is the audience the tutor's API accepts by default.
const DefaultAudience = "tutor-api"

// Default holds the values a file may leave out.
func Default() Config {
	return Config{
		Listen:   ":8080",
		LogLevel: "info",
		Database: Database{MaxConns: 16},
		Hydra:    Hydra{Audience: DefaultAudience},
		Model:    Model{FirstTokenTimeout: 30 * time.Second, Timeout: 2 * time.Minute},
		Limits: Limits{DailyMessages: 20, MaxMessageBytes: 8192, MaxPageSize: 200,
			ConcurrentAnswersPerUser: 2, ConcurrentAnswers: 64},
		Retention: Retention{
			AfterEnrollmentEnds: 30 * 24 * time.Hour,
			Interval:            time.Hour,
		},
	}
}

// Validate checks what the field types cannot.
func (c *Config) Validate() error {
	if err := kitconfig.CheckPostgresURL("database.url", c.Database.URL); err != nil {
		return err
	}
	positive := []struct {
		key string
		v   int64
	}{
		{"database.max_conns", int64(c.Database.MaxConns)},
		{"limits.daily_messages", int64(c.Limits.DailyMessages)},
		{"limits.max_message_bytes", int64(c.Limits.MaxMessageBytes)},
		{"limits.max_page_size", int64(c.Limits.MaxPageSize)},
		{"limits.concurrent_answers_per_user", int64(c.Limits.ConcurrentAnswersPerUser)},
		{"limits.concurrent_answers", int64(c.Limits.ConcurrentAnswers)},
		{"model.first_token_timeout", int64(c.Model.FirstTokenTimeout)},
		{"model.timeout", int64(c.Model.Timeout)},
		{"retention.after_enrollment_ends", int64(c.Retention.AfterEnrollmentEnds)},
		{"retention.interval", int64(c.Retention.Interval)},
	}
	for _, p := range positive {
		if p.v <= 0 {
			return kitconfig.Problem(p.key, "must be greater than zero")
		}
	}
	if strings.TrimSpace(c.Hydra.Audience) == "" {
		return kitconfig.Problem("hydra.audience", "must not be empty: access tokens must name the tutor's API")
	}
	if c.Limits.ConcurrentAnswersPerUser > c.Limits.ConcurrentAnswers {
		return kitconfig.Problem("limits.concurrent_answers_per_user", "%d is more than limits.concurrent_answers (%d), the cap for all users together",
			c.Limits.ConcurrentAnswersPerUser, c.Limits.ConcurrentAnswers)
	}
	if c.Model.MaxOutputTokens < 0 {
		return kitconfig.Problem("model.max_output_tokens", "must not be negative")
	}
	if c.Model.BaseURL.IsZero() != (c.Model.Name == "") {
		if c.Model.Name == "" {
			return kitconfig.Problem("model.name", "required when model.base_url is set (or set TUTOR_MODEL_NAME)")
		}
		return kitconfig.Problem("model.base_url", "required when model.name is set (or set TUTOR_MODEL_BASE_URL)")
	}
	seen := map[string]int{}
	for i, s := range c.Plugins {
		key := fmt.Sprintf("plugins[%d]", i)
		if err := s.Validate(); err != nil {
			// Spec.Validate names the key first: "sha256: missing ...".
			sub, problem, ok := strings.Cut(err.Error(), ": ")
			if !ok || strings.ContainsAny(sub, " ") {
				return kitconfig.Problem(key, "%s", err)
			}
			return kitconfig.Problem(key+"."+sub, "%s", problem)
		}
		if j, dup := seen[s.Name]; dup {
			return kitconfig.Problem(key+".name", "%q is already the name of plugins[%d]", s.Name, j)
		}
		seen[s.Name] = i
		for k, v := range s.Env {
			for _, ref := range anyEnvRef.FindAllString(v, -1) {
				if !envRef.MatchString(ref) {
					return kitconfig.Problem(key+".env."+k, "%q: write a reference to the tutor's environment as ${NAME}", ref)
				}
			}
		}
	}
	return nil
}

// envRef is ${NAME} in a plugin's env values; anyEnvRef also finds
// malformed references, to refuse them.
var (
	envRef    = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*\}`)
	anyEnvRef = regexp.MustCompile(`\$\{[^}]*\}?`)
)

// PluginSpecs are the declared plugins with ${NAME} in their env values
// replaced by the tutor's own environment (lookup), so secrets such as a
// database URL reach a plugin without being written into the file. A
// reference to an unset variable is a config error naming the key.
func (c *Config) PluginSpecs(lookup func(string) (string, bool)) ([]host.Spec, error) {
	out := make([]host.Spec, len(c.Plugins))
	for i, s := range c.Plugins {
		if len(s.Env) > 0 {
			env := make(map[string]string, len(s.Env))
			for k, v := range s.Env {
				var missing string
				env[k] = envRef.ReplaceAllStringFunc(v, func(ref string) string {
					name := ref[2 : len(ref)-1]
					val, ok := lookup(name)
					if !ok && missing == "" {
						missing = name
					}
					return val
				})
				if missing != "" {
					return nil, kitconfig.Problem(fmt.Sprintf("plugins[%d].env.%s", i, k), "refers to ${%s}, which is not set in the tutor's environment", missing)
				}
			}
			s.Env = env
		}
		out[i] = s
	}
	return out, nil
}
