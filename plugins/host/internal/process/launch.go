package process

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"time"

	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/learnplatform/platform/plugins"
	"github.com/learnplatform/platform/plugins/host/internal/pluginlog"
)

// preflight checks the binary before go-plugin runs it, for messages that
// say what is wrong: missing, not executable, or not the pinned build.
func (c Config) preflight() error {
	fi, err := os.Stat(c.Path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("binary %s not found", c.Path)
	case err != nil:
		return fmt.Errorf("binary %s: %w", c.Path, err)
	case fi.IsDir():
		return fmt.Errorf("binary %s is a directory", c.Path)
	case fi.Mode().Perm()&0o111 == 0:
		return fmt.Errorf("binary %s is not executable (chmod +x)", c.Path)
	case len(c.Checksum) != sha256.Size:
		return errors.New("sha256: missing: pin the binary's checksum (sha256sum BINARY)")
	}
	got, err := FileSHA256(c.Path)
	if err != nil {
		return err
	}
	if want := hex.EncodeToString(c.Checksum); want != got {
		return fmt.Errorf("binary %s has sha256 %s, but %s is pinned: refusing to run it (rebuild the pinned version, or pin the new one)", c.Path, got, want)
	}
	return nil
}

// FileSHA256 is the hex SHA-256 of a file.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// launch starts the process, handshakes, configures and health-checks it.
// On success the plugin is up.
func (p *Process) launch(ctx context.Context) error {
	c := p.cfg
	if err := c.preflight(); err != nil {
		return err
	}
	cmd := exec.Command(c.Path, c.Args...)
	cmd.Env = c.env()
	setParentDeathSignal(cmd)
	p.tail.Reset()
	exit := &pluginlog.ExitStatus{}
	p.mu.Lock()
	p.exit = exit
	p.mu.Unlock()
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  plugins.Handshake,
		VersionedPlugins: c.versionedPlugins(),
		Cmd:              cmd,
		SkipHostEnv:      true,
		SecureConfig:     &plugin.SecureConfig{Checksum: c.Checksum, Hash: sha256.New()},
		AutoMTLS:         true,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		StartTimeout:     c.StartTimeout,
		Logger:           pluginlog.Hclog(p.log, exit),
		Stderr:           p.tail,
		SyncStdout:       &pluginlog.LineLogger{Log: p.log, Stream: "stdout"},
		SyncStderr:       &pluginlog.LineLogger{Log: p.log, Stream: "stderr"},
		GRPCDialOptions: []grpc.DialOption{
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(c.MaxResponseBytes), grpc.MaxCallSendMsgSize(plugins.MaxRequestBytes)),
		},
	})
	fail := func(err error) error {
		client.Kill()
		if t := p.tail.String(); t != "" {
			return fmt.Errorf("%w; its last output: %s", err, t)
		}
		return err
	}
	rpc, err := client.Client()
	if err != nil {
		if errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
			return fail(fmt.Errorf("binary %s changed after its checksum was checked: refusing to run it", c.Path))
		}
		err = p.handshakeError(client, exit, err)
		client.Kill()
		return err
	}
	raw, err := rpc.Dispense(c.Kind)
	if err != nil {
		return fail(fmt.Errorf("dispense %s: %w", c.Kind, err))
	}
	cctx, cancel := context.WithTimeout(ctx, c.StartTimeout)
	defer cancel()
	var configure func(context.Context, []byte) error
	var health func(context.Context) error
	var info func() plugins.Info
	switch rc := raw.(type) {
	case *plugins.RetrieverGRPCClient:
		configure, health, info = rc.Configure, rc.Health, func() plugins.Info { return rc.Info }
	case *plugins.GuardrailGRPCClient:
		configure, health, info = rc.Configure, rc.Health, func() plugins.Info { return rc.Info }
	}
	if err := configure(cctx, c.ConfigJSON); err != nil {
		switch status.Code(err) {
		case codes.Unimplemented:
			return fail(fmt.Errorf("%s does not serve the %s contract (wrong kind?)", c.Path, c.Kind))
		case codes.InvalidArgument:
			return fail(fmt.Errorf("configuration refused: %s", status.Convert(err).Message()))
		}
		return fail(fmt.Errorf("configure: %w", err))
	}
	hctx, hcancel := context.WithTimeout(ctx, c.Timeout)
	defer hcancel()
	if err := health(hctx); err != nil {
		return fail(fmt.Errorf("unhealthy after start: %w", err))
	}
	pid := 0
	if rc := client.ReattachConfig(); rc != nil {
		pid = rc.Pid
	}
	in := info()
	p.mu.Lock()
	p.client, p.raw, p.pid, p.state, p.since, p.lastErr, p.info, p.backoff = client, raw, pid, StateUp, time.Now(), nil, in, 0
	p.mu.Unlock()
	p.m.Up.WithLabelValues(c.Name).Set(1)
	p.m.Backoff.WithLabelValues(c.Name).Set(0)
	args := []any{"pid", pid, "path", c.Path, "required", c.Required}
	if in.SDK != "" {
		args = append(args, "sdk", in.SDK)
	}
	p.log.Info("plugin started", args...)
	return nil
}

