// Package plugintest is the conformance kit for plugins: any plugin's own
// tests build its binary (Build), start it as the tutor would (Launch*),
// and run the suite for its kind (Retriever, Guardrail). The suites talk
// to the plugin directly, without the host's own checks, so a plugin that
// leaks a locked stage or answers out of shape fails here.
package plugintest

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"

	"github.com/learnplatform/platform/plugins"
	"github.com/learnplatform/platform/plugins/internal/buildtest"
)

// Build compiles the main package pkg (an import path, or a directory
// like "." or "./cmd/x") and returns the path of a copy of the binary in
// a temporary directory of the test's own (it may move or change it).
// The package is linked once per test binary, into a directory under
// os.TempDir that later runs reuse while it is up to date (go build links
// again when the package, a dependency or the toolchain changed).
func Build(t testing.TB, pkg string) string {
	t.Helper()
	shared := buildtest.Build(t, pkg)
	b, err := os.ReadFile(shared)
	if err != nil {
		t.Fatal(err)
	}
	own := filepath.Join(t.TempDir(), filepath.Base(shared))
	if err := os.WriteFile(own, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return own
}

// Launch starts the plugin binary at path the way the tutor's host does
// (handshake, AutoMTLS, the SHA-256 checked, only env as environment),
// sends config (any JSON-able value; nil sends "{}") with Configure, and
// returns the plugin's client for kind: a plugins.Retriever (also an
// Ingester, Configurer and HealthChecker) or a plugins.Guardrail. The
// process ends with the test.
func Launch(t testing.TB, kind, path string, config any, env ...string) any {
	t.Helper()
	sum := sha256.New()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum.Write(b)
	cmd := exec.Command(path)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  plugins.Handshake,
		Plugins:          plugins.PluginSet(),
		Cmd:              cmd,
		SkipHostEnv:      true,
		SecureConfig:     &plugin.SecureConfig{Checksum: sum.Sum(nil), Hash: sha256.New()},
		AutoMTLS:         true,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		StartTimeout:     20 * time.Second,
		Logger:           hclog.New(&hclog.LoggerOptions{Name: filepath.Base(path), Output: testWriter{t}, Level: hclog.Info}),
	})
	t.Cleanup(client.Kill)
	rpc, err := client.Client()
	if err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	raw, err := rpc.Dispense(kind)
	if err != nil {
		t.Fatal(err)
	}
	cfg := []byte("{}")
	if config != nil {
		if cfg, err = json.Marshal(config); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := raw.(plugins.Configurer).Configure(ctx, cfg); err != nil {
		t.Fatalf("configure %s: %v", path, err)
	}
	return raw
}

// LaunchRetriever is Launch for a retriever.
func LaunchRetriever(t testing.TB, path string, config any, env ...string) plugins.Retriever {
	t.Helper()
	return Launch(t, plugins.KindRetriever, path, config, env...).(plugins.Retriever)
}

// LaunchGuardrail is Launch for a guardrail.
func LaunchGuardrail(t testing.TB, path string, config any, env ...string) plugins.Guardrail {
	t.Helper()
	return Launch(t, plugins.KindGuardrail, path, config, env...).(plugins.Guardrail)
}

// testWriter sends the plugin's log lines to the test's log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	defer func() { _ = recover() }() // a line after the test ended
	w.t.Log(string(b))
	return len(b), nil
}
