package stack

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/learnplatform/platform/plugins/host"
)

func TestLoadPlugins(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "my-retriever"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(body string) string {
		p := filepath.Join(dir, "plugins.local.yml")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	specs, err := LoadPlugins(write("plugins:\n  - name: my-retriever\n    kind: retriever\n    path: ./my-retriever\n    config:\n      course: go-basics\n      chunks_file: data/chunks.json\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := specs[0]
	if s.Path != filepath.Join(dir, "my-retriever") || s.Required || s.Config.(map[string]any)["chunks_file"] != filepath.Join(dir, "data/chunks.json") {
		t.Errorf("%+v", s)
	}
	for body, want := range map[string]string{
		"plugins:\n  - name: x\n    kind: retriever\n    path: ./my-retriever\n    colour: red\n": "colour",
		"plugins:\n  - name: x\n    kind: reranker\n    path: ./my-retriever\n":                   "kind:",
		"plugins:\n  - name: x\n    kind: retriever\n    path: ./nope\n":                          "no such file",
		"plugins: []\n": "no plugins declared",
	} {
		if _, err := LoadPlugins(write(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
	got := WithPlugins([]host.Spec{{Name: "guardrail-safety", Path: "/mine"}, {Name: "mine"}})(DefaultTutorPlugins("/bin"))
	var names []string
	for _, s := range got {
		names = append(names, s.Name)
	}
	if strings.Join(names, ",") != "retriever-postgres,guardrail-socratic,guardrail-safety,mine" || got[2].Path != "/mine" {
		t.Errorf("merged %v", names)
	}
}
