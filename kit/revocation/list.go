package revocation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultReloadInterval is how often a List re-reads every record, healing a
// notice it missed.
const DefaultReloadInterval = 30 * time.Second

// ListOptions configure a List; zero values take defaults.
type ListOptions struct {
	// ReloadInterval: how often the whole table is re-read (DefaultReloadInterval).
	ReloadInterval time.Duration
	Logger         *slog.Logger
	Registerer     prometheus.Registerer
	Now            func() time.Time
}

// List is the in-memory copy of the live records, kept current by Run. It is
// what kit/token consults on every request (token.RevocationList).
type List struct {
	db     *pgxpool.Pool
	reload time.Duration
	log    *slog.Logger
	now    func() time.Time

	mu       sync.RWMutex
	seen     map[int64]time.Time      // record id → expires_at
	subjects map[string][]subjectRule // by subject
	sessions map[string]time.Time     // session id → expires_at
	tokens   map[string]time.Time     // jti → expires_at

	loaded    atomic.Bool
	listening atomic.Bool
	lastErr   atomic.Pointer[error]

	records    prometheus.Gauge
	reconnects prometheus.Counter
	missed     prometheus.Counter
}

type subjectRule struct {
	id        int64
	notBefore time.Time // whole seconds
	keep      string
	expires   time.Time
}

// NewList returns an empty List on the platform database; Start fills it.
func NewList(db *pgxpool.Pool, o ListOptions) (*List, error) {
	if o.ReloadInterval <= 0 {
		o.ReloadInterval = DefaultReloadInterval
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	l := &List{
		db: db, reload: o.ReloadInterval, log: o.Logger, now: o.Now,
		seen: map[int64]time.Time{}, subjects: map[string][]subjectRule{},
		sessions: map[string]time.Time{}, tokens: map[string]time.Time{},
		records: prometheus.NewGauge(prometheus.GaugeOpts{Name: "token_revocations",
			Help: "Live token revocation records held in memory."}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{Name: "token_revocations_reconnects_total",
			Help: "Times the revocation listener reconnected to PostgreSQL."}),
		missed: prometheus.NewCounter(prometheus.CounterOpts{Name: "token_revocations_healed_total",
			Help: "Records found by a periodic reload rather than a notification."}),
	}
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{l.records, l.reconnects, l.missed} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("revocation: metrics: %w", err)
			}
		}
	}
	return l, nil
}

// Start loads every live record, then keeps the list current in the
// background until ctx ends. A service calls it before it serves: a token
// revoked before this process started is refused from its first request.
// A first load that fails (PostgreSQL unreachable) is retried in the
// background; until one succeeds every token counts as revoked (fail
// closed) and Ready fails. Start returns an error only when ctx has ended.
func (l *List) Start(ctx context.Context) error {
	if _, err := l.loadAll(ctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		l.lastErr.Store(&err)
		l.log.Warn("revocations not loaded yet; refusing every token until they are", "error", err)
	} else {
		l.loaded.Store(true)
	}
	go l.run(ctx)
	go l.reloadLoop(ctx)
	return nil
}

// Ready fails while the list is not listening for new records (PostgreSQL
// unreachable): revocations written meanwhile would not reach this process
// until it reconnects. Use it as a /readyz check.
func (l *List) Ready(context.Context) error {
	if !l.loaded.Load() {
		return errors.New("revocations not loaded yet")
	}
	if !l.listening.Load() {
		if p := l.lastErr.Load(); p != nil {
			return fmt.Errorf("not listening for revocations: %w", *p)
		}
		return errors.New("not listening for revocations yet")
	}
	return nil
}

// Revoked implements token.RevocationList: whether a verified token of
// subject, carrying sessionID and tokenID, issued at issuedAt, was revoked.
// It only reads memory.
func (l *List) Revoked(subject, sessionID, tokenID string, issuedAt time.Time) bool {
	if !l.loaded.Load() {
		return true // nothing known yet: fail closed
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if sessionID != "" {
		if _, ok := l.sessions[sessionID]; ok {
			return true
		}
	}
	if tokenID != "" {
		if _, ok := l.tokens[tokenID]; ok {
			return true
		}
	}
	for _, r := range l.subjects[subject] {
		// A token without iat cannot prove it is newer: void.
		if (issuedAt.IsZero() || !issuedAt.After(r.notBefore)) && (r.keep == "" || r.keep != sessionID) {
			return true
		}
	}
	return false
}

// Len is the number of live records held.
func (l *List) Len() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.seen)
}

