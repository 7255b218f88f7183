package pluginhost

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	kitconfig "github.com/learnplatform/platform/kit/config"
	"github.com/learnplatform/platform/plugins/host"
	"github.com/learnplatform/platform/tutor/config"
)

// The declaration example of docs/plugins.md (its ```yaml tutor block)
// is read by the tutor's strict config loader as written, and with
// retriever-hello built in place of its binary (and pinned) it starts:
// the example's config is one retriever-hello takes.
func TestDocsDeclarationExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/plugins.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```yaml tutor\n")
	if !ok {
		t.Fatal("no ```yaml tutor block in docs/plugins.md")
	}
	example, _, _ := strings.Cut(rest, "```")
	dir := t.TempDir()
	file := filepath.Join(dir, "tutor.yml")
	body := "hydra:\n  issuer: http://127.0.0.1:4444/\ndatabase:\n  url: postgres://127.0.0.1:54320/platform\n" + example
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	if err := kitconfig.Load(file, &cfg); err != nil {
		t.Fatalf("the tutor refuses the example: %v", err)
	}
	specs, err := cfg.PluginSpecs(func(k string) (string, bool) { return "x", k == "HELLO_TOKEN" })
	if err != nil || len(specs) != 1 || filepath.Base(specs[0].Path) != "retriever-hello" {
		t.Fatalf("specs %+v: %v", specs, err)
	}
	s := specs[0]
	s.Path = bin(helloPkg)
	if s.SHA256, err = host.FileSHA256(s.Path); err != nil {
		t.Fatal(err)
	}
	s.Required = true
	h, err := host.Start(context.Background(), []host.Spec{s}, host.Options{})
	if err != nil {
		t.Fatalf("the example declaration does not start retriever-hello: %v", err)
	}
	defer h.Close()
	if st := h.Plugin(s.Name).Status(); st.State != host.StateUp {
		t.Errorf("%+v", st)
	}
}
