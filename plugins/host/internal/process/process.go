// Package process runs one plugin as a supervised child process: it
// checks the binary against its pinned checksum, starts it with go-plugin
// (versioned handshake, AutoMTLS, gRPC), configures and health-checks it,
// restarts it with exponential backoff when it exits or stops answering
// its health checks, and times, counts and classifies every call. Only
// plugins/host uses it, to build its retrievers and guardrails on.
package process

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/learnplatform/platform/plugins"
	"github.com/learnplatform/platform/plugins/host/internal/metrics"
	"github.com/learnplatform/platform/plugins/host/internal/pluginlog"
)

// ErrUnavailable is returned by calls to a plugin that is not running
// (starting, crashed and waiting for its restart, or never started).
var ErrUnavailable = errors.New("plugin unavailable")

// ErrInvalid marks an answer the host could not use; a call that returns
// it counts as "invalid", not as the plugin's error.
var ErrInvalid = errors.New("invalid answer")

// errStopped is why a plugin the host ended on purpose (Close) is down.
var errStopped = errors.New("stopped")

// State is where a plugin's process stands.
type State string

// The states of a plugin's process.
const (
	StateStarting State = "starting"
	StateUp       State = "up"
	StateDown     State = "down"
	StateStopped  State = "stopped"
)

// Config is one plugin as its supervisor needs it: the host's declaration
// and options, defaults applied.
type Config struct {
	Name, Kind, Path string
	Args             []string
	// Env is the plugin's environment besides PATH, HOME, TMPDIR, LANG, TZ.
	Env map[string]string
	// Checksum is the binary's pinned SHA-256.
	Checksum []byte
	// ConfigJSON is sent with Configure after every start.
	ConfigJSON []byte
	// Timeout bounds a call; MaxResponseBytes an answer.
	Timeout          time.Duration
	MaxResponseBytes int
	Required         bool
	// ProtocolVersions are the plugin protocol versions the host speaks.
	ProtocolVersions []int

	// Supervision, as in the host's Options.
	StartTimeout, HealthInterval, WatchInterval, LogInterval time.Duration
	MinBackoff, MaxBackoff, StableAfter                      time.Duration
	UnhealthyAfter                                           int

	// Log is tagged with the plugin's name.
	Log     *slog.Logger
	Metrics *metrics.Set
}

// Process is one plugin and its supervised process.
type Process struct {
	cfg  Config
	log  *slog.Logger
	m    *metrics.Set
	tail *pluginlog.Tail
	logs *pluginlog.Limiter

	mu       sync.RWMutex
	state    State
	client   *plugin.Client
	raw      any // *plugins.RetrieverGRPCClient or *plugins.GuardrailGRPCClient
	pid      int
	since    time.Time
	lastErr  error
	restarts int
	exit     *pluginlog.ExitStatus // how the current (or last) process ended
	info     plugins.Info          // what the plugin said about itself at its last start
	backoff  time.Duration         // the wait before the next restart while down

	kick chan struct{}
	stop chan struct{}
	done chan struct{}
}

