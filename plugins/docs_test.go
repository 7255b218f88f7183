package plugins_test

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/learnplatform/platform/plugins/internal/buildtest"
)

// block is a fenced code block of docs/plugins.md.
type block struct {
	lang, tag, body string
	line            int
	// same names a file whose lines the block's must all be in
	// (<!-- same as PATH --> right before it).
	same string
}

func docBlocks(t *testing.T) []block {
	t.Helper()
	b, err := os.ReadFile("../docs/plugins.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []block
	var cur *block
	same := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(line, "<!-- same as "):
			same = strings.TrimSuffix(strings.TrimPrefix(line, "<!-- same as "), " -->")
		case cur == nil && strings.HasPrefix(line, "```"):
			f := strings.Fields(strings.TrimPrefix(line, "```"))
			cur = &block{line: n, same: same}
			if len(f) > 0 {
				cur.lang = f[0]
			}
			if len(f) > 1 {
				cur.tag = f[1]
			}
			same = ""
		case cur != nil && line == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.body += line + "\n"
		case strings.TrimSpace(line) != "":
			same = ""
		}
	}
	return out
}

// TestDocsBlocks checks docs/plugins.md's code: Go snippets that say
// which file they come from are in it, and every shell block is valid
// bash. (tutor/pluginhost checks the declaration example.)
func TestDocsBlocks(t *testing.T) {
	blocks := docBlocks(t)
	if len(blocks) < 10 {
		t.Fatalf("only %d blocks", len(blocks))
	}
	for _, b := range blocks {
		switch {
		case b.same != "":
			src, err := os.ReadFile(filepath.Join("..", b.same))
			if err != nil {
				t.Errorf("line %d: %v", b.line, err)
				continue
			}
			have := map[string]bool{}
			for _, l := range strings.Split(strings.ReplaceAll(string(src), "{{.SDKModule}}", "github.com/learnplatform/platform/plugins"), "\n") {
				have[strings.TrimSpace(l)] = true
			}
			for _, l := range strings.Split(b.body, "\n") {
				if l = strings.TrimSpace(l); l != "" && !have[l] {
					t.Errorf("line %d: %q is not in %s", b.line, l, b.same)
				}
			}
		case b.lang == "sh":
			if out, err := exec.Command("bash", "-n", "-c", b.body).CombinedOutput(); err != nil {
				t.Errorf("line %d: not valid bash: %v\n%s", b.line, err, out)
			}
		}
	}
}

// TestDocsWalkthrough runs every `sh` block of docs/plugins.md, in order,
// as one script, from the repository's root with HOME in a temporary
// directory: the walk-through from an empty directory (outside the
// repository) through the scaffold, its plugintest test, the build, the
// plugins.local.yml, `tutor plugins check` on it, and the go.mod recipe
// without the scaffold. The module proxy is off: what the docs promise
// must work from the module cache (a machine with network access fetches
// what is missing). The blocks that need a running stack (`sh run`, `sh
// stack`) run in e2e/plugins/walkthrough.
func TestDocsWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("builds several modules (about a minute)")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	tutor := buildtest.Build(t, "github.com/learnplatform/platform/tutor/cmd/tutor")
	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	for _, b := range docBlocks(t) {
		if b.lang == "sh" && b.tag == "" {
			body := strings.ReplaceAll(b.body, "$PLATFORM/bin/tutor", tutor)
			script.WriteString("# docs/plugins.md line " + strconv.Itoa(b.line) + "\n" + body + "cd " + root + "\n")
		}
	}
	env := []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "GOPROXY=off", "GOWORK="}
	for _, k := range []string{"GOCACHE", "GOMODCACHE", "GOPATH", "GOENV", "GOROOT", "GOTOOLCHAIN"} {
		out, err := exec.Command("go", "env", k).Output()
		if err != nil {
			t.Fatal(err)
		}
		env = append(env, k+"="+strings.TrimSpace(string(out)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir, cmd.Env = root, env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the walk-through failed: %v\n%s\nscript:\n%s", err, out, script.String())
	}
	t.Logf("%s", out)
	for _, want := range []string{"ok  \texample.com/my-retriever", "ok  \texample.com/hello-copy", "my-retriever  retriever  optional  up"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if strings.HasPrefix(filepath.Join(home, "my-retriever"), root) {
		t.Error("the plugin was written inside the repository")
	}
}
