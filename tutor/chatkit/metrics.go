package chatkit

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/learnplatform/platform/tutor/chatkit/answer"
)

// metrics are the ChatKit endpoint's figures, next to kit/server's HTTP
// metrics: what operators watch to see the tutor teach.
type metrics struct {
	openStreams prometheus.Gauge
	inFlight    prometheus.Gauge       // answers being written (holding a slot)
	answers     *prometheus.CounterVec // by outcome: done, failed
	firstToken  prometheus.Histogram
	refusals    *prometheus.CounterVec // messages refused before an answer, by code
	replaced    prometheus.Counter     // answers an output guardrail replaced
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		openStreams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tutor_open_streams", Help: "Answers being streamed now.",
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tutor_answers_in_flight", Help: "Answers being written now, streamed or not (limits.concurrent_answers caps it).",
		}),
		answers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tutor_answers_total", Help: "Answers finished, by outcome (done, failed).",
		}, []string{"outcome"}),
		firstToken: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "tutor_first_token_seconds", Help: "Time from a learner's message to the answer's first text.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tutor_message_refusals_total", Help: "Messages refused before an answer, by error code (rate_limited, busy, email_not_verified, ...).",
		}, []string{"code"}),
		replaced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tutor_answers_replaced_total", Help: "Answers an output guardrail replaced after they streamed (thread.item.replaced).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.openStreams, m.inFlight, m.answers, m.firstToken, m.refusals, m.replaced)
	}
	return m
}

// answered counts an answer that ended.
func (m *metrics) answered(o answer.Outcome) {
	outcome := "done"
	if o.Failed {
		outcome = "failed"
	}
	m.answers.WithLabelValues(outcome).Inc()
	if o.FirstText > 0 {
		m.firstToken.Observe(o.FirstText.Seconds())
	}
	if o.Replaced {
		m.replaced.Inc()
	}
}
