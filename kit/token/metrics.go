package token

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/learnplatform/platform/kit/token/jwks"
)

// outcomes are the values of token_validations_total's outcome label; the
// set is fixed so the label cannot grow with hostile input.
var outcomes = []string{
	"valid", "unavailable",
	"malformed", "algorithm", "unknown_key", "signature", "claims",
	"issuer", "token_type", "audience", "expired", "not_yet_valid", "revoked",
}

type metrics struct {
	validations *prometheus.CounterVec
	jwks        jwks.Metrics
	cache       *prometheus.CounterVec

	// Resolved once so the hot path does no label lookups.
	validated   prometheus.Counter
	unavailable prometheus.Counter
	byReason    map[string]prometheus.Counter
	cacheHits   prometheus.Counter
	cacheMisses prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		validations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "token_validations_total",
			Help: "Bearer token validations, by outcome (valid, unavailable, or why the token was refused).",
		}, []string{"outcome"}),
		jwks: jwks.Metrics{
			Refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "token_jwks_refreshes_total",
				Help: "JWKS fetches, by outcome (success, failure).",
			}, []string{"outcome"}),
			Keys: prometheus.NewGauge(prometheus.GaugeOpts{
				Name: "token_jwks_keys",
				Help: "Signing key ids in the cached JWKS.",
			}),
			LastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
				Name: "token_jwks_last_success_timestamp_seconds",
				Help: "When the JWKS was last fetched successfully (Unix seconds).",
			}),
		},
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "token_cache_lookups_total",
			Help: "Lookups in the cache of verified tokens, by outcome (hit: answered without a signature check, miss: signature checked).",
		}, []string{"outcome"}),
	}
	if reg != nil {
		// A second Validator on the same registry shares the collectors.
		var errs [5]error
		m.validations, errs[0] = register(reg, m.validations)
		m.jwks.Refreshes, errs[1] = register(reg, m.jwks.Refreshes)
		m.jwks.Keys, errs[2] = register(reg, m.jwks.Keys)
		m.jwks.LastSuccess, errs[3] = register(reg, m.jwks.LastSuccess)
		m.cache, errs[4] = register(reg, m.cache)
		if err := errors.Join(errs[:]...); err != nil {
			return nil, err
		}
	}
	m.byReason = make(map[string]prometheus.Counter, len(outcomes))
	for _, o := range outcomes {
		m.byReason[o] = m.validations.WithLabelValues(o)
	}
	m.validated = m.byReason["valid"]
	m.unavailable = m.byReason["unavailable"]
	m.cacheHits = m.cache.WithLabelValues("hit")
	m.cacheMisses = m.cache.WithLabelValues("miss")
	return m, nil
}

func (m *metrics) refused(reason string) {
	c, ok := m.byReason[reason]
	if !ok {
		c = m.byReason["malformed"]
	}
	c.Inc()
}

// register registers c, or returns the collector already registered under
// its name when that one has the same type.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}
