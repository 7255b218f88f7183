package host

import "github.com/prometheus/client_golang/prometheus"

// metrics are the host's per-plugin figures.
type metrics struct {
	calls    *prometheus.CounterVec   // plugin, method, outcome
	latency  *prometheus.HistogramVec // plugin, method
	up       *prometheus.GaugeVec     // plugin
	restarts *prometheus.CounterVec   // plugin
	dropped  *prometheus.CounterVec   // plugin, reason
	backoff  *prometheus.GaugeVec     // plugin
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tutor_plugin_calls_total",
			Help: "Calls to plugins by outcome: ok, error, timeout, unavailable, invalid (a malformed answer).",
		}, []string{"plugin", "method", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tutor_plugin_call_duration_seconds",
			Help:    "Time plugins took to answer, errors included.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"plugin", "method"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tutor_plugin_up",
			Help: "1 while the plugin process is running and configured, else 0.",
		}, []string{"plugin"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tutor_plugin_restarts_total",
			Help: "Plugin processes restarted after exiting or failing health checks.",
		}, []string{"plugin"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tutor_plugin_dropped_results_total",
			Help: "Results the host dropped: locked (above the learner's stage or another course), malformed, oversized, duplicate, excess (beyond top_k).",
		}, []string{"plugin", "reason"}),
		backoff: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tutor_plugin_restart_backoff_seconds",
			Help: "While a plugin is down, the wait before its next start (doubling per crash or failed start, up to the cap); 0 while it is up.",
		}, []string{"plugin"}),
	}
	if reg != nil {
		m.calls = register(reg, m.calls)
		m.latency = register(reg, m.latency)
		m.up = register(reg, m.up)
		m.restarts = register(reg, m.restarts)
		m.dropped = register(reg, m.dropped)
		m.backoff = register(reg, m.backoff)
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
