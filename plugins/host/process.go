package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/learnplatform/platform/plugins"
)

// ErrUnavailable is returned by calls to a plugin that is not running
// (starting, crashed and waiting for its restart, or never started).
var ErrUnavailable = errors.New("plugin unavailable")

// errStopped is why a plugin the host ended on purpose (Close) is down.
var errStopped = errors.New("stopped")

// State is where a plugin's process stands.
type State string

const (
	StateStarting State = "starting"
	StateUp       State = "up"
	StateDown     State = "down"
	StateStopped  State = "stopped"
)

// Plugin is one declared plugin and its supervised process.
type Plugin struct {
	spec Spec
	h    *Host
	log  *slog.Logger

	mu       sync.RWMutex
	state    State
	client   *plugin.Client
	raw      any // *plugins.RetrieverGRPCClient or *plugins.GuardrailGRPCClient
	pid      int
	since    time.Time
	lastErr  error
	restarts int
	tail     *tailBuffer
	exit     *exitStatus   // how the current (or last) process ended
	info     plugins.Info  // what the plugin said about itself at its last start
	backoff  time.Duration // the wait before the next restart while down
	logs     *logLimiter

	kick chan struct{}
	stop chan struct{}
	done chan struct{}
}

// Name is the plugin's declared name.
func (p *Plugin) Name() string { return p.spec.Name }

// Spec is the plugin's declaration.
func (p *Plugin) Spec() Spec { return p.spec }

// PID is the plugin process's id, 0 when none runs.
func (p *Plugin) PID() int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.state != StateUp {
		return 0
	}
	return p.pid
}

// Status is a snapshot for `tutor plugins list` and `check`.
type Status struct {
	Name, Kind, Path string
	Required         bool
	State            State
	PID              int
	Since            time.Time
	Restarts         int
	// LastError is why the plugin is not up (or last went down).
	LastError string
	// Health is the plugin's answer to a health check, when one was asked
	// (Host.Check): "ok" or what failed. Latency is how long it took.
	Health  string
	Latency time.Duration
	// SDK is the SDK version the plugin said it was built with ("" when
	// it did not say: SDK v1.0.0, or another language).
	SDK string
	// Backoff is the wait before the next restart while the plugin is down.
	Backoff time.Duration
}

// Status reports where the plugin stands, without calling it.
func (p *Plugin) Status() Status {
	p.mu.RLock()
	defer p.mu.RUnlock()
	s := Status{Name: p.spec.Name, Kind: p.spec.Kind, Path: p.spec.Path, Required: p.spec.Required,
		State: p.state, Since: p.since, Restarts: p.restarts, SDK: p.info.SDK}
	if p.state != StateUp {
		s.Backoff = p.backoff
	}
	if p.state == StateUp {
		s.PID = p.pid
	}
	if p.lastErr != nil {
		s.LastError = p.lastErr.Error()
	}
	return s
}

// current is the running plugin's gRPC client, or ErrUnavailable.
func (p *Plugin) current() (any, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.state != StateUp {
		if p.lastErr != nil {
			return nil, fmt.Errorf("%w: %s is %s: %v", ErrUnavailable, p.spec.Name, p.state, p.lastErr)
		}
		return nil, fmt.Errorf("%w: %s is %s", ErrUnavailable, p.spec.Name, p.state)
	}
	return p.raw, nil
}

// call runs f against the running plugin with the plugin's timeout and
// counts it. A transport failure wakes the supervisor at once.
func (p *Plugin) call(ctx context.Context, method string, f func(ctx context.Context, raw any) error) error {
	return p.callWithTimeout(ctx, method, p.spec.timeout(), f)
}

