package host

import (
	"context"
	"time"

	"github.com/learnplatform/platform/plugins"
	"github.com/learnplatform/platform/plugins/host/internal/metrics"
	"github.com/learnplatform/platform/plugins/host/internal/process"
)

// ErrUnavailable is returned by calls to a plugin that is not running
// (starting, crashed and waiting for its restart, or never started).
var ErrUnavailable = process.ErrUnavailable

// errInvalid marks an answer the host could not use (counted as
// "invalid", not as the plugin's error).
var errInvalid = process.ErrInvalid

// State is where a plugin's process stands.
type State = process.State

// The states of a plugin's process.
const (
	StateStarting = process.StateStarting
	StateUp       = process.StateUp
	StateDown     = process.StateDown
	StateStopped  = process.StateStopped
)

// ProtocolVersions are the plugin protocol versions this host speaks
// (plugins.ProtocolVersion of the SDKs it can run; docs/plugins.md,
// "Versions").
var ProtocolVersions = []int{plugins.ProtocolVersion}

// FileSHA256 is the hex SHA-256 of a file, as pinned in a Spec.
func FileSHA256(path string) (string, error) { return process.FileSHA256(path) }

// Plugin is one declared plugin and its supervised process.
type Plugin struct {
	spec    Spec
	proc    *process.Process
	metrics *metrics.Set
}

// Name is the plugin's declared name.
func (p *Plugin) Name() string { return p.spec.Name }

// Spec is the plugin's declaration.
func (p *Plugin) Spec() Spec { return p.spec }

// PID is the plugin process's id, 0 when none runs.
func (p *Plugin) PID() int { return p.proc.Snapshot().PID }

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
	s := p.proc.Snapshot()
	st := Status{Name: p.spec.Name, Kind: p.spec.Kind, Path: p.spec.Path, Required: p.spec.Required,
		State: s.State, PID: s.PID, Since: s.Since, Restarts: s.Restarts, SDK: s.Info.SDK, Backoff: s.Backoff}
	if s.LastError != nil {
		st.LastError = s.LastError.Error()
	}
	return st
}

// Health asks the running plugin now.
func (p *Plugin) Health(ctx context.Context) error {
	return p.proc.Call(ctx, "Health", func(ctx context.Context, client any) error {
		return client.(plugins.HealthChecker).Health(ctx)
	})
}
