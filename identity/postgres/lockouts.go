// Package postgres keeps the identity edge's state in the platform
// database: lockouts, address throttling and the auth event log. Every
// replica of the edge shares it.
package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/learnplatform/platform/identity"
)

// Lockouts implements identity.Lockouts.
type Lockouts struct {
	db     *pgxpool.Pool
	policy identity.LockoutPolicy
}

// NewLockouts returns the store for policy.
func NewLockouts(db *pgxpool.Pool, policy identity.LockoutPolicy) *Lockouts {
	return &Lockouts{db: db, policy: policy}
}

var _ identity.Lockouts = (*Lockouts)(nil)

// Blocked implements identity.Lockouts.
func (s *Lockouts) Blocked(ctx context.Context, identifier, ip string, now time.Time) (time.Time, time.Time, error) {
	var locked, blocked *time.Time
	err := s.db.QueryRow(ctx, `
		SELECT (SELECT locked_until FROM login_lockouts WHERE identifier = $1 AND locked_until > $3),
		       (SELECT blocked_until FROM login_ip_throttle WHERE ip = $2 AND blocked_until > $3)`,
		identifier, ip, now).Scan(&locked, &blocked)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	return deref(locked), deref(blocked), nil
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// The count restarts when the window has passed and no lock is in force.
// One statement per failure: PostgreSQL's row lock on the conflicting row
// serialises concurrent failures, so each is counted exactly once.
const failedSQL = `
INSERT INTO login_lockouts AS l (identifier, failures, window_started, locked_until, locked_at, updated_at)
VALUES ($1, 1, $2,
        CASE WHEN 1 >= $3 THEN $2::timestamptz + $5::interval END,
        CASE WHEN 1 >= $3 THEN $2::timestamptz END, $2)
ON CONFLICT (identifier) DO UPDATE SET
  failures = CASE WHEN l.window_started <= $2::timestamptz - $4::interval AND (l.locked_until IS NULL OR l.locked_until <= $2)
                  THEN 1 ELSE l.failures + 1 END,
  window_started = CASE WHEN l.window_started <= $2::timestamptz - $4::interval AND (l.locked_until IS NULL OR l.locked_until <= $2)
                        THEN $2 ELSE l.window_started END,
  locked_until = CASE
      WHEN l.locked_until > $2 THEN l.locked_until
      WHEN (CASE WHEN l.window_started <= $2::timestamptz - $4::interval THEN 1 ELSE l.failures + 1 END) >= $3
        THEN $2::timestamptz + $5::interval
      ELSE NULL END,
  locked_at = CASE
      WHEN l.locked_until > $2 THEN l.locked_at
      WHEN (CASE WHEN l.window_started <= $2::timestamptz - $4::interval THEN 1 ELSE l.failures + 1 END) >= $3 THEN $2
      ELSE NULL END,
  updated_at = $2
RETURNING failures, locked_until, locked_at`

const ipFailedSQL = `
INSERT INTO login_ip_throttle AS t (ip, failures, window_started, blocked_until, updated_at)
VALUES ($1, 1, $2, CASE WHEN 1 >= $3 THEN $2::timestamptz + $5::interval END, $2)
ON CONFLICT (ip) DO UPDATE SET
  failures = CASE WHEN t.window_started <= $2::timestamptz - $4::interval AND (t.blocked_until IS NULL OR t.blocked_until <= $2)
                  THEN 1 ELSE t.failures + 1 END,
  window_started = CASE WHEN t.window_started <= $2::timestamptz - $4::interval AND (t.blocked_until IS NULL OR t.blocked_until <= $2)
                        THEN $2 ELSE t.window_started END,
  blocked_until = CASE
      WHEN t.blocked_until > $2 THEN t.blocked_until
      WHEN (CASE WHEN t.window_started <= $2::timestamptz - $4::interval THEN 1 ELSE t.failures + 1 END) >= $3
        THEN $2::timestamptz + $5::interval
      ELSE NULL END,
  updated_at = $2
RETURNING failures, blocked_until`

// Failed implements identity.Lockouts.
func (s *Lockouts) Failed(ctx context.Context, identifier, ip string, now time.Time) (identity.Failure, error) {
	var f identity.Failure
	var lockedUntil, lockedAt *time.Time
	p := s.policy
	if err := s.db.QueryRow(ctx, failedSQL, identifier, now, p.MaxFailures, p.Window, p.Duration).
		Scan(&f.Failures, &lockedUntil, &lockedAt); err != nil {
		return f, err
	}
	f.LockedUntil = deref(lockedUntil)
	// Exactly one failure reaches the limit; it is the one that locked.
	f.LockedNow = lockedAt != nil && f.Failures == p.MaxFailures
	if ip != "" {
		var n int
		var blocked *time.Time
		t := p.IPThrottle
		if err := s.db.QueryRow(ctx, ipFailedSQL, ip, now, t.MaxFailures, t.Window, t.Block).Scan(&n, &blocked); err != nil {
			return f, err
		}
		f.IPBlockedUntil = deref(blocked)
		f.IPBlockedNow = blocked != nil && n == t.MaxFailures
	}
	return f, nil
}

// Succeeded implements identity.Lockouts.
func (s *Lockouts) Succeeded(ctx context.Context, identifier string) error {
	_, err := s.db.Exec(ctx, `DELETE FROM login_lockouts WHERE identifier = $1`, identifier)
	return err
}

// Locked implements identity.Lockouts.
func (s *Lockouts) Locked(ctx context.Context, now time.Time) ([]identity.Lock, error) {
	rows, err := s.db.Query(ctx, `
		SELECT identifier, failures, locked_at, locked_until FROM login_lockouts
		WHERE locked_until > $1 ORDER BY locked_until, identifier LIMIT 1000`, now)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (identity.Lock, error) {
		var l identity.Lock
		err := r.Scan(&l.Identifier, &l.Failures, &l.LockedAt, &l.LockedUntil)
		return l, err
	})
}

// Clear implements identity.Lockouts.
func (s *Lockouts) Clear(ctx context.Context, identifier string) (bool, error) {
	var id string
	err := s.db.QueryRow(ctx, `DELETE FROM login_lockouts WHERE identifier = $1 RETURNING identifier`, identifier).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}
