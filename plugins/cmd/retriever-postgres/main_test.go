package main

import (
	"strings"
	"testing"
)

// The search and ingestion tests need PostgreSQL: they are in
// e2e/plugins, which runs plugintest against this binary on the stack's
// database.

func TestConfigRefused(t *testing.T) {
	t.Setenv("RETRIEVER_POSTGRES_DSN", "")
	for cfg, want := range map[string]string{
		`{}`: "dsn: missing",
		`{"dsn": "postgres://x/y", "table": "x; DROP"}`:     "table:",
		`{"dsn": "postgres://x/y", "language": "en'glish"}`: "language:",
		`{"dsn": "postgres://x/y", "max_conns": 0}`:         "max_conns",
		`{"dsn": "postgres://x/y", "colour": "blue"}`:       "unknown field",
		`{"dsn": "not a dsn ::: at all"}`:                   "dsn:",
	} {
		err := (&retriever{}).Configure(t.Context(), []byte(cfg))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", cfg, err, want)
		}
	}
}

func TestCleanQuery(t *testing.T) {
	if got := clean("a\x00b"); got != "a b" {
		t.Errorf("%q", got)
	}
	if got := clean(strings.Repeat("é", 5000)); len(got) > MaxQueryBytes || !strings.HasPrefix(got, "é") || strings.ContainsRune(got, '\uFFFD') {
		t.Errorf("cut badly: %d bytes", len(got))
	}
}