func (p *Plugin) callWithTimeout(ctx context.Context, method string, timeout time.Duration, f func(ctx context.Context, raw any) error) error {
	raw, err := p.current()
	if err != nil {
		p.h.metrics.calls.WithLabelValues(p.spec.Name, method, "unavailable").Inc()
		return err
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	err = f(ctx, raw)
	took := time.Since(start)
	p.h.metrics.latency.WithLabelValues(p.spec.Name, method).Observe(took.Seconds())
	outcome := "ok"
	switch {
	case err == nil:
	case errors.Is(err, plugins.ErrUnsupported):
		// An optional call the plugin does not implement (Ingest on a
		// read-only retriever): an answer, not a failure.
		outcome = "unsupported"
	case parent.Err() != nil:
		// The caller gave up (the learner left, or a search answered
		// without this plugin at its soft deadline): not the plugin's fault.
		outcome = "cancelled"
		err = fmt.Errorf("%s: %s: %w", p.spec.Name, method, parent.Err())
	case errors.Is(err, errInvalid):
		outcome = "invalid"
		p.warn("plugin answered garbage; ignored", "method", method, "error", err)
	case status.Code(err) == codes.DeadlineExceeded || errors.Is(err, context.DeadlineExceeded):
		outcome = "timeout"
		p.warn("plugin too slow; cut off", "method", method, "timeout", timeout.String())
		err = fmt.Errorf("%s: %s: timed out after %s: %w", p.spec.Name, method, took.Round(time.Millisecond), context.DeadlineExceeded)
	case status.Code(err) == codes.ResourceExhausted:
		outcome = "invalid"
		p.h.metrics.dropped.WithLabelValues(p.spec.Name, "oversized").Inc()
		p.warn("plugin answer too large; cut off", "method", method, "max_response_bytes", p.spec.maxResponse(), "error", err)
		err = fmt.Errorf("%s: %s: answer too large: %w", p.spec.Name, method, errInvalid)
	default:
		outcome = "error"
		if code := status.Code(err); code == codes.Unavailable || code == codes.Canceled {
			p.nudge()
		}
		p.warn("plugin call failed", "method", method, "error", err)
		err = fmt.Errorf("%s: %s: %w", p.spec.Name, method, err)
	}
	p.h.metrics.calls.WithLabelValues(p.spec.Name, method, outcome).Inc()
	return err
}

// warn logs a warning about the plugin, at most once per LogInterval for
// the same msg: a plugin failing every call cannot flood the log. The
// line after a quiet spell says how many were left out.
func (p *Plugin) warn(msg string, args ...any) {
	ok, suppressed := p.logs.allow(msg)
	if !ok {
		return
	}
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	p.log.Warn(msg, args...)
}

// errInvalid marks an answer the host could not use.
var errInvalid = errors.New("invalid answer")

func (p *Plugin) nudge() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// preflight checks the binary before go-plugin runs it, for messages that
// say what is wrong: missing, not executable, or not the pinned build.
func (s Spec) preflight() error {
	fi, err := os.Stat(s.Path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("binary %s not found", s.Path)
	case err != nil:
		return fmt.Errorf("binary %s: %w", s.Path, err)
	case fi.IsDir():
		return fmt.Errorf("binary %s is a directory", s.Path)
	case fi.Mode().Perm()&0o111 == 0:
		return fmt.Errorf("binary %s is not executable (chmod +x)", s.Path)
	}
	want, err := s.checksum()
	if err != nil {
		return fmt.Errorf("sha256: %w", err)
	}
	got, err := fileSHA256(s.Path)
	if err != nil {
		return err
	}
	if hex.EncodeToString(want) != got {
		return fmt.Errorf("binary %s has sha256 %s, but %s is pinned: refusing to run it (rebuild the pinned version, or pin the new one)", s.Path, got, hex.EncodeToString(want))
	}
	return nil
}

// FileSHA256 is the hex SHA-256 of a file, as pinned in a Spec.
func FileSHA256(path string) (string, error) { return fileSHA256(path) }

func fileSHA256(path string) (string, error) {
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
func (p *Plugin) launch(ctx context.Context) error {
	if err := p.spec.preflight(); err != nil {
		return err
	}
	sum, _ := p.spec.checksum()
	cfg, _ := p.spec.configJSON()
	cmd := exec.Command(p.spec.Path, p.spec.Args...)
	cmd.Env = p.env()
	setParentDeathSignal(cmd)
	p.tail.reset()
	exit := &exitStatus{}
	p.mu.Lock()
	p.exit = exit
	p.mu.Unlock()
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  plugins.Handshake,
		VersionedPlugins: versionedPlugins(),
		Cmd:              cmd,
		SkipHostEnv:      true,
		SecureConfig:     &plugin.SecureConfig{Checksum: sum, Hash: sha256.New()},
		AutoMTLS:         true,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		StartTimeout:     p.h.opts.StartTimeout,
		Logger:           newHclog(p.log, exit),
		Stderr:           p.tail,
		SyncStdout:       &lineLogger{log: p.log, stream: "stdout"},
		SyncStderr:       &lineLogger{log: p.log, stream: "stderr"},
		GRPCDialOptions: []grpc.DialOption{
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(p.spec.maxResponse()), grpc.MaxCallSendMsgSize(plugins.MaxRequestBytes)),
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
			return fail(fmt.Errorf("binary %s changed after its checksum was checked: refusing to run it", p.spec.Path))
		}
		err = p.handshakeError(client, exit, err)
		client.Kill()
		return err
	}
	raw, err := rpc.Dispense(p.spec.Kind)
	if err != nil {
		return fail(fmt.Errorf("dispense %s: %w", p.spec.Kind, err))
	}
	cctx, cancel := context.WithTimeout(ctx, p.h.opts.StartTimeout)
	defer cancel()
	var configure func(context.Context, []byte) error
	var health func(context.Context) error
	var info func() plugins.Info
	switch c := raw.(type) {
	case *plugins.RetrieverGRPCClient:
		configure, health, info = c.Configure, c.Health, func() plugins.Info { return c.Info }
	case *plugins.GuardrailGRPCClient:
		configure, health, info = c.Configure, c.Health, func() plugins.Info { return c.Info }
	}
	if err := configure(cctx, cfg); err != nil {
		switch status.Code(err) {
		case codes.Unimplemented:
			return fail(fmt.Errorf("%s does not serve the %s contract (wrong kind?)", p.spec.Path, p.spec.Kind))
		case codes.InvalidArgument:
			return fail(fmt.Errorf("configuration refused: %s", status.Convert(err).Message()))
		}
		return fail(fmt.Errorf("configure: %w", err))
	}
	hctx, hcancel := context.WithTimeout(ctx, p.spec.timeout())
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
	p.h.metrics.up.WithLabelValues(p.spec.Name).Set(1)
	p.h.metrics.backoff.WithLabelValues(p.spec.Name).Set(0)
	args := []any{"pid", pid, "path", p.spec.Path, "required", p.spec.Required}
	if in.SDK != "" {
		args = append(args, "sdk", in.SDK)
	}
	p.log.Info("plugin started", args...)
	return nil
}

