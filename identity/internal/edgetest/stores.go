package edgetest

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/learnplatform/platform/identity"
)

// counter is one identifier's or address's count in a window, and the lock
// or block it led to.
type counter struct {
	failures int
	started  time.Time
	until    time.Time // locked or blocked until; zero: not
	lockedAt time.Time
}

// fresh restarts a count whose window has passed or whose lock has ended
// (postgres.Lockouts' rule).
func (c *counter) fresh(now time.Time, window time.Duration) {
	active := !c.until.IsZero() && c.until.After(now)
	if !active && (!c.until.IsZero() || !c.started.After(now.Add(-window))) {
		*c = counter{started: now}
	}
}

func (c *counter) blockedUntil(now time.Time) time.Time {
	if c.until.After(now) {
		return c.until
	}
	return time.Time{}
}

// Lockouts implements identity.Lockouts in memory with identity/postgres'
// rules: attempts are reserved (counted) before Kratos sees them and
// settled after; a count restarts when its window has passed.
type Lockouts struct {
	Policy identity.LockoutPolicy
	// Err, when set, is every method's answer (the store is down).
	Err error

	mu  sync.Mutex
	ids map[string]*counter
	ips map[string]*counter
}

// NewLockouts returns an empty store for policy.
func NewLockouts(policy identity.LockoutPolicy) *Lockouts {
	return &Lockouts{Policy: policy, ids: map[string]*counter{}, ips: map[string]*counter{}}
}

func row(m map[string]*counter, key string, now time.Time) *counter {
	c, ok := m[key]
	if !ok {
		c = &counter{started: now}
		m[key] = c
	}
	return c
}

// Reserve implements identity.Lockouts.
func (l *Lockouts) Reserve(_ context.Context, identifier, ip string, now time.Time) (identity.Reservation, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.Err != nil {
		return identity.Reservation{}, l.Err
	}
	p := l.Policy
	r := identity.Reservation{Identifier: identifier, IP: ip}
	id := row(l.ids, identifier, now)
	id.fresh(now, p.Window)
	r.LockedUntil = id.blockedUntil(now)
	var addr *counter
	if ip != "" {
		addr = row(l.ips, ip, now)
		addr.fresh(now, p.IPThrottle.Window)
		r.IPBlockedUntil = addr.blockedUntil(now)
	}
	if r.Refused() {
		return r, nil
	}
	id.failures++
	r.Failures, r.WindowStarted = id.failures, id.started
	if id.failures >= p.MaxFailures {
		r.Locks = true
		id.until, id.lockedAt = now.Add(p.Duration), now
	}
	if addr != nil {
		addr.failures++
		r.IPWindowStarted = addr.started
		if addr.failures >= p.IPThrottle.MaxFailures {
			r.Blocks = true
			addr.until = now.Add(p.IPThrottle.Block)
		}
	}
	return r, nil
}

// refund takes one attempt back from c if it is still counting in window
// started, and lifts the lock it no longer reaches.
func refund(c *counter, started time.Time, limit int) {
	if c == nil || !c.started.Equal(started) {
		return
	}
	c.failures = max(c.failures-1, 0)
	if c.failures < limit {
		c.until, c.lockedAt = time.Time{}, time.Time{}
	}
}

// Settle implements identity.Lockouts.
func (l *Lockouts) Settle(_ context.Context, r identity.Reservation, o identity.Outcome, now time.Time) (identity.Failure, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := identity.Failure{Failures: r.Failures}
	if l.Err != nil {
		return f, l.Err
	}
	if r.Refused() {
		return f, nil
	}
	p := l.Policy
	switch o {
	case identity.OutcomeSucceeded:
		delete(l.ids, r.Identifier)
		refund(l.ips[r.IP], r.IPWindowStarted, p.IPThrottle.MaxFailures)
		return f, nil
	case identity.OutcomeNotSent:
		refund(l.ids[r.Identifier], r.WindowStarted, p.MaxFailures)
		refund(l.ips[r.IP], r.IPWindowStarted, p.IPThrottle.MaxFailures)
		return f, nil
	}
	if c := l.ids[r.Identifier]; r.Locks && c != nil && c.until.After(now) {
		f.LockedUntil, f.LockedNow = c.until, true
	}
	if c := l.ips[r.IP]; r.Blocks && c != nil && c.until.After(now) {
		f.IPBlockedUntil, f.IPBlockedNow = c.until, true
	}
	return f, nil
}

// Locked implements identity.Lockouts.
func (l *Lockouts) Locked(_ context.Context, now time.Time) ([]identity.Lock, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.Err != nil {
		return nil, l.Err
	}
	var out []identity.Lock
	for id, c := range l.ids {
		if c.until.After(now) {
			out = append(out, identity.Lock{Identifier: id, Failures: c.failures, LockedAt: c.lockedAt, LockedUntil: c.until})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Identifier < out[j].Identifier })
	return out, nil
}

// Clear implements identity.Lockouts.
func (l *Lockouts) Clear(_ context.Context, identifier string) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.Err != nil {
		return false, l.Err
	}
	_, ok := l.ids[identifier]
	delete(l.ids, identifier)
	return ok, nil
}

// Failures is identifier's count now.
func (l *Lockouts) Failures(identifier string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c, ok := l.ids[identifier]; ok {
		return c.failures
	}
	return 0
}

// MailQuota implements identity.MailQuota in memory with identity/postgres'
// rules: per recipient and per client address within the window.
type MailQuota struct {
	Limits identity.MailLimits
	// Err, when set, is every method's answer (the store is down).
	Err error

	mu     sync.Mutex
	counts map[string]*counter
}

// NewMailQuota returns an empty quota for limits.
func NewMailQuota(limits identity.MailLimits) *MailQuota {
	return &MailQuota{Limits: limits, counts: map[string]*counter{}}
}

func (q *MailQuota) keys(address, ip string) ([]string, []int) {
	if ip == "" {
		return []string{"to:" + address}, []int{q.Limits.PerAddress}
	}
	return []string{"to:" + address, "from:" + ip}, []int{q.Limits.PerAddress, q.Limits.PerIP}
}

// Take implements identity.MailQuota.
func (q *MailQuota) Take(_ context.Context, address, ip string, now time.Time) (bool, time.Time, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.Err != nil {
		return false, time.Time{}, q.Err
	}
	keys, limits := q.keys(address, ip)
	ok, retry := true, time.Time{}
	for i, k := range keys {
		c := row(q.counts, k, now)
		c.fresh(now, q.Limits.Window)
		if c.failures >= limits[i] {
			ok = false
			if r := c.started.Add(q.Limits.Window); r.After(retry) {
				retry = r
			}
		}
	}
	if !ok {
		return false, retry, nil
	}
	for _, k := range keys {
		q.counts[k].failures++
	}
	return true, time.Time{}, nil
}

// Return implements identity.MailQuota.
func (q *MailQuota) Return(_ context.Context, address, ip string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.Err != nil {
		return q.Err
	}
	keys, _ := q.keys(address, ip)
	for _, k := range keys {
		if c, ok := q.counts[k]; ok {
			c.failures = max(c.failures-1, 0)
		}
	}
	return nil
}

// Taken is how many mails to address are counted now.
func (q *MailQuota) Taken(address string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if c, ok := q.counts["to:"+address]; ok {
		return c.failures
	}
	return 0
}
