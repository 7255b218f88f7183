package edge

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/learnplatform/platform/identity"
	"github.com/learnplatform/platform/kit/server"
)

// Access tokens are checked offline, so whatever takes access away also
// writes a revocation record (identity.Revoker, kit/revocation's Store).
// Two kinds of callers:
//
//   - Actions the edge carries out itself (the admin API, the account
//     page's buttons) write the record before they answer and fail closed:
//     when it cannot be written the answer is 503 and says what was done
//     and what was not (identity.Accounts, identity.ActionError).
//   - Things the edge only observes, already done at Kratos when it learns
//     of them (a sign-out, a password change through the proxy, a completed
//     recovery): the record is written before the answer goes on; when that
//     fails the failure is logged as an error with the request id, counted,
//     and the write is retried in the background (Revocations.Eventually).

// revocationTimeout bounds one write: an unreachable database must not
// hold a request (a pool waits for a connection as long as its context).
const revocationTimeout = 5 * time.Second

// DefaultRetryDelays space the background retries of an observed
// revocation: about a minute in all.
var DefaultRetryDelays = []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second}

// Revocations writes token revocation records through a store, each write
// bounded in time and counted (identity_token_revocations_total). It is an
// identity.Revoker.
type Revocations struct {
	store  identity.Revoker
	logger *slog.Logger
	count  *prometheus.CounterVec
	// retryDelays space Eventually's background retries.
	retryDelays []time.Duration
}

// NewRevocations writes through store; reg receives the counter (nil: not
// exported); retryDelays space the retries of Eventually (nil:
// DefaultRetryDelays).
func NewRevocations(store identity.Revoker, logger *slog.Logger, reg prometheus.Registerer, retryDelays []time.Duration) *Revocations {
	if retryDelays == nil {
		retryDelays = DefaultRetryDelays
	}
	r := &Revocations{store: store, logger: logger, retryDelays: retryDelays,
		count: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "identity_token_revocations_total",
			Help: "Token revocation records the edge wrote (outcome written) or failed to write (failed), by reason; a failed one after something already done is retried in the background (retry_written, abandoned).",
		}, []string{"reason", "outcome"})}
	if reg != nil {
		reg.MustRegister(r.count)
	}
	return r
}

var _ identity.Revoker = (*Revocations)(nil)

// RevokeSubject implements identity.Revoker.
func (r *Revocations) RevokeSubject(ctx context.Context, subject, keep, reason string) error {
	ctx, cancel := context.WithTimeout(ctx, revocationTimeout)
	defer cancel()
	return r.counted(reason, r.store.RevokeSubject(ctx, subject, keep, reason))
}

// RevokeSession implements identity.Revoker.
func (r *Revocations) RevokeSession(ctx context.Context, sessionID, reason string) error {
	ctx, cancel := context.WithTimeout(ctx, revocationTimeout)
	defer cancel()
	return r.counted(reason, r.store.RevokeSession(ctx, sessionID, reason))
}

func (r *Revocations) counted(reason string, err error) error {
	outcome := "written"
	if err != nil {
		outcome = "failed"
	}
	r.count.WithLabelValues(reason, outcome).Inc()
	return err
}

// Eventually writes a revocation for something already done: write calls
// RevokeSubject or RevokeSession. It tries once before returning; on
// failure it logs, returns the error, and keeps trying in the background.
// attrs describe the record for the log.
func (r *Revocations) Eventually(ctx context.Context, reason string, write func(context.Context) error, attrs ...any) error {
	err := write(ctx)
	if err == nil {
		return nil
	}
	attrs = append(attrs, "reason", reason, "request_id", server.RequestID(ctx))
	r.logger.Error("token revocation not written; the affected access tokens keep working until it is; retrying in the background",
		append(attrs, "error", err)...)
	ctx = context.WithoutCancel(ctx)
	go func() {
		for i, d := range r.retryDelays {
			time.Sleep(d)
			if err := write(ctx); err == nil {
				r.count.WithLabelValues(reason, "retry_written").Inc()
				r.logger.Info("token revocation written on retry", append(attrs, "attempt", i+2)...)
				return
			}
		}
		r.count.WithLabelValues(reason, "abandoned").Inc()
		r.logger.Error("token revocation abandoned: the affected access tokens keep working until they expire (up to 6 h); write it by hand (docs/operations.md)", attrs...)
	}()
	return err
}