// New declares the process; Start starts it.
func New(cfg Config) *Process {
	return &Process{cfg: cfg, log: cfg.Log, m: cfg.Metrics, state: StateStarting,
		tail: &pluginlog.Tail{}, logs: pluginlog.NewLimiter(cfg.LogInterval),
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
}

// Snapshot is where a process stands.
type Snapshot struct {
	State State
	// PID is the process's id while it is up, else 0.
	PID      int
	Since    time.Time
	Restarts int
	// LastError is why the plugin is not up (or last went down).
	LastError error
	// Info is what the plugin said about itself at its last start.
	Info plugins.Info
	// Backoff is the wait before the next restart while it is not up.
	Backoff time.Duration
}

// Snapshot reports where the process stands, without calling it.
func (p *Process) Snapshot() Snapshot {
	p.mu.RLock()
	defer p.mu.RUnlock()
	s := Snapshot{State: p.state, Since: p.since, Restarts: p.restarts, LastError: p.lastErr, Info: p.info}
	if p.state == StateUp {
		s.PID = p.pid
	} else {
		s.Backoff = p.backoff
	}
	return s
}

// Client is the running plugin's gRPC client (*plugins.RetrieverGRPCClient
// or *plugins.GuardrailGRPCClient), or ErrUnavailable.
func (p *Process) Client() (any, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.state != StateUp {
		if p.lastErr != nil {
			return nil, fmt.Errorf("%w: %s is %s: %v", ErrUnavailable, p.cfg.Name, p.state, p.lastErr)
		}
		return nil, fmt.Errorf("%w: %s is %s", ErrUnavailable, p.cfg.Name, p.state)
	}
	return p.raw, nil
}

// Call runs f against the running plugin's client with the plugin's
// timeout, and counts and times it. A transport failure wakes the
// supervisor at once.
func (p *Process) Call(ctx context.Context, method string, f func(ctx context.Context, client any) error) error {
	return p.CallWithTimeout(ctx, method, p.cfg.Timeout, f)
}

// CallWithTimeout is Call with another timeout.
func (p *Process) CallWithTimeout(ctx context.Context, method string, timeout time.Duration, f func(ctx context.Context, client any) error) error {
	name := p.cfg.Name
	raw, err := p.Client()
	if err != nil {
		p.m.Calls.WithLabelValues(name, method, "unavailable").Inc()
		return err
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	err = f(ctx, raw)
	took := time.Since(start)
	p.m.Latency.WithLabelValues(name, method).Observe(took.Seconds())
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
		err = fmt.Errorf("%s: %s: %w", name, method, parent.Err())
	case errors.Is(err, ErrInvalid):
		outcome = "invalid"
		p.Warn("plugin answered garbage; ignored", "method", method, "error", err)
	case status.Code(err) == codes.DeadlineExceeded || errors.Is(err, context.DeadlineExceeded):
		outcome = "timeout"
		p.Warn("plugin too slow; cut off", "method", method, "timeout", timeout.String())
		err = fmt.Errorf("%s: %s: timed out after %s: %w", name, method, took.Round(time.Millisecond), context.DeadlineExceeded)
	case status.Code(err) == codes.ResourceExhausted:
		outcome = "invalid"
		p.m.Dropped.WithLabelValues(name, "oversized").Inc()
		p.Warn("plugin answer too large; cut off", "method", method, "max_response_bytes", p.cfg.MaxResponseBytes, "error", err)
		err = fmt.Errorf("%s: %s: answer too large: %w", name, method, ErrInvalid)
	default:
		outcome = "error"
		if code := status.Code(err); code == codes.Unavailable || code == codes.Canceled {
			p.nudge()
		}
		p.Warn("plugin call failed", "method", method, "error", err)
		err = fmt.Errorf("%s: %s: %w", name, method, err)
	}
	p.m.Calls.WithLabelValues(name, method, outcome).Inc()
	return err
}

// Warn logs a warning about the plugin, at most once per LogInterval for
// the same msg: a plugin failing every call cannot flood the log. The
// line after a quiet spell says how many were left out.
func (p *Process) Warn(msg string, args ...any) {
	ok, suppressed := p.logs.Allow(msg)
	if !ok {
		return
	}
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	p.log.Warn(msg, args...)
}

func (p *Process) nudge() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Start starts the process once. When it cannot, the plugin is left down
// with the error (Supervise retries it) and Start returns it.
func (p *Process) Start(ctx context.Context) error {
	err := p.launch(ctx)
	if err != nil {
		p.mu.Lock()
		p.state, p.lastErr, p.backoff = StateDown, err, p.cfg.MinBackoff
		p.mu.Unlock()
		p.m.Up.WithLabelValues(p.cfg.Name).Set(0)
	}
	return err
}

// Kill ends the process, if any, and records why, without supervising:
// for a start of several plugins that failed as a whole.
func (p *Process) Kill(why error) { p.down(why) }

// down kills the process (if any) and records why.
func (p *Process) down(why error) {
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
	p.m.Up.WithLabelValues(p.cfg.Name).Set(0)
	if client != nil {
		client.Kill()
	}
	switch {
	case wasUp && errors.Is(why, errStopped):
		p.log.Info("plugin stopped")
	case wasUp:
		p.log.Warn("plugin down", "reason", why.Error(), "required", p.cfg.Required)
	}
}

// exited is why a process that ended by itself is down: its exit status
// and last lines on stderr.
func (p *Process) exited() error {
	p.mu.RLock()
	exit := p.exit
	p.mu.RUnlock()
	msg := "process exited"
	if st := exit.Get(); st != "" {
		msg += " with " + st
	}
	if t := p.tail.String(); t != "" {
		msg += "; its last output: " + t
	}
	return errors.New(msg)
}

// Supervise restarts the plugin whenever it is down, with exponential
// backoff, and watches it while it is up, until Close. Run it once, in a
// goroutine of its own, after Start. logged is the start error already
// reported.
//
// The wait before a restart doubles (MinBackoff up to MaxBackoff) after
// every failed start and after every crash of a process that had not
// stayed up StableAfter: a plugin that starts fine and then crashes on
// every call is restarted ever more slowly, not every few hundred
// milliseconds. A process that stayed up StableAfter restarts after
// MinBackoff again.
func (p *Process) Supervise(logged string) {
	defer close(p.done)
	o, name := p.cfg, p.cfg.Name
	started := p.Snapshot().State == StateUp
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
			p.m.Backoff.WithLabelValues(name).Set(backoff.Seconds())
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
					p.log.Warn("plugin restart failed; retrying", "error", msg, "required", o.Required, "retry_in", backoff.String())
					logged = msg
				}
				continue
			}
			p.mu.Lock()
			p.restarts++
			p.mu.Unlock()
			p.m.Restarts.WithLabelValues(name).Inc()
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

func (p *Process) healthOf(raw any) error {
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.Timeout)
	defer cancel()
	if h, ok := raw.(plugins.HealthChecker); ok {
		return h.Health(ctx)
	}
	return nil
}

// Close stops supervising and ends the process. It needs Supervise to
// have run.
func (p *Process) Close() {
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
