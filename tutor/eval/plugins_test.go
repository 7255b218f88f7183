package eval

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kitconfig "github.com/learnplatform/platform/kit/config"
	"github.com/learnplatform/platform/plugins/host"
	"github.com/learnplatform/platform/tutor"
	"github.com/learnplatform/platform/tutor/config"
	"github.com/learnplatform/platform/tutor/eval/report"
	"github.com/learnplatform/platform/tutor/eval/scenario"
	"github.com/learnplatform/platform/tutor/eval/standin"
	"github.com/learnplatform/platform/tutor/pluginhost"
)

// TestWithPlugins runs the evaluation with plugins as processes, as a
// tutor.yml declares them: an in-memory retriever that takes ingestion
// (the SDK's test plugin) and the shipped guardrails. The scenario
// courses go into the retriever for the run and out of it afterwards;
// the guardrails see every message and answer.
func TestWithPlugins(t *testing.T) {
	if testing.Short() {
		t.Skip("builds three plugins")
	}
	dir := t.TempDir()
	var decl strings.Builder
	decl.WriteString("plugins:\n")
	var specs []host.Spec
	// One go build for the three: their links run in parallel.
	plugs := []struct{ name, kind, pkg string }{
		{"retriever-mem", "retriever", "github.com/learnplatform/platform/plugins/internal/testplugins/evil"},
		{"guardrail-socratic", "guardrail", "github.com/learnplatform/platform/plugins/cmd/guardrail-socratic"},
		{"guardrail-safety", "guardrail", "github.com/learnplatform/platform/plugins/cmd/guardrail-safety"},
	}
	build := exec.Command("go", "build", "-o", dir+"/")
	for _, p := range plugs {
		build.Args = append(build.Args, p.pkg)
	}
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, p := range plugs {
		if err := os.Rename(filepath.Join(dir, path.Base(p.pkg)), filepath.Join(dir, p.name)); err != nil {
			t.Fatal(err)
		}
		sum, err := host.FileSHA256(filepath.Join(dir, p.name))
		if err != nil {
			t.Fatal(err)
		}
		// Relative paths: resolved against the config file, as serve does.
		fmt.Fprintf(&decl, "  - {name: %s, kind: %s, path: ./%s, sha256: %s, required: true}\n", p.name, p.kind, p.name, sum)
		specs = append(specs, host.Spec{Name: p.name, Kind: p.kind, Path: filepath.Join(dir, p.name), SHA256: sum, Required: true, Timeout: 5 * time.Second})
	}
	cfgPath := filepath.Join(dir, "tutor.yml")
	if err := os.WriteFile(cfgPath, []byte(decl.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("tutor eval -config", func(t *testing.T) {
		var out, errOut bytes.Buffer
		code := Main([]string{"-config", cfgPath, "-stand-in", "good", "-category", "material,give-code"}, &out, &errOut)
		if code == ExitUsage || !strings.Contains(out.String(), "retrieval: retriever plugins retriever-mem; guardrails: guardrail-socratic, guardrail-safety") {
			t.Fatalf("exit %d\n%s\n%s", code, out.String(), errOut.String())
		}
		if strings.Contains(out.String(), "ERROR") {
			t.Fatalf("a scenario got no answer:\n%s", out.String())
		}
	})

	t.Run("courses in and out, guardrails replace", func(t *testing.T) {
		set := loadSet(t)
		h, err := host.Start(context.Background(), specs, host.Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		srv, err := standin.Start(standin.Leaky, set.Lessons)
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		cfg := config.Default()
		cfg.Model.BaseURL, cfg.Model.Name = kitconfig.MustURL(srv.BaseURL()), "leaky"
		rep, err := Run(context.Background(), Options{Config: cfg, Plugins: h, Set: set, Parallel: 4,
			Only: func(sc scenario.Scenario) bool { return sc.Category == "give-code" || sc.Category == "material" }})
		if err != nil {
			t.Fatal(err)
		}
		replaced, cited := 0, 0
		for _, s := range rep.Scenarios {
			if s.Result == report.ResultError {
				t.Errorf("%s: %s", s.ID, s.Why())
			}
			for _, turn := range s.Turns {
				if turn.Answer.Replaced {
					replaced++
				}
				if len(turn.Answer.Sources) > 0 {
					cited++
				}
			}
		}
		if replaced == 0 || cited == 0 {
			t.Fatalf("%d answers replaced by the output guardrails, %d with sources from the retriever plugin; want some of both", replaced, cited)
		}
		ps, err := pluginhost.Retriever{Host: h}.Retrieve(context.Background(), tutor.RetrievalQuery{Course: "eval-go", MaxStage: 4, Text: "How do I walk through a slice and get each index and value?", Limit: 4})
		if err != nil || len(ps) != 0 {
			t.Fatalf("the scenario course is still in the retriever after the run: %v %v", ps, err)
		}
	})
}
