package web

import "github.com/prometheus/client_golang/prometheus"

// metrics are the edge's own figures, next to kit/server's HTTP metrics.
type metrics struct {
	signIns  *prometheus.CounterVec // by outcome
	lockouts prometheus.Counter
	throttle prometheus.Counter
	policy   *prometheus.CounterVec // refused new passwords, by rule
	// revocations are token revocation records written or not, by reason
	// and outcome.
	revocations *prometheus.CounterVec
	// mailRefused are mails not sent for the mail limits, by kind.
	mailRefused *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "identity_password_sign_ins_total",
			Help: "Password sign-ins through the edge, by outcome (succeeded, failed, refused_locked, refused_throttled).",
		}, []string{"outcome"}),
		lockouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "identity_lockouts_total", Help: "Identifiers locked after too many failed sign-ins.",
		}),
		throttle: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "identity_address_throttles_total", Help: "Client addresses blocked after failing against many accounts.",
		}),
		policy: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "identity_password_policy_refusals_total", Help: "New passwords refused by the policy, by unmet rule.",
		}, []string{"rule"}),
		revocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "identity_token_revocations_total",
			Help: "Token revocation records the edge wrote (outcome written) or failed to write (failed), by reason; a failed one after something already done is retried in the background (retry_written, abandoned).",
		}, []string{"reason", "outcome"}),
		mailRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "identity_mail_refused_total",
			Help: "Mails not sent because of the mail limits, by kind (verification, recovery, lockout).",
		}, []string{"kind"}),
	}
	if reg != nil {
		reg.MustRegister(m.signIns, m.lockouts, m.throttle, m.policy, m.revocations, m.mailRefused)
	}
	return m
}
