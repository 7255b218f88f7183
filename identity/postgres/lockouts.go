// Package postgres keeps the identity edge's state in the platform
// database: lockouts, address throttling and the auth event log. Every
// replica of the edge shares it.
package postgres

import (
	"context"
	"errors"
	"fmt"
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

// counter is one row of login_lockouts or login_ip_throttle as Reserve
// reads it, locked FOR UPDATE in Reserve's transaction.
type counter struct {
	failures int
	started  time.Time
	until    *time.Time // locked_until / blocked_until
}

// readCounter makes sure key's row exists and locks it until the
// transaction ends: concurrent reservations for one key, on any number of
// replicas, queue here and each sees the count of those before it.
func readCounter(ctx context.Context, tx pgx.Tx, table, keyCol, untilCol, key string, now time.Time) (counter, error) {
	var c counter
	if _, err := tx.Exec(ctx, `INSERT INTO `+table+` (`+keyCol+`, failures, window_started, updated_at)
		VALUES ($1, 0, $2, $2) ON CONFLICT DO NOTHING`, key, now); err != nil {
		return c, err
	}
	err := tx.QueryRow(ctx, `SELECT failures, window_started, `+untilCol+` FROM `+table+` WHERE `+keyCol+` = $1 FOR UPDATE`, key).
		Scan(&c.failures, &c.started, &c.until)
	return c, err
}

// fresh restarts a count whose window has passed or whose lock has ended.
func (c *counter) fresh(now time.Time, window time.Duration) {
	active := c.until != nil && c.until.After(now)
	if !active && (c.until != nil || !c.started.After(now.Add(-window))) {
		c.failures, c.started, c.until = 0, now, nil
	}
}

func (c counter) blockedUntil(now time.Time) time.Time {
	if c.until != nil && c.until.After(now) {
		return *c.until
	}
	return time.Time{}
}

// Reserve implements identity.Lockouts: one transaction locks the
// identifier's row (then the address's, always in that order, so two
// reservations cannot deadlock), refuses when either is locked, and
// otherwise counts the attempt in both before Kratos sees it.
func (s *Lockouts) Reserve(ctx context.Context, identifier, ip string, now time.Time) (identity.Reservation, error) {
	r := identity.Reservation{Identifier: identifier, IP: ip}
	p := s.policy
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		id, err := readCounter(ctx, tx, "login_lockouts", "identifier", "locked_until", identifier, now)
		if err != nil {
			return err
		}
		id.fresh(now, p.Window)
		r.LockedUntil = id.blockedUntil(now)
		var addr counter
		if ip != "" {
			if addr, err = readCounter(ctx, tx, "login_ip_throttle", "ip", "blocked_until", ip, now); err != nil {
				return err
			}
			addr.fresh(now, p.IPThrottle.Window)
			r.IPBlockedUntil = addr.blockedUntil(now)
		}
		if r.Refused() {
			return nil // nothing counted; the transaction only read
		}
		id.failures++
		r.Failures, r.WindowStarted = id.failures, id.started
		var lockedUntil, lockedAt any
		if id.failures >= p.MaxFailures {
			r.Locks = true
			lockedUntil, lockedAt = now.Add(p.Duration), now
		}
		if _, err := tx.Exec(ctx, `UPDATE login_lockouts SET failures = $2, window_started = $3, locked_until = $4,
			locked_at = $5, updated_at = $6 WHERE identifier = $1`, identifier, id.failures, id.started, lockedUntil, lockedAt, now); err != nil {
			return err
		}
		if ip == "" {
			return nil
		}
		addr.failures++
		r.IPWindowStarted = addr.started
		var blockedUntil any
		if addr.failures >= p.IPThrottle.MaxFailures {
			r.Blocks = true
			blockedUntil = now.Add(p.IPThrottle.Block)
		}
		_, err = tx.Exec(ctx, `UPDATE login_ip_throttle SET failures = $2, window_started = $3, blocked_until = $4,
			updated_at = $5 WHERE ip = $1`, ip, addr.failures, addr.started, blockedUntil, now)
		return err
	})
	if err != nil {
		return identity.Reservation{}, err
	}
	return r, nil
}

// refund takes one attempt back from a count in the window it was made
// in, and lifts the lock or block that count no longer reaches.
const refundSQL = `UPDATE %[1]s SET failures = greatest(failures - 1, 0),
	%[3]s = CASE WHEN failures - 1 < $3 THEN NULL ELSE %[3]s END%[4]s
	WHERE %[2]s = $1 AND window_started = $2`

// Settle implements identity.Lockouts.
func (s *Lockouts) Settle(ctx context.Context, r identity.Reservation, o identity.Outcome, now time.Time) (identity.Failure, error) {
	p := s.policy
	f := identity.Failure{Failures: r.Failures}
	if r.Refused() {
		return f, nil
	}
	refundIP := func() error {
		if r.IP == "" {
			return nil
		}
		_, err := s.db.Exec(ctx, fmt.Sprintf(refundSQL, "login_ip_throttle", "ip", "blocked_until", ""),
			r.IP, r.IPWindowStarted, p.IPThrottle.MaxFailures)
		return err
	}
	switch o {
	case identity.OutcomeSucceeded:
		// The right password: the identifier's count (and a lock this very
		// attempt set) goes; the address gets its attempt back.
		if _, err := s.db.Exec(ctx, `DELETE FROM login_lockouts WHERE identifier = $1`, r.Identifier); err != nil {
			return f, err
		}
		return f, refundIP()
	case identity.OutcomeNotSent:
		if _, err := s.db.Exec(ctx, fmt.Sprintf(refundSQL, "login_lockouts", "identifier", "locked_until",
			", locked_at = CASE WHEN failures - 1 < $3 THEN NULL ELSE locked_at END"),
			r.Identifier, r.WindowStarted, p.MaxFailures); err != nil {
			return f, err
		}
		return f, refundIP()
	}
	// A failure keeps the count. Whether this attempt's lock or block is
	// still in force (a success in between may have lifted it) decides
	// whether it is reported.
	if !r.Locks && !r.Blocks {
		return f, nil
	}
	var locked, blocked *time.Time
	err := s.db.QueryRow(ctx, `
		SELECT (SELECT locked_until FROM login_lockouts WHERE identifier = $1 AND locked_until > $3),
		       (SELECT blocked_until FROM login_ip_throttle WHERE ip = $2 AND blocked_until > $3)`,
		r.Identifier, r.IP, now).Scan(&locked, &blocked)
	if err != nil {
		return f, err
	}
	f.LockedUntil, f.IPBlockedUntil = deref(locked), deref(blocked)
	f.LockedNow = r.Locks && locked != nil
	f.IPBlockedNow = r.Blocks && blocked != nil
	return f, nil
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

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}
