package stack

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"path/filepath"

	"go.yaml.in/yaml/v3"

	"github.com/learnplatform/platform/plugins"
	"github.com/learnplatform/platform/plugins/host"
)

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

// LoadPlugins reads extra plugin declarations for the local stack (the
// launcher's -plugins FILE): a YAML file with a `plugins:` list in the
// tutor's format (docs/plugins.md). Relative paths resolve against the
// file's directory (host.ResolvePaths); a declaration without sha256 gets
// its binary's checksum when the tutor's config is written, so a rebuilt
// plugin needs only a restart. Declarations are optional unless they say
// `required: true`.
func LoadPlugins(path string) ([]host.Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f struct {
		Plugins []host.Spec `yaml:"plugins"`
	}
	d := yaml.NewDecoder(bytes.NewReader(b))
	d.KnownFields(true)
	if err := d.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(f.Plugins) == 0 {
		return nil, fmt.Errorf("%s: no plugins declared (a `plugins:` list)", path)
	}
	specs := host.ResolvePaths(f.Plugins, path)
	for i, s := range specs {
		pinned := s
		if pinned.SHA256 == "" {
			pinned.SHA256 = "0000000000000000000000000000000000000000000000000000000000000000"
		}
		if err := pinned.Validate(); err != nil {
			return nil, fmt.Errorf("%s: plugins[%d] (%s): %w", path, i, s.Name, err)
		}
		if _, err := os.Stat(s.Path); err != nil {
			return nil, fmt.Errorf("%s: plugins[%d] (%s): %w", path, i, s.Name, errors.Unwrap(err))
		}
	}
	return specs, nil
}

// WithPlugins is an Options.TutorPlugins that declares extra after the
// defaults; one with a default's name replaces it.
func WithPlugins(extra []host.Spec) func([]host.Spec) []host.Spec {
	return func(defaults []host.Spec) []host.Spec {
		out := make([]host.Spec, 0, len(defaults)+len(extra))
		replaced := map[string]bool{}
		for _, e := range extra {
			replaced[e.Name] = true
		}
		for _, d := range defaults {
			if !replaced[d.Name] {
				out = append(out, d)
			}
		}
		return append(out, extra...)
	}
}
