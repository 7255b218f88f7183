package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
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
}

// Status reports where the plugin stands, without calling it.
func (p *Plugin) Status() Status {
	p.mu.RLock()
	defer p.mu.RUnlock()
	s := Status{Name: p.spec.Name, Kind: p.spec.Kind, Path: p.spec.Path, Required: p.spec.Required,
		State: p.state, Since: p.since, Restarts: p.restarts}
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
	case errors.Is(err, errInvalid):
		outcome = "invalid"
		p.log.Warn("plugin answered garbage; ignored", "method", method, "error", err)
	case status.Code(err) == codes.DeadlineExceeded || errors.Is(err, context.DeadlineExceeded):
		outcome = "timeout"
		if parent.Err() == nil {
			p.log.Warn("plugin too slow; cut off", "method", method, "timeout", timeout)
		}
		err = fmt.Errorf("%s: %s: timed out after %s: %w", p.spec.Name, method, took.Round(time.Millisecond), context.DeadlineExceeded)
	case status.Code(err) == codes.ResourceExhausted:
		outcome = "invalid"
		p.h.metrics.dropped.WithLabelValues(p.spec.Name, "oversized").Inc()
		p.log.Warn("plugin answer too large; cut off", "method", method, "max_response_bytes", p.spec.maxResponse(), "error", err)
		err = fmt.Errorf("%s: %s: answer too large: %w", p.spec.Name, method, errInvalid)
	default:
		outcome = "error"
		if code := status.Code(err); code == codes.Unavailable || code == codes.Canceled && parent.Err() == nil {
			p.nudge()
		}
		p.log.Warn("plugin call failed", "method", method, "error", err)
		err = fmt.Errorf("%s: %s: %w", p.spec.Name, method, err)
	}
	p.h.metrics.calls.WithLabelValues(p.spec.Name, method, outcome).Inc()
	return err
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
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  plugins.Handshake,
		Plugins:          plugins.PluginSet(),
		Cmd:              cmd,
		SkipHostEnv:      true,
		SecureConfig:     &plugin.SecureConfig{Checksum: sum, Hash: sha256.New()},
		AutoMTLS:         true,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		StartTimeout:     p.h.opts.StartTimeout,
		Logger:           newHclog(p.log),
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
		return fail(fmt.Errorf("handshake failed (is %s a plugin built for this tutor, protocol version %d?): %w", p.spec.Path, plugins.ProtocolVersion, err))
	}
	raw, err := rpc.Dispense(p.spec.Kind)
	if err != nil {
		return fail(fmt.Errorf("dispense %s: %w", p.spec.Kind, err))
	}
	cctx, cancel := context.WithTimeout(ctx, p.h.opts.StartTimeout)
	defer cancel()
	var configure func(context.Context, []byte) error
	var health func(context.Context) error
	switch c := raw.(type) {
	case *plugins.RetrieverGRPCClient:
		configure, health = c.Configure, c.Health
	case *plugins.GuardrailGRPCClient:
		configure, health = c.Configure, c.Health
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
	p.mu.Lock()
	p.client, p.raw, p.pid, p.state, p.since, p.lastErr = client, raw, pid, StateUp, time.Now(), nil
	p.mu.Unlock()
	p.h.metrics.up.WithLabelValues(p.spec.Name).Set(1)
	p.log.Info("plugin started", "pid", pid, "path", p.spec.Path)
	return nil
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
		p.log.Warn("plugin down", "reason", why)
	}
}

// supervise restarts the plugin whenever it is down, with exponential
// backoff, and watches it while it is up. It returns when stop closes.
func (p *Plugin) supervise(started bool) {
	defer close(p.done)
	o := p.h.opts
	backoff := o.MinBackoff
	tick := time.NewTicker(o.WatchInterval)
	defer tick.Stop()
	lastHealth := time.Now()
	failures := 0
	var lastLogged string
	for {
		if !started {
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
				if msg := err.Error(); msg != lastLogged {
					p.log.Warn("plugin restart failed; retrying", "error", err, "backoff", backoff)
					lastLogged = msg
				}
				backoff = min(backoff*2, o.MaxBackoff)
				continue
			}
			p.mu.Lock()
			p.restarts++
			p.mu.Unlock()
			p.h.metrics.restarts.WithLabelValues(p.spec.Name).Inc()
			lastLogged, failures, lastHealth = "", 0, time.Now()
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
				p.down(errors.New("process exited"))
				break
			}
			if !check {
				continue
			}
			lastHealth = time.Now()
			if err := p.healthOf(raw); err != nil {
				failures++
				p.log.Warn("plugin health check failed", "error", err, "failures", failures)
				if failures >= o.UnhealthyAfter {
					p.down(fmt.Errorf("failed %d health checks: %w", failures, err))
					break
				}
				continue
			}
			failures = 0
		}
		if time.Since(upSince) > o.StableAfter {
			backoff = o.MinBackoff
		}
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

// tailBuffer keeps the last lines a plugin wrote to stderr, for start-up
// error messages.
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
			t.lines = append(t.lines, t.part.String())
			t.part.Reset()
			if len(t.lines) > 5 {
				t.lines = t.lines[1:]
			}
			continue
		}
		if t.part.Len() < 500 {
			t.part.WriteRune(c)
		}
	}
	return len(b), nil
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
	if t.part.Len() > 0 {
		ls = append(ls, t.part.String())
	}
	return strings.Join(ls, " | ")
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
