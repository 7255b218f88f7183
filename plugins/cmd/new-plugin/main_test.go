package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A guardrail written by the scaffold into a directory outside the
// repository passes its own plugintest suite with plain `go test`, with
// the module proxy off (the retriever is docs/plugins.md's walk-through,
// plugins/docs_test.go).
func TestGuardrailScaffoldPassesItsTests(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module")
	}
	dir := filepath.Join(t.TempDir(), "my-guardrail")
	t.Setenv("GOFLAGS", "")
	t.Setenv("GOPROXY", "off")
	if err := run("guardrail", "", "", dir); err != nil {
		t.Fatal(err)
	}
	mod, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
	if !strings.Contains(string(mod), "require github.com/learnplatform/platform/plugins v") || !strings.Contains(string(mod), "replace github.com/learnplatform/platform/plugins => /") {
		t.Errorf("go.mod:\n%s", mod)
	}
	cmd := exec.Command("go", "test", "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok  \texample.com/my-guardrail") {
		t.Fatalf("go test in the scaffold: %v\n%s", err, out)
	}
}

func TestScaffoldRefusals(t *testing.T) {
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "main.go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ kind, dir, want string }{
		{"reranker", filepath.Join(t.TempDir(), "x"), "retriever or guardrail"},
		{"retriever", filepath.Join(t.TempDir(), "Bad Name"), "not a plugin name"},
		{"retriever", full, "not empty"},
	} {
		if err := run(tc.kind, "", "../..", tc.dir); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v", tc, err)
		}
	}
}
