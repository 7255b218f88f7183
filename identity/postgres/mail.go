package postgres

import (
	"context"
	"net/netip"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/learnplatform/platform/identity"
)

// MailQuota implements identity.MailQuota. Its counters share
// login_ip_throttle's shape (a key, a count, the window's start) and live
// in that table under keys no address can take: "mail-to:ADDRESS" and
// "mail-from:IP". Their blocked_until stays NULL, so the address throttle
// never sees them.
type MailQuota struct {
	db     *pgxpool.Pool
	limits identity.MailLimits
	exempt []netip.Prefix
}

// NewMailQuota returns the quota for limits; client addresses in exempt
// are not counted per client (their recipients still are).
func NewMailQuota(db *pgxpool.Pool, limits identity.MailLimits, exempt []netip.Prefix) *MailQuota {
	return &MailQuota{db: db, limits: limits, exempt: exempt}
}

var _ identity.MailQuota = (*MailQuota)(nil)

func (q *MailQuota) keys(address, ip string) []string {
	keys := []string{"mail-to:" + address}
	if ip == "" {
		return keys
	}
	if a, err := netip.ParseAddr(ip); err == nil {
		for _, p := range q.exempt {
			if p.Contains(a.Unmap()) {
				return keys
			}
		}
	}
	return append(keys, "mail-from:"+ip)
}

// Take implements identity.MailQuota: both counters are locked in one
// transaction (recipient first, always), so concurrent requests on any
// replica count exactly.
func (q *MailQuota) Take(ctx context.Context, address, ip string, now time.Time) (bool, time.Time, error) {
	keys := q.keys(address, ip)
	limits := []int{q.limits.PerAddress, q.limits.PerIP}
	ok, retry := true, time.Time{}
	err := pgx.BeginFunc(ctx, q.db, func(tx pgx.Tx) error {
		counters := make([]counter, len(keys))
		for i, k := range keys {
			c, err := readCounter(ctx, tx, "login_ip_throttle", "ip", "blocked_until", k, now)
			if err != nil {
				return err
			}
			c.fresh(now, q.limits.Window)
			counters[i] = c
			if c.failures >= limits[i] {
				ok = false
				if r := c.started.Add(q.limits.Window); r.After(retry) {
					retry = r
				}
			}
		}
		if !ok {
			return nil
		}
		for i, k := range keys {
			if _, err := tx.Exec(ctx, `UPDATE login_ip_throttle SET failures = $2, window_started = $3, updated_at = $4 WHERE ip = $1`,
				k, counters[i].failures+1, counters[i].started, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return false, time.Time{}, err
	}
	return ok, retry, nil
}

// Return implements identity.MailQuota.
func (q *MailQuota) Return(ctx context.Context, address, ip string) error {
	for _, k := range q.keys(address, ip) {
		if _, err := q.db.Exec(ctx, `UPDATE login_ip_throttle SET failures = greatest(failures - 1, 0) WHERE ip = $1`, k); err != nil {
			return err
		}
	}
	return nil
}
