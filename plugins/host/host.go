package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/learnplatform/platform/plugins"
	"github.com/learnplatform/platform/plugins/host/internal/metrics"
	"github.com/learnplatform/platform/plugins/host/internal/pluginlog"
	"github.com/learnplatform/platform/plugins/host/internal/process"
)

// Options tune the host; zero values take the defaults noted.
type Options struct {
	// Logger receives the host's and the plugins' logs (default slog.Default).
	Logger *slog.Logger
	// Registerer gets the plugin metrics; nil registers none.
	Registerer prometheus.Registerer
	// StartTimeout bounds one start: process, handshake, Configure (10s).
	StartTimeout time.Duration
	// HealthInterval is how often a running plugin is health-checked (5s).
	HealthInterval time.Duration
	// UnhealthyAfter failed health checks in a row restart a plugin (3).
	UnhealthyAfter int
	// MinBackoff and MaxBackoff bound the wait before a restart (100ms, 30s);
	// it doubles per failed start and falls back to MinBackoff once a
	// plugin stayed up for StableAfter (30s).
	MinBackoff, MaxBackoff, StableAfter time.Duration
	// WatchInterval is how often the host looks whether a process exited (200ms).
	WatchInterval time.Duration
	// LogInterval: the same warning about a plugin (a failed call, a slow
	// one, dropped results) is logged at most once per LogInterval (10s),
	// with a count of the ones left out.
	LogInterval time.Duration
	// SearchSoftDeadline: once it passed and at least one retriever
	// answered, Search answers with those and cancels the others' calls
	// (500ms). The plugins' own timeouts still bound a search nobody
	// answered.
	SearchSoftDeadline time.Duration
	// SearchQuorum: Search answers as soon as this many retrievers did
	// (0: all of them).
	SearchQuorum int
	// StartDegraded makes Start keep going when a required plugin cannot
	// start: it is left down and retried like an optional one, and Start
	// logs no start failure (the caller shows them, Status.LastError).
	// `tutor plugins check` uses it to show every plugin's state.
	StartDegraded bool
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.StartTimeout, 10*time.Second)
	def(&o.HealthInterval, 5*time.Second)
	def(&o.MinBackoff, 100*time.Millisecond)
	def(&o.MaxBackoff, 30*time.Second)
	def(&o.StableAfter, 30*time.Second)
	def(&o.WatchInterval, 200*time.Millisecond)
	def(&o.LogInterval, 10*time.Second)
	def(&o.SearchSoftDeadline, 500*time.Millisecond)
	if o.UnhealthyAfter <= 0 {
		o.UnhealthyAfter = 3
	}
}

// Host runs the declared plugins.
type Host struct {
	opts       Options
	metrics    *metrics.Set
	plugins    []*Plugin
	retrievers []*Retriever
	guardrails []*Guardrail
	closeOnce  sync.Once
	logs       *pluginlog.Limiter // the host's own warnings (searches answered without some retrievers)
}

// StartError is Start's error when required plugins could not start.
type StartError struct {
	// Failed maps plugin names to why each did not start.
	Failed map[string]error
	order  []string
}

func (e *StartError) Error() string {
	msg := "required plugins did not start:"
	if len(e.order) == 1 {
		msg = "required plugin did not start:"
	}
	for _, n := range e.order {
		msg += fmt.Sprintf(" %s: %v;", n, e.Failed[n])
	}
	return msg[:len(msg)-1]
}