// versionedPlugins are the plugin sets of every protocol version the
// host speaks (go-plugin offers them all in PLUGIN_PROTOCOL_VERSIONS).
func (c Config) versionedPlugins() map[int]plugin.PluginSet {
	m := map[int]plugin.PluginSet{}
	for _, v := range c.ProtocolVersions {
		m[v] = plugins.PluginSet()
	}
	return m
}

// env is the plugin's environment: a few basics and what the Config says.
func (c Config) env() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "LANG", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	for k, v := range c.Env {
		env = append(env, k+"="+v)
	}
	return env
}

var (
	unrecognizedRE  = regexp.MustCompile(`Unrecognized remote plugin message: ([^\n]*)`)
	pluginVersionRE = regexp.MustCompile(`Plugin version: (\d+)`)
)

// handshakeError says why the handshake failed, the plugin's own account
// first: how it exited and what it wrote to stderr, then what go-plugin
// saw (reworded: its boilerplate is about other products).
func (p *Process) handshakeError(client *plugin.Client, exit *pluginlog.ExitStatus, err error) error {
	msg := err.Error()
	// A process that is ending is given a moment, for its exit status.
	for i := 0; i < 20 && !client.Exited(); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	how := ""
	if client.Exited() {
		// "signal: killed" is go-plugin ending a process it gave up on.
		if st := exit.Get(); st != "" && st != "signal: killed" {
			how = "exited with " + st + " before the handshake"
		}
	}
	var why string
	switch {
	case strings.Contains(msg, "incompatible API version"):
		v := "another version"
		if m := pluginVersionRE.FindStringSubmatch(msg); m != nil {
			v = "version " + m[1]
		}
		why = fmt.Sprintf("it speaks plugin protocol %s, this tutor speaks %s (SDK %s): rebuild it with an SDK of a matching version (docs/plugins.md, \"Versions\")",
			v, joinInts(p.cfg.ProtocolVersions), plugins.SDKVersion)
		how = ""
	case strings.Contains(msg, "incompatible core API version"):
		why = "it was built with an incompatible hashicorp/go-plugin: rebuild it with this SDK"
		how = ""
	case unrecognizedRE.MatchString(msg):
		line := strings.TrimSpace(unrecognizedRE.FindStringSubmatch(msg)[1])
		if line != "" {
			how = ""
			why = fmt.Sprintf("not a plugin of this tutor: its first line on stdout was %q, not go-plugin's handshake (main must call plugins.ServeRetriever or plugins.ServeGuardrail and print nothing before)", pluginlog.Cut(line, 200))
		} else if how == "" {
			why = "it closed its stdout without a handshake (main must call plugins.ServeRetriever or plugins.ServeGuardrail)"
		}
	case strings.Contains(msg, "plugin exited before we could connect"):
		if how == "" {
			how = "exited before the handshake"
		}
	case strings.Contains(msg, "timeout while waiting for plugin to start"):
		why = fmt.Sprintf("no handshake within %s (is it a plugin of this tutor? main must call plugins.ServeRetriever or plugins.ServeGuardrail)", p.cfg.StartTimeout)
	default:
		why = "handshake failed: " + firstLine(msg)
	}
	parts := []string{}
	if how != "" {
		parts = append(parts, how)
	}
	if t := p.tail.String(); t != "" {
		parts = append(parts, "its stderr: "+t)
	} else if how != "" {
		parts = append(parts, "nothing on stderr")
	}
	if why != "" {
		parts = append(parts, why)
	}
	return errors.New(strings.Join(parts, "; "))
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return strings.TrimSpace(s[:i])
	}
	return s
}

func joinInts(vs []int) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = fmt.Sprint(v)
	}
	return strings.Join(s, ", ")
}
