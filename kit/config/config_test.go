package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type dbConfig struct {
	URL     string        `yaml:"url" env:"T_DATABASE_URL" required:"true"`
	MaxConn int           `yaml:"max_conns"`
	Timeout time.Duration `yaml:"timeout"`
}

type testConfig struct {
	Listen   string            `yaml:"listen"`
	Database dbConfig          `yaml:"database"`
	Issuer   URL               `yaml:"issuer"`
	Tags     []string          `yaml:"tags"`
	Limits   map[string]int    `yaml:"limits"`
	Debug    bool              `yaml:"debug"`
	Extra    map[string]string `yaml:"extra"`
}

func (c *testConfig) Validate() error {
	if c.Database.MaxConn < 0 {
		return Problem("database.max_conns", "must not be negative")
	}
	return nil
}

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestLoadGood(t *testing.T) {
	c := testConfig{Listen: ":1", Database: dbConfig{MaxConn: 4}}
	src := `
listen: 127.0.0.1:9000
database:
  url: postgres://from-file
  timeout: 5s
issuer: http://127.0.0.1:4444/
tags: [a, b]
limits: {x: 1}
debug: true
`
	if err := LoadBytes("svc.yml", []byte(src), &c, env(map[string]string{"T_DATABASE_URL": "postgres://from-env"})); err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9000" || c.Database.URL != "postgres://from-env" || c.Database.MaxConn != 4 ||
		c.Database.Timeout != 5*time.Second || c.Issuer.Host != "127.0.0.1:4444" || len(c.Tags) != 2 ||
		c.Limits["x"] != 1 || !c.Debug {
		t.Fatalf("decoded wrongly: %+v", c)
	}
}

func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name, src string
		env       map[string]string
		key, want string
	}{
		{"unknown top key", "listen: x\ndatabse:\n  url: y\n", nil, "databse", "unknown key (line 2)"},
		{"unknown nested key", "database:\n  url: y\n  pool: 3\n", nil, "database.pool", "unknown key"},
		{"wrong type", "database:\n  url: y\n  max_conns: many\n", nil, "database.max_conns", `expected a whole number, got "many"`},
		{"bad duration", "database:\n  url: y\n  timeout: soon\n", nil, "database.timeout", "expected a duration"},
		{"bad url", "database:\n  url: y\nissuer: ftp://x\n", nil, "issuer", "expected an http:// or https:// URL"},
		{"url without host", "database:\n  url: y\nissuer: 'http://'\n", nil, "issuer", "has no host"},
		{"mapping for scalar", "database:\n  url: y\nlisten: {a: 1}\n", nil, "listen", "expected a single value, got a mapping"},
		{"scalar for list", "database:\n  url: y\ntags: a\n", nil, "tags", "expected a list"},
		{"list item", "database:\n  url: y\nlimits: {x: [1]}\n", nil, "limits.x", "expected a single value"},
		{"missing required", "listen: x\n", nil, "database.url", "required but not set (or set T_DATABASE_URL)"},
		{"validate", "database:\n  url: y\n  max_conns: -1\n", nil, "database.max_conns", "must not be negative"},
		{"bad env", "database:\n  url: y\n", map[string]string{"T_DATABASE_URL": ""}, "database.url", "required"},
		{"duplicate", "listen: a\nlisten: b\n", nil, "listen", "duplicate key (line 2)"},
		{"not yaml", "listen: [\n", nil, "", "not valid YAML"},
		{"top-level list", "- a\n", nil, "", "expected a mapping"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var c testConfig
			err := LoadBytes("svc.yml", []byte(tc.src), &c, env(tc.env))
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("want *Error, got %v", err)
			}
			if ce.File != "svc.yml" || ce.Key != tc.key || !strings.Contains(ce.Problem, tc.want) {
				t.Fatalf("got file=%q key=%q problem=%q; want key %q and %q", ce.File, ce.Key, ce.Problem, tc.key, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	var c testConfig
	p := filepath.Join(t.TempDir(), "nope.yml")
	err := Load(p, &c)
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "file not found") {
		t.Fatalf("got %v", err)
	}
}

func TestLoadEnvTypeError(t *testing.T) {
	type c2 struct {
		Port int `yaml:"port" env:"T_PORT"`
	}
	var c c2
	err := LoadBytes("x.yml", []byte("port: 1\n"), &c, env(map[string]string{"T_PORT": "abc"}))
	if err == nil || !strings.Contains(err.Error(), "from env T_PORT") || !strings.Contains(err.Error(), "key port") {
		t.Fatalf("got %v", err)
	}
}

func TestLoadFromDisk(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ok.yml")
	if err := os.WriteFile(p, []byte("database:\n  url: postgres://x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var c testConfig
	if err := Load(p, &c); err != nil {
		t.Fatal(err)
	}
}

type section struct {
	Ratio float64 `yaml:"ratio"`
}

func (s *section) ValidateSection(key string) error {
	if s.Ratio > 1 {
		return Problem(key+".ratio", "must be at most 1, got %g", s.Ratio)
	}
	return nil
}

func TestLoadValidatesSectionsWhereTheySit(t *testing.T) {
	type outer struct {
		Top   section `yaml:"top"`
		Inner struct {
			Deep section `yaml:"deep"`
		} `yaml:"inner"`
	}
	var c outer
	if err := LoadBytes("x.yml", []byte("top: {ratio: 1}\ninner: {deep: {ratio: 0.5}}\n"), &c, env(nil)); err != nil {
		t.Fatal(err)
	}
	for src, key := range map[string]string{
		"top: {ratio: 2}\n":             "top.ratio",
		"inner: {deep: {ratio: 1.5}}\n": "inner.deep.ratio",
	} {
		var c outer
		err := LoadBytes("x.yml", []byte(src), &c, env(nil))
		var ce *Error
		if !errors.As(err, &ce) || ce.File != "x.yml" || ce.Key != key || !strings.Contains(ce.Problem, "at most 1") {
			t.Fatalf("%q: got %v, want key %s", src, err, key)
		}
	}
}