// Start validates the declarations and starts every plugin at once. It
// fails, ending whatever it started, when a declaration is invalid or a
// required plugin cannot start; an optional plugin that cannot start is
// logged as a warning and retried in the background, its calls failing
// with ErrUnavailable meanwhile.
func Start(ctx context.Context, specs []Spec, opts Options) (*Host, error) {
	opts.defaults()
	h := &Host{opts: opts, metrics: metrics.New(opts.Registerer), logs: pluginlog.NewLimiter(opts.LogInterval)}
	seen := map[string]bool{}
	for i, s := range specs {
		if err := s.Validate(); err != nil {
			return nil, fmt.Errorf("plugins[%d] (%s): %w", i, s.Name, err)
		}
		if seen[s.Name] {
			return nil, fmt.Errorf("plugins[%d]: name %q declared twice", i, s.Name)
		}
		seen[s.Name] = true
		p := &Plugin{spec: s, proc: process.New(h.processConfig(s)), metrics: h.metrics}
		h.plugins = append(h.plugins, p)
		switch s.Kind {
		case plugins.KindRetriever:
			h.retrievers = append(h.retrievers, &Retriever{p})
		case plugins.KindGuardrail:
			h.guardrails = append(h.guardrails, &Guardrail{p})
		}
	}
	errs := make([]error, len(h.plugins))
	var wg sync.WaitGroup
	for i, p := range h.plugins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.proc.Start(ctx)
		}()
	}
	wg.Wait()
	failed := &StartError{Failed: map[string]error{}}
	for i, p := range h.plugins {
		switch {
		case errs[i] == nil, opts.StartDegraded:
		case p.spec.Required:
			failed.Failed[p.spec.Name] = errs[i]
			failed.order = append(failed.order, p.spec.Name)
		default:
			p.proc.Warn("optional plugin did not start; running without it and retrying", "error", errs[i].Error())
		}
	}
	if len(failed.order) > 0 {
		for _, p := range h.plugins {
			p.proc.Kill(errors.New("start-up failed"))
		}
		return nil, failed
	}
	for i, p := range h.plugins {
		logged := ""
		if errs[i] != nil {
			logged = errs[i].Error()
		}
		go p.proc.Supervise(logged)
	}
	return h, nil
}

// processConfig is what supervising the plugin of s takes.
func (h *Host) processConfig(s Spec) process.Config {
	o := h.opts
	sum, _ := s.checksum()
	cfg, _ := s.configJSON()
	return process.Config{
		Name: s.Name, Kind: s.Kind, Path: s.Path, Args: s.Args, Env: s.Env,
		Checksum: sum, ConfigJSON: cfg, Timeout: s.timeout(), MaxResponseBytes: s.maxResponse(),
		Required: s.Required, ProtocolVersions: ProtocolVersions,
		StartTimeout: o.StartTimeout, HealthInterval: o.HealthInterval, WatchInterval: o.WatchInterval, LogInterval: o.LogInterval,
		MinBackoff: o.MinBackoff, MaxBackoff: o.MaxBackoff, StableAfter: o.StableAfter, UnhealthyAfter: o.UnhealthyAfter,
		Log: o.Logger.With("plugin", s.Name), Metrics: h.metrics,
	}
}

// Ready is the host's readiness, for the tutor's /readyz: an error naming
// every required plugin that is not up (crashed and waiting for its
// restart, or failing its start) and why. Optional plugins do not count.
func (h *Host) Ready(context.Context) error {
	var down []string
	for _, p := range h.plugins {
		st := p.Status()
		if !st.Required || st.State == StateUp {
			continue
		}
		msg := fmt.Sprintf("required plugin %s is %s", st.Name, st.State)
		if st.Backoff > 0 && st.State == StateDown {
			msg += fmt.Sprintf(" (next start within %s)", st.Backoff.Round(time.Millisecond))
		}
		if st.LastError != "" {
			msg += ": " + OneLine(st.LastError, 200)
		}
		down = append(down, msg)
	}
	if len(down) > 0 {
		return errors.New(strings.Join(down, "; "))
	}
	return nil
}

// Close ends every plugin process.
func (h *Host) Close() {
	h.closeOnce.Do(func() {
		var wg sync.WaitGroup
		for _, p := range h.plugins {
			wg.Add(1)
			go func() { defer wg.Done(); p.proc.Close() }()
		}
		wg.Wait()
	})
}

// Plugins lists every declared plugin in declaration order.
func (h *Host) Plugins() []*Plugin { return h.plugins }

// Plugin finds a plugin by name.
func (h *Host) Plugin(name string) *Plugin {
	for _, p := range h.plugins {
		if p.spec.Name == name {
			return p
		}
	}
	return nil
}

// Retrievers lists the retriever plugins in declaration order.
func (h *Host) Retrievers() []*Retriever { return h.retrievers }

// Guardrails lists the guardrail plugins in declaration order (the order
// they are applied in).
func (h *Host) Guardrails() []*Guardrail { return h.guardrails }

// Check asks every plugin's health now, in parallel, for `tutor plugins
// check`.
func (h *Host) Check(ctx context.Context) []Status {
	out := make([]Status, len(h.plugins))
	var wg sync.WaitGroup
	for i, p := range h.plugins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			err := p.Health(ctx)
			out[i] = p.Status()
			out[i].Latency = time.Since(start)
			out[i].Health = "ok"
			if err != nil {
				out[i].Health = err.Error()
			}
		}()
	}
	wg.Wait()
	return out
}
