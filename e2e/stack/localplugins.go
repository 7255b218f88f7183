package stack

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"go.yaml.in/yaml/v3"

	"github.com/learnplatform/platform/plugins/host"
)

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