// versionedPlugins are the plugin sets of every protocol version this
// host speaks (go-plugin offers them all in PLUGIN_PROTOCOL_VERSIONS).
func versionedPlugins() map[int]plugin.PluginSet {
	m := map[int]plugin.PluginSet{}
	for _, v := range ProtocolVersions {
		m[v] = plugins.PluginSet()
	}
	return m
}

// ProtocolVersions are the plugin protocol versions this host speaks
// (plugins.ProtocolVersion of the SDKs it can run; docs/plugins.md,
// "Versions").
var ProtocolVersions = []int{plugins.ProtocolVersion}

var (
	unrecognizedRE  = regexp.MustCompile(`Unrecognized remote plugin message: ([^\n]*)`)
	pluginVersionRE = regexp.MustCompile(`Plugin version: (\d+)`)
)

// handshakeError says why the handshake failed, the plugin's own account
// first: how it exited and what it wrote to stderr, then what go-plugin
// saw (reworded: its boilerplate is about other products).
func (p *Plugin) handshakeError(client *plugin.Client, exit *exitStatus, err error) error {
	msg := err.Error()
	// A process that is ending is given a moment, for its exit status.
	for i := 0; i < 20 && !client.Exited(); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	how := ""
	if client.Exited() {
		// "signal: killed" is go-plugin ending a process it gave up on.
		if st := exit.get(); st != "" && st != "signal: killed" {
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
			v, joinInts(ProtocolVersions), plugins.SDKVersion)
		how = ""
	case strings.Contains(msg, "incompatible core API version"):
		why = "it was built with an incompatible hashicorp/go-plugin: rebuild it with this SDK"
		how = ""
	case unrecognizedRE.MatchString(msg):
		line := strings.TrimSpace(unrecognizedRE.FindStringSubmatch(msg)[1])
		if line != "" {
			how = ""
			why = fmt.Sprintf("not a plugin of this tutor: its first line on stdout was %q, not go-plugin's handshake (main must call plugins.ServeRetriever or plugins.ServeGuardrail and print nothing before)", cut(line, 200))
		} else if how == "" {
			why = "it closed its stdout without a handshake (main must call plugins.ServeRetriever or plugins.ServeGuardrail)"
		}
	case strings.Contains(msg, "plugin exited before we could connect"):
		if how == "" {
			how = "exited before the handshake"
		}
	case strings.Contains(msg, "timeout while waiting for plugin to start"):
		why = fmt.Sprintf("no handshake within %s (is it a plugin of this tutor? main must call plugins.ServeRetriever or plugins.ServeGuardrail)", p.h.opts.StartTimeout)
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

// env is the plugin's environment: a few basics and what the Spec says.
func (p *Plugin) env() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "LANG", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	for k, v := range p.spec.Env {
		env = append(env, k+"="+v)
	}
	return env
}

// down kills the process (if any) and records why.
func (p *Plugin) down(why error) {
	p.mu.Lock()
	client := p.client
	wasUp := p.state == StateUp
	p.client, p.raw, p.pid = nil, nil, 0
	if p.state != StateStopped {
		p.state = StateDown
	}
	p.lastErr = why
	p.since = time.Now()
	p.mu.Unlock()
	p.h.metrics.up.WithLabelValues(p.spec.Name).Set(0)
	if client != nil {
		client.Kill()
	}
	switch {
	case wasUp && errors.Is(why, errStopped):
		p.log.Info("plugin stopped")
	case wasUp:
		p.log.Warn("plugin down", "reason", why.Error(), "required", p.spec.Required)
	}
}

// exited is why a process that ended by itself is down: its exit status
// and last lines on stderr.
func (p *Plugin) exited() error {
	p.mu.RLock()
	exit := p.exit
	p.mu.RUnlock()
	msg := "process exited"
	if st := exit.get(); st != "" {
		msg += " with " + st
	}
	if t := p.tail.String(); t != "" {
		msg += "; its last output: " + t
	}
	return errors.New(msg)
}

// supervise restarts the plugin whenever it is down, with exponential
// backoff, and watches it while it is up. It returns when stop closes.
//
// The wait before a restart doubles (MinBackoff up to MaxBackoff) after
// every failed start and after every crash of a process that had not
// stayed up StableAfter: a plugin that starts fine and then crashes on
// every call is restarted ever more slowly, not every few hundred
// milliseconds. A process that stayed up StableAfter restarts after
// MinBackoff again. logged is the start error already reported.
func (p *Plugin) supervise(started bool, logged string) {
	defer close(p.done)
	o := p.h.opts
	backoff := o.MinBackoff
	tick := time.NewTicker(o.WatchInterval)
	defer tick.Stop()
	lastHealth := time.Now()
	failures := 0
	for {
		if !started {
			p.mu.Lock()
			p.backoff = backoff
			p.mu.Unlock()
			p.h.metrics.backoff.WithLabelValues(p.spec.Name).Set(backoff.Seconds())
			select {
			case <-p.stop:
				return
			case <-time.After(backoff):
			}
			p.mu.Lock()
			p.state = StateStarting
			p.mu.Unlock()
			err := p.launch(context.Background())
			if err != nil {
				p.mu.Lock()
				p.state, p.lastErr = StateDown, err
				p.mu.Unlock()
				backoff = min(backoff*2, o.MaxBackoff)
				if msg := err.Error(); msg != logged {
					p.log.Warn("plugin restart failed; retrying", "error", msg, "required", p.spec.Required, "retry_in", backoff.String())
					logged = msg
				}
				continue
			}
			p.mu.Lock()
			p.restarts++
			p.mu.Unlock()
			p.h.metrics.restarts.WithLabelValues(p.spec.Name).Inc()
			logged, failures, lastHealth = "", 0, time.Now()
		}
		started = false
		upSince := time.Now()
		// Watch until it goes down.
		for {
			var check bool
			select {
			case <-p.stop:
				return
			case <-p.kick:
				check = true
			case <-tick.C:
				check = time.Since(lastHealth) >= o.HealthInterval
			}
			p.mu.RLock()
			client, raw := p.client, p.raw
			p.mu.RUnlock()
			if client == nil {
				break
			}
			if client.Exited() {
				p.down(p.exited())
				break
			}
			if !check {
				continue
			}
			lastHealth = time.Now()
			if err := p.healthOf(raw); err != nil {
				failures++
				p.log.Warn("plugin health check failed", "error", err.Error(), "failures", failures)
				if failures >= o.UnhealthyAfter {
					p.down(fmt.Errorf("failed %d health checks: %w", failures, err))
					break
				}
				continue
			}
			failures = 0
		}
		if time.Since(upSince) >= o.StableAfter {
			backoff = o.MinBackoff
		} else {
			backoff = min(backoff*2, o.MaxBackoff)
		}
		p.log.Info("plugin restarts after its backoff", "retry_in", backoff.String(), "was_up", time.Since(upSince).Round(time.Millisecond).String())
	}
}

func (p *Plugin) healthOf(raw any) error {
	ctx, cancel := context.WithTimeout(context.Background(), p.spec.timeout())
	defer cancel()
	if h, ok := raw.(plugins.HealthChecker); ok {
		return h.Health(ctx)
	}
	return nil
}

// Health asks the running plugin now.
func (p *Plugin) Health(ctx context.Context) error {
	return p.call(ctx, "Health", func(ctx context.Context, raw any) error {
		return raw.(plugins.HealthChecker).Health(ctx)
	})
}

// close stops supervising and ends the process.
func (p *Plugin) close() {
	p.mu.Lock()
	if p.state == StateStopped {
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	close(p.stop)
	<-p.done
	p.down(errStopped)
	p.mu.Lock()
	p.state = StateStopped
	p.mu.Unlock()
}

// tailBuffer keeps the last lines a plugin wrote to stderr, for error
// messages. Debug and trace lines in hclog's JSON (go-plugin's own mTLS
// and address chatter, and the plugin's debug logging) are left out; the
// other JSON lines are shown as their level, message and fields.
type tailBuffer struct {
	mu    sync.Mutex
	lines []string
	part  strings.Builder
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range string(b) {
		if c == '\n' {
			if line, ok := tailLine(t.part.String()); ok {
				t.lines = append(t.lines, line)
				if len(t.lines) > 5 {
					t.lines = t.lines[1:]
				}
			}
			t.part.Reset()
			continue
		}
		if t.part.Len() < 2000 {
			t.part.WriteRune(c)
		}
	}
	return len(b), nil
}

// tailLine is how a stderr line is shown, and whether at all.
func tailLine(line string) (string, bool) {
	line = strings.TrimSpace(line)
	if line == "" {
		return "", false
	}
	if !strings.HasPrefix(line, "{") {
		return cut(line, 500), true
	}
	var m map[string]any
	if json.Unmarshal([]byte(line), &m) != nil {
		return cut(line, 500), true
	}
	level, _ := m["@level"].(string)
	if level == "debug" || level == "trace" {
		return "", false
	}
	msg, _ := m["@message"].(string)
	var keys []string
	for k := range m {
		if !strings.HasPrefix(k, "@") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	if level != "" {
		b.WriteString(level + ": ")
	}
	b.WriteString(msg)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%v", k, m[k])
	}
	return cut(b.String(), 500), true
}

func (t *tailBuffer) reset() {
	t.mu.Lock()
	t.lines, t.part = nil, strings.Builder{}
	t.mu.Unlock()
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	ls := append([]string{}, t.lines...)
	if line, ok := tailLine(t.part.String()); ok {
		ls = append(ls, line)
	}
	return strings.Join(ls, " | ")
}

// exitStatus is how a plugin process ended, as go-plugin reports it
// ("exit status 1", "signal: killed"); "" until it ended.
type exitStatus struct {
	mu     sync.Mutex
	status string
}

func (e *exitStatus) set(s string) {
	e.mu.Lock()
	e.status = s
	e.mu.Unlock()
}

func (e *exitStatus) get() string {
	if e == nil {
		return ""
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.status
}

// lineLogger logs what a plugin writes to os.Stdout or os.Stderr after it
// started serving (go-plugin forwards both), one log line per line.
type lineLogger struct {
	log    *slog.Logger
	stream string
	mu     sync.Mutex
	part   []byte
}

func (l *lineLogger) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.part = append(l.part, b...)
	for {
		i := bytes.IndexByte(l.part, '\n')
		if i < 0 {
			break
		}
		l.log.Info(string(l.part[:i]), "stream", l.stream)
		l.part = l.part[i+1:]
	}
	if len(l.part) > 4096 {
		l.log.Info(string(l.part), "stream", l.stream)
		l.part = l.part[:0]
	}
	return len(b), nil
}
