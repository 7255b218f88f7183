package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/learnplatform/platform/plugins"
	"github.com/learnplatform/platform/plugins/host"
)

// runAs, set in a child's environment, makes this test binary run as the
// tutor ("tutor": main, with the child's arguments) or as a retriever
// plugin ("retriever"), so the tests start the real command without
// building it.
const runAs = "TUTOR_TEST_RUN_AS"

func TestMain(m *testing.M) {
	switch os.Getenv(runAs) {
	case "tutor":
		main()
		os.Exit(0)
	case "retriever":
		plugins.ServeRetriever(hello{})
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// tutorCmd is the tutor command with args: this test binary, run as main.
func tutorCmd(ctx context.Context, t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = append(os.Environ(), runAs+"=tutor")
	return cmd
}

// hello is the retriever this test binary serves as a plugin: one chunk.
type hello struct{}

func (hello) Search(_ context.Context, q plugins.Query) ([]plugins.Chunk, error) {
	return []plugins.Chunk{{ID: q.Course + "/hello#hi", Course: q.Course, Lesson: "hello", Stage: 1, Text: "Hi.", Score: 1}}, nil
}

// notAPlugin is an executable that exits at once instead of speaking
// go-plugin's handshake, pinned by its real checksum.
func notAPlugin(t *testing.T) (path, sum string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "not-a-plugin")
	if err := os.WriteFile(path, []byte("#!/bin/sh\necho 'cannot open data file' >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	sum, err := host.FileSHA256(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, sum
}

func writeConfig(t *testing.T, plugins string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tutor.yml")
	// Port 0 and a database nobody answers: start-up gets as far as the plugins.
	body := "listen: 127.0.0.1:0\nhydra:\n  issuer: http://127.0.0.1:9/\ndatabase:\n  url: postgres://nobody@127.0.0.1:9/none\nplugins:\n" + plugins
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func decl(name, kind, path, sum string, required bool) string {
	r := "false"
	if required {
		r = "true"
	}
	return "  - name: " + name + "\n    kind: " + kind + "\n    path: " + path + "\n    sha256: " + sum + "\n    required: " + r + "\n"
}

func TestARequiredPluginThatCannotStartStopsTheTutor(t *testing.T) {
	path, sum := notAPlugin(t)
	wrong := strings.Repeat("ab", 32)
	cases := map[string]struct{ decl, want string }{
		"not a plugin":      {decl("broken", "retriever", path, sum, true), "tutor: required plugin did not start: broken: exited with exit status 3 before the handshake; its stderr: cannot open data file"},
		"checksum mismatch": {decl("swapped", "guardrail", path, wrong, true), "tutor: required plugin did not start: swapped: binary " + path + " has sha256 " + sum},
		"missing binary":    {decl("gone", "retriever", "/nonexistent/plugin", wrong, true), "tutor: required plugin did not start: gone:"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := tutorCmd(ctx, t, "-config", writeConfig(t, tc.decl))
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("want exit 1, got %v\n%s", err, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("want %q in:\n%s", tc.want, stderr.String())
			}
		})
	}
}

func TestAnOptionalPluginThatCannotStartIsAWarning(t *testing.T) {
	path, sum := notAPlugin(t)
	cmd := tutorCmd(context.Background(), t, "-config", writeConfig(t, decl("flaky", "guardrail", path, sum, false)))
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(stderr.String(), `"msg":"listening"`) {
		if time.Now().After(deadline) {
			t.Fatalf("the tutor did not start serving:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(stderr.String(), `"level":"WARN","msg":"optional plugin did not start; running without it and retrying"`) ||
		!strings.Contains(stderr.String(), `"plugin":"flaky"`) {
		t.Fatalf("no warning naming the plugin:\n%s", stderr.String())
	}
}

func TestPluginsCheckExitsNonZeroOnlyForRequiredPlugins(t *testing.T) {
	path, sum := notAPlugin(t)
	run := func(config string) (string, int) {
		out, err := tutorCmd(context.Background(), t, "plugins", "check", "-config", config).Output()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out), ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	out, code := run(writeConfig(t, decl("optional-one", "retriever", path, sum, false)))
	// The error once, on a line of its own after the table.
	if code != 0 || !strings.Contains(out, "optional-one") || !strings.Contains(out, "optional") ||
		!strings.Contains(out, "\noptional-one: exited with exit status 3 before the handshake") || strings.Count(out, "cannot open data file") != 1 {
		t.Fatalf("an unhealthy optional plugin: exit %d\n%s", code, out)
	}
	out, code = run(writeConfig(t, decl("optional-one", "retriever", path, sum, false)+decl("required-one", "guardrail", path, sum, true)))
	if code != 1 || !strings.Contains(out, "required-one") || !strings.Contains(out, "NAME") {
		t.Fatalf("an unhealthy required plugin: exit %d\n%s", code, out)
	}
	if out, err := tutorCmd(context.Background(), t, "plugins", "frobnicate").CombinedOutput(); err == nil || !strings.Contains(string(out), "usage: tutor plugins list|check") {
		t.Fatalf("unknown subcommand: %v %s", err, out)
	}
}

// syncBuffer collects a child's output while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
