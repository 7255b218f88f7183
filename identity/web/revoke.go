package web

import (
	"context"
	"net/http"
	"time"

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
//     and the write is retried in the background (revokeEventually).

// revocationTimeout bounds one write: an unreachable database must not
// hold a request (a pool waits for a connection as long as its context).
const revocationTimeout = 5 * time.Second

// defaultRetryDelays space the background retries of an observed
// revocation: about a minute in all.
var defaultRetryDelays = []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second}

// observedRevoker bounds each write in time and counts it.
type observedRevoker struct {
	next identity.Revoker
	m    *metrics
}

func (o observedRevoker) RevokeSubject(ctx context.Context, subject, keep, reason string) error {
	ctx, cancel := context.WithTimeout(ctx, revocationTimeout)
	defer cancel()
	return o.count(reason, o.next.RevokeSubject(ctx, subject, keep, reason))
}

func (o observedRevoker) RevokeSession(ctx context.Context, sessionID, reason string) error {
	ctx, cancel := context.WithTimeout(ctx, revocationTimeout)
	defer cancel()
	return o.count(reason, o.next.RevokeSession(ctx, sessionID, reason))
}

func (o observedRevoker) count(reason string, err error) error {
	outcome := "written"
	if err != nil {
		outcome = "failed"
	}
	o.m.revocations.WithLabelValues(reason, outcome).Inc()
	return err
}

// revokeEventually writes a revocation for something already done. It
// tries once before returning; on failure it logs, returns the error, and
// keeps trying in the background. attrs describe the record for the log.
func (h *Handler) revokeEventually(ctx context.Context, reason string, write func(context.Context) error, attrs ...any) error {
	err := write(ctx)
	if err == nil {
		return nil
	}
	attrs = append(attrs, "reason", reason, "request_id", server.RequestID(ctx))
	h.opts.Logger.Error("token revocation not written; the affected access tokens keep working until it is; retrying in the background",
		append(attrs, "error", err)...)
	ctx = context.WithoutCancel(ctx)
	go func() {
		for i, d := range h.retryDelays {
			time.Sleep(d)
			if err := write(ctx); err == nil {
				h.metrics.revocations.WithLabelValues(reason, "retry_written").Inc()
				h.opts.Logger.Info("token revocation written on retry", append(attrs, "attempt", i+2)...)
				return
			}
		}
		h.metrics.revocations.WithLabelValues(reason, "abandoned").Inc()
		h.opts.Logger.Error("token revocation abandoned: the affected access tokens keep working until they expire (up to 6 h); write it by hand (docs/operations.md)", attrs...)
	}()
	return err
}

// logRequestError logs an error of an account action with the request id.
func (h *Handler) logRequestError(r *http.Request, msg string, attrs ...any) {
	h.opts.Logger.Error(msg, append(attrs, "request_id", server.RequestID(r.Context()))...)
}
