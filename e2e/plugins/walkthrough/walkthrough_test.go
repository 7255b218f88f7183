// Package walkthrough runs the part of docs/plugins.md's walk-through that
// needs a running stack: a plugin written by the scaffold, declared in a
// plugins.local.yml, run by the launcher (as `STACK_PLUGINS=... make run`
// does), a learner's token from `bin/stack token`, and the ChatKit curl,
// answered with the plugin's material. plugins/docs_test.go runs the rest.
package walkthrough

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/learnplatform/platform/e2e/internal/e2etest"
	"github.com/learnplatform/platform/stack"
)

// block is a fenced code block of docs/plugins.md (as plugins/docs_test.go
// reads them).
type block struct {
	lang, tag, body string
	line            int
}

func docBlocks(root string) ([]block, error) {
	b, err := os.ReadFile(filepath.Join(root, "docs", "plugins.md"))
	if err != nil {
		return nil, err
	}
	var out []block
	var cur *block
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(line, "```"):
			f := strings.Fields(strings.TrimPrefix(line, "```"))
			cur = &block{line: n}
			if len(f) > 0 {
				cur.lang = f[0]
			}
			if len(f) > 1 {
				cur.tag = f[1]
			}
		case cur != nil && line == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.body += line + "\n"
		}
	}
	return out, nil
}

var (
	root, home, tools string
	blocks            []block
)

// env is the shell's environment: HOME outside the repository, the Go
// caches kept, no module proxy (the docs' promise is checked offline).
func env(extra ...string) ([]string, error) {
	e := []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "GOPROXY=off", "GOWORK=", "PLATFORM=" + root}
	for _, k := range []string{"GOCACHE", "GOMODCACHE", "GOPATH", "GOENV", "GOROOT", "GOTOOLCHAIN"} {
		out, err := exec.Command("go", "env", k).Output()
		if err != nil {
			return nil, err
		}
		e = append(e, k+"="+strings.TrimSpace(string(out)))
	}
	return append(e, extra...), nil
}

func run(ctx context.Context, script string, extra ...string) (string, error) {
	e, err := env(extra...)
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "bash", "-c", "set -euo pipefail\n"+script)
	cmd.Dir, cmd.Env = root, e
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestMain runs the walk-through's first steps (the `sh` blocks before
// `make run`: scaffold, test, build, plugins.local.yml), then starts the
// stack with that file as the launcher's -plugins does.
func TestMain(m *testing.M) {
	code := func() int {
		var err error
		if root, err = stack.RepoRoot(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if home, err = os.MkdirTemp("", "walkthrough-home-"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(home)
		if tools, err = os.MkdirTemp("", "walkthrough-bin-"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(tools)
		if blocks, err = docBlocks(root); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if isShort() {
			return m.Run()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		defer cancel()
		var script strings.Builder
		for _, b := range blocks {
			if b.lang == "sh" && b.tag == "run" {
				break
			}
			if b.lang == "sh" && b.tag == "" {
				fmt.Fprintf(&script, "# docs/plugins.md line %d\n%scd %s\n", b.line, b.body, root)
			}
		}
		if out, err := run(ctx, script.String()); err != nil {
			fmt.Fprintf(os.Stderr, "walkthrough: the steps before make run failed: %v\n%s\n", err, out)
			return 1
		}
		extra, err := stack.LoadPlugins(filepath.Join(home, "my-retriever", "plugins.local.yml"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "walkthrough:", err)
			return 1
		}
		build := exec.Command("go", "build", "-o", filepath.Join(tools, "stack"), "./stack/cmd/stack")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "walkthrough: build bin/stack: %v\n%s\n", err, out)
			return 1
		}
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Minute)
		s, err := stack.StartForTest(sctx, func(o *stack.Options) { o.TutorPlugins = stack.WithPlugins(extra) })
		scancel()
		if err != nil {
			fmt.Fprintln(os.Stderr, "walkthrough: starting the stack:", err)
			return 1
		}
		e2etest.Stack = s
		code := m.Run()
		s.Close(code != 0)
		return code
	}()
	os.Exit(code)
}

func isShort() bool {
	for _, a := range os.Args {
		if a == "-test.short" || a == "-test.short=true" {
			return true
		}
	}
	return false
}

// TestAskTheTutor runs the `sh stack` blocks as written, with the test
// stack's ports (the STACK_*_PORT variables bin/stack reads, and the
// tutor's URL in the curl) and the stack binary built for the test.
func TestAskTheTutor(t *testing.T) {
	st := e2etest.Need(t)
	var stackBlocks []block
	for _, b := range blocks {
		if b.lang == "sh" && b.tag == "stack" {
			stackBlocks = append(stackBlocks, b)
		}
	}
	if len(stackBlocks) == 0 {
		t.Fatal("no ```sh stack block in docs/plugins.md")
	}
	p := st.Stack.Ports()
	var portEnv []string
	for name, port := range map[string]int{
		"POSTGRES": p.Postgres, "MAILPIT_HTTP": p.MailpitHTTP, "MAILPIT_SMTP": p.MailpitSMTP,
		"KRATOS_PUBLIC": p.KratosPublic, "KRATOS_ADMIN": p.KratosAdmin, "HYDRA_PUBLIC": p.HydraPublic,
		"HYDRA_ADMIN": p.HydraAdmin, "IDENTITY": p.Identity, "CONSENT": p.Consent, "TUTOR": p.Tutor,
	} {
		portEnv = append(portEnv, fmt.Sprintf("STACK_%s_PORT=%d", name, port))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, b := range stackBlocks {
		script := strings.ReplaceAll(b.body, "bin/stack ", filepath.Join(tools, "stack")+" ")
		script = strings.ReplaceAll(script, "http://127.0.0.1:8080", strings.TrimSuffix(st.URL("tutor"), "/"))
		out, err := run(ctx, script, portEnv...)
		if err != nil {
			t.Fatalf("docs/plugins.md line %d: %v\n%s", b.line, err, out)
		}
		t.Logf("docs/plugins.md line %d:\n%s", b.line, out)
		if strings.Contains(b.body, "chatkit") {
			if !strings.Contains(out, `"thread.item.done"`) || !strings.Contains(out, "assistant_message") || !strings.Contains(out, "Say hello to greet someone.") {
				t.Errorf("the answer does not quote the plugin's material:\n%s", out)
			}
		}
	}
}
