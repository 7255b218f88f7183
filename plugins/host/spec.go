package host

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/learnplatform/platform/plugins"
)

// Spec declares one plugin; it is one entry of the tutor's `plugins:` list.
type Spec struct {
	// Name identifies the plugin in logs, metrics and `tutor plugins list`.
	Name string `yaml:"name"`
	// Kind is "retriever" or "guardrail".
	Kind string `yaml:"kind"`
	// Path is the plugin binary.
	Path string `yaml:"path"`
	// Args are passed to the binary.
	Args []string `yaml:"args"`
	// Env is the plugin's whole environment besides PATH, HOME, TMPDIR and
	// LANG: the host's own (with its secrets) is not passed on.
	Env map[string]string `yaml:"env"`
	// Config is handed to the plugin as JSON (Configure) after every start.
	Config any `yaml:"config"`
	// SHA256 is the binary's pinned checksum (hex); a binary that does not
	// match is never started.
	SHA256 string `yaml:"sha256"`
	// Timeout bounds each call (default 2s).
	Timeout time.Duration `yaml:"timeout"`
	// Required plugins must start for the tutor to start; optional ones
	// start degraded (with a warning) and are retried.
	Required bool `yaml:"required"`
	// FailOpen makes a guardrail that errs or times out count as allowing;
	// by default it blocks (fails closed).
	FailOpen bool `yaml:"fail_open"`
	// MaxResponseBytes bounds one answer of the plugin (default 1 MiB).
	MaxResponseBytes int `yaml:"max_response_bytes"`
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)

// DefaultTimeout is a call's timeout when the Spec gives none.
const DefaultTimeout = 2 * time.Second

// DefaultMaxResponseBytes bounds an answer when the Spec gives no bound.
const DefaultMaxResponseBytes = 1 << 20

// Validate reports the first problem with the declaration, naming the key.
func (s Spec) Validate() error {
	switch {
	case !nameRE.MatchString(s.Name):
		return fmt.Errorf("name: %q is not a plugin name (lower-case letters, digits, '.', '_', '-')", s.Name)
	case s.Kind != plugins.KindRetriever && s.Kind != plugins.KindGuardrail:
		return fmt.Errorf("kind: %q is neither %q nor %q", s.Kind, plugins.KindRetriever, plugins.KindGuardrail)
	case s.Path == "":
		return errors.New("path: missing")
	case s.Timeout < 0:
		return errors.New("timeout: negative")
	case s.MaxResponseBytes < 0:
		return errors.New("max_response_bytes: negative")
	case s.FailOpen && s.Kind != plugins.KindGuardrail:
		return errors.New("fail_open: only for guardrails")
	}
	if _, err := s.checksum(); err != nil {
		return fmt.Errorf("sha256: %w", err)
	}
	if _, err := s.configJSON(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

func (s Spec) checksum() ([]byte, error) {
	sum, err := hex.DecodeString(strings.TrimPrefix(strings.ToLower(s.SHA256), "sha256:"))
	if err != nil || len(sum) != 32 {
		if s.SHA256 == "" {
			return nil, errors.New("missing: pin the binary's checksum (sha256sum BINARY)")
		}
		return nil, fmt.Errorf("%q is not a hex SHA-256", s.SHA256)
	}
	return sum, nil
}

// configJSON is the config blob as sent: YAML mappings become JSON objects.
func (s Spec) configJSON() ([]byte, error) {
	if s.Config == nil {
		return []byte("{}"), nil
	}
	return json.Marshal(jsonable(s.Config))
}

// jsonable turns YAML's map[any]any (from older decoders) into JSON-able maps.
func jsonable(v any) any {
	switch x := v.(type) {
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = jsonable(e)
		}
		return m
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = jsonable(e)
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonable(e)
		}
		return out
	}
	return v
}

func (s Spec) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return DefaultTimeout
}

func (s Spec) maxResponse() int {
	if s.MaxResponseBytes > 0 {
		return s.MaxResponseBytes
	}
	return DefaultMaxResponseBytes
}

// ResolvePaths makes the relative paths of specs absolute against the
// directory of configFile, the tutor's config file they were read from:
// a plugin runs in the tutor's working directory, which need not be the
// config's. It resolves Path and, anywhere in Config, the string values
// (or lists of strings) of keys named path, file or dir or ending in
// _path, _file, _dir (or _paths, _files, _dirs). Absolute paths and URLs
// ("scheme://...") are left alone.
func ResolvePaths(specs []Spec, configFile string) []Spec {
	if configFile == "" {
		return specs
	}
	base, err := filepath.Abs(filepath.Dir(configFile))
	if err != nil {
		return specs
	}
	out := make([]Spec, len(specs))
	for i, s := range specs {
		if s.Path != "" && !filepath.IsAbs(s.Path) {
			s.Path = filepath.Join(base, s.Path)
		}
		s.Config = resolveConfig(s.Config, base, false)
		out[i] = s
	}
	return out
}

// PathKey reports whether a config key names a path ResolvePaths resolves.
func PathKey(key string) bool {
	k := strings.ToLower(key)
	switch k {
	case "path", "file", "dir", "paths", "files", "dirs":
		return true
	}
	for _, suf := range []string{"_path", "_file", "_dir", "_paths", "_files", "_dirs"} {
		if strings.HasSuffix(k, suf) {
			return true
		}
	}
	return false
}

func resolveConfig(v any, base string, isPath bool) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = resolveConfig(e, base, PathKey(k))
		}
		return m
	case map[any]any:
		m := make(map[any]any, len(x))
		for k, e := range x {
			m[k] = resolveConfig(e, base, PathKey(fmt.Sprint(k)))
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = resolveConfig(e, base, isPath)
		}
		return out
	case string:
		if isPath && x != "" && !filepath.IsAbs(x) && !strings.Contains(x, "://") {
			return filepath.Join(base, x)
		}
	}
	return v
}
