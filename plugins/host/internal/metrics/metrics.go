// Package metrics holds the plugin host's Prometheus series, one set per
// host, shared by the supervised processes (calls, latency, up, restarts,
// backoff) and the host's answer screening (dropped results).
package metrics

import "github.com/prometheus/client_golang/prometheus"

// Set is the host's per-plugin figures.
type Set struct {
	Calls    *prometheus.CounterVec   // plugin, method, outcome
	Latency  *prometheus.HistogramVec // plugin, method
	Up       *prometheus.GaugeVec     // plugin
	Restarts *prometheus.CounterVec   // plugin
	Dropped  *prometheus.CounterVec   // plugin, reason
	Backoff  *prometheus.GaugeVec     // plugin
}

// New makes the series and registers them with reg (none when nil). Two
// hosts on one registry share their series.
func New(reg prometheus.Registerer) *Set {
	m := &Set{
		Calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tutor_plugin_calls_total",
			Help: "Calls to plugins by outcome: ok, error, timeout, unavailable, invalid (a malformed answer).",
		}, []string{"plugin", "method", "outcome"}),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tutor_plugin_call_duration_seconds",
			Help:    "Time plugins took to answer, errors included.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"plugin", "method"}),
		Up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tutor_plugin_up",
			Help: "1 while the plugin process is running and configured, else 0.",
		}, []string{"plugin"}),
		Restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tutor_plugin_restarts_total",
			Help: "Plugin processes restarted after exiting or failing health checks.",
		}, []string{"plugin"}),
		Dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tutor_plugin_dropped_results_total",
			Help: "Results the host dropped: locked (above the learner's stage or another course), malformed, oversized, duplicate, excess (beyond top_k).",
		}, []string{"plugin", "reason"}),
		Backoff: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tutor_plugin_restart_backoff_seconds",
			Help: "While a plugin is down, the wait before its next start (doubling per crash or failed start, up to the cap); 0 while it is up.",
		}, []string{"plugin"}),
	}
	if reg != nil {
		m.Calls = register(reg, m.Calls)
		m.Latency = register(reg, m.Latency)
		m.Up = register(reg, m.Up)
		m.Restarts = register(reg, m.Restarts)
		m.Dropped = register(reg, m.Dropped)
		m.Backoff = register(reg, m.Backoff)
	}
	return m
}

// register adds c to reg, or returns the collector a host registered
// there before (two hosts on one registry share their series).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}