// run listens for notifications, reconnecting with backoff; every
// (re)connection is followed by a full reload, so records written while it
// was disconnected arrive then.
func (l *List) run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	first := l.loaded.Load()
	for ctx.Err() == nil {
		err := l.listen(ctx, first)
		l.listening.Store(false)
		if ctx.Err() != nil {
			return
		}
		first = false
		l.lastErr.Store(&err)
		l.reconnects.Inc()
		l.log.Warn("revocation listener disconnected; reconnecting", "error", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// listen reloads everything after connecting unless fresh is set (Start
// has just loaded).
func (l *List) listen(ctx context.Context, fresh bool) error {
	pc, err := l.db.Acquire(ctx)
	if err != nil {
		return err
	}
	// The listening connection is ours alone from now on: it only waits.
	conn := pc.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return err
	}
	if !fresh {
		n, err := l.loadAll(ctx)
		if err != nil {
			return err
		}
		if l.loaded.CompareAndSwap(false, true) {
			l.log.Info("revocations loaded", "records", l.Len())
		} else {
			l.log.Info("revocation listener reconnected", "new_records", n)
		}
	}
	l.listening.Store(true)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		id, err := strconv.ParseInt(n.Payload, 10, 64)
		if err != nil {
			l.log.Warn("revocation notice with a bad payload", "payload", n.Payload)
			continue
		}
		if err := l.loadOne(ctx, id); err != nil {
			// The periodic reload will bring it in.
			l.log.Warn("revocation notice could not be loaded", "id", id, "error", err)
		}
	}
}

func (l *List) reloadLoop(ctx context.Context) {
	t := time.NewTicker(l.reload)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := l.loadAll(ctx)
		if err == nil && l.loaded.CompareAndSwap(false, true) {
			continue
		}
		switch {
		case err != nil && ctx.Err() == nil:
			l.log.Warn("revocation reload failed", "error", err)
		case n > 0:
			l.missed.Add(float64(n))
			l.log.Info("revocation reload found records no notice announced", "records", n)
		}
	}
}

const selectSQL = `SELECT id, coalesce(subject, ''), not_before, coalesce(keep_session_id, ''),
	coalesce(session_id, ''), coalesce(token_id, ''), expires_at FROM token_revocations`

// loadAll merges every live record (never replaces: a record added by a
// notice while the query ran must survive) and forgets expired ones. It
// returns how many records were new.
func (l *List) loadAll(ctx context.Context) (int, error) {
	rows, err := l.db.Query(ctx, selectSQL+` WHERE expires_at > $1`, l.now())
	if err != nil {
		return 0, fmt.Errorf("revocation: load: %w", err)
	}
	recs, err := collect(rows)
	if err != nil {
		return 0, fmt.Errorf("revocation: load: %w", err)
	}
	return l.add(recs, true), nil
}

func (l *List) loadOne(ctx context.Context, id int64) error {
	rows, err := l.db.Query(ctx, selectSQL+` WHERE id = $1`, id)
	if err != nil {
		return err
	}
	recs, err := collect(rows)
	if err != nil {
		return err
	}
	l.add(recs, false)
	return nil
}

type row struct {
	id                              int64
	subject, keep, session, tokenID string
	notBefore                       *time.Time
	expires                         time.Time
}

func collect(rows pgx.Rows) ([]row, error) {
	defer rows.Close()
	var out []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.subject, &r.notBefore, &r.keep, &r.session, &r.tokenID, &r.expires); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (l *List) add(recs []row, prune bool) int {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	added := 0
	for _, r := range recs {
		if _, ok := l.seen[r.id]; ok || !r.expires.After(now) {
			continue
		}
		l.seen[r.id] = r.expires
		added++
		switch {
		case r.session != "":
			l.sessions[r.session] = later(l.sessions[r.session], r.expires)
		case r.tokenID != "":
			l.tokens[r.tokenID] = later(l.tokens[r.tokenID], r.expires)
		case r.subject != "" && r.notBefore != nil:
			l.subjects[r.subject] = append(l.subjects[r.subject], subjectRule{
				id: r.id, notBefore: r.notBefore.Truncate(time.Second), keep: r.keep, expires: r.expires})
		}
	}
	if prune {
		l.pruneLocked(now)
	}
	l.records.Set(float64(len(l.seen)))
	return added
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (l *List) pruneLocked(now time.Time) {
	for id, exp := range l.seen {
		if !exp.After(now) {
			delete(l.seen, id)
		}
	}
	for k, exp := range l.sessions {
		if !exp.After(now) {
			delete(l.sessions, k)
		}
	}
	for k, exp := range l.tokens {
		if !exp.After(now) {
			delete(l.tokens, k)
		}
	}
	for s, rules := range l.subjects {
		kept := rules[:0]
		for _, r := range rules {
			if r.expires.After(now) {
				kept = append(kept, r)
			}
		}
		if len(kept) == 0 {
			delete(l.subjects, s)
		} else {
			l.subjects[s] = kept
		}
	}
}
