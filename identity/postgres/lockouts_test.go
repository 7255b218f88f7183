package postgres

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/learnplatform/platform/identity"
)

// policy: 3 failures in 15 minutes lock for 30; 5 from one address in 15
// minutes block it for 10.
var policy = identity.LockoutPolicy{MaxFailures: 3, Window: 15 * time.Minute, Duration: 30 * time.Minute,
	IPThrottle: identity.IPThrottle{MaxFailures: 5, Window: 15 * time.Minute, Block: 10 * time.Minute}}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func failures(t *testing.T, db *pgxpool.Pool, table, key string) int {
	t.Helper()
	col := map[string]string{"login_lockouts": "identifier", "login_ip_throttle": "ip"}[table]
	var n int
	err := db.QueryRow(context.Background(), `SELECT coalesce((SELECT failures FROM `+table+` WHERE `+col+` = $1), 0)`, key).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// fail reserves an attempt and settles it as a failure.
func fail(t *testing.T, s *Lockouts, ident, ip string, now time.Time) (identity.Reservation, identity.Failure) {
	t.Helper()
	ctx := context.Background()
	r, err := s.Reserve(ctx, ident, ip, now)
	if err != nil {
		t.Fatal(err)
	}
	if r.Refused() {
		return r, identity.Failure{}
	}
	f, err := s.Settle(ctx, r, identity.OutcomeFailed, now)
	if err != nil {
		t.Fatal(err)
	}
	return r, f
}

// The max_failures-th failure locks the identifier until now+duration;
// while locked, attempts are refused and not counted; afterwards the
// count starts again.
func TestLockoutAfterMaxFailures(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	s := NewLockouts(db, policy)
	ctx := context.Background()
	for i := 1; i <= 2; i++ {
		r, f := fail(t, s, "ada@example.org", "192.0.2.1", t0)
		if r.Failures != i || r.Locks || f.LockedNow {
			t.Fatalf("failure %d: %+v %+v", i, r, f)
		}
	}
	r, f := fail(t, s, "ada@example.org", "192.0.2.1", t0.Add(time.Minute))
	until := t0.Add(time.Minute + policy.Duration)
	if !r.Locks || !f.LockedNow || !f.LockedUntil.Equal(until) {
		t.Fatalf("the locking failure: %+v %+v", r, f)
	}
	r, err := s.Reserve(ctx, "ada@example.org", "192.0.2.9", t0.Add(2*time.Minute))
	if err != nil || !r.Refused() || !r.LockedUntil.Equal(until) {
		t.Fatalf("while locked: %+v %v", r, err)
	}
	if n := failures(t, db, "login_lockouts", "ada@example.org"); n != 3 {
		t.Fatalf("a refused attempt was counted: %d", n)
	}
	if n := failures(t, db, "login_ip_throttle", "192.0.2.9"); n != 0 {
		t.Fatalf("a refused attempt counted against its address: %d", n)
	}
	locks, err := s.Locked(ctx, t0.Add(2*time.Minute))
	if err != nil || len(locks) != 1 || locks[0].Identifier != "ada@example.org" || locks[0].Failures != 3 ||
		!locks[0].LockedUntil.Equal(until) || !locks[0].LockedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("locked: %+v %v", locks, err)
	}
	// After the lock: a fresh count.
	r, err = s.Reserve(ctx, "ada@example.org", "192.0.2.1", until)
	if err != nil || r.Refused() || r.Failures != 1 {
		t.Fatalf("after the lock: %+v %v", r, err)
	}
	if locks, _ := s.Locked(ctx, until); len(locks) != 0 {
		t.Fatalf("still listed: %+v", locks)
	}
}

// Failures older than the window do not add up to a lock.
func TestLockoutWindow(t *testing.T) {
	t.Parallel()
	s := NewLockouts(newDB(t), policy)
	fail(t, s, "bo@example.org", "", t0)
	fail(t, s, "bo@example.org", "", t0.Add(time.Minute))
	r, f := fail(t, s, "bo@example.org", "", t0.Add(policy.Window+time.Second))
	if r.Failures != 1 || f.LockedNow {
		t.Fatalf("a new window: %+v %+v", r, f)
	}
}

// A success resets the identifier and gives the address its attempt
// back; an attempt that never reached Kratos is given back to both, and
// so is the lock it set.
func TestSettle(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	s := NewLockouts(db, policy)
	ctx := context.Background()
	fail(t, s, "cy@example.org", "192.0.2.2", t0)
	r, _ := s.Reserve(ctx, "cy@example.org", "192.0.2.2", t0)
	if _, err := s.Settle(ctx, r, identity.OutcomeSucceeded, t0); err != nil {
		t.Fatal(err)
	}
	if a, b := failures(t, db, "login_lockouts", "cy@example.org"), failures(t, db, "login_ip_throttle", "192.0.2.2"); a != 0 || b != 1 {
		t.Fatalf("after a success: identifier %d, address %d", a, b)
	}

	fail(t, s, "di@example.org", "192.0.2.3", t0)
	fail(t, s, "di@example.org", "192.0.2.3", t0)
	r, _ = s.Reserve(ctx, "di@example.org", "192.0.2.3", t0) // the third: locks
	if !r.Locks {
		t.Fatalf("%+v", r)
	}
	if _, err := s.Settle(ctx, r, identity.OutcomeNotSent, t0); err != nil {
		t.Fatal(err)
	}
	if a, b := failures(t, db, "login_lockouts", "di@example.org"), failures(t, db, "login_ip_throttle", "192.0.2.3"); a != 2 || b != 2 {
		t.Fatalf("after a refund: identifier %d, address %d", a, b)
	}
	if locks, _ := s.Locked(ctx, t0); len(locks) != 0 {
		t.Fatalf("the refunded attempt's lock stays: %+v", locks)
	}
	// A refund from an earlier window changes nothing.
	old, _ := s.Reserve(ctx, "ed@example.org", "", t0)
	fail(t, s, "ed@example.org", "", t0.Add(policy.Window+time.Minute))
	if _, err := s.Settle(ctx, old, identity.OutcomeNotSent, t0.Add(policy.Window+time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := failures(t, db, "login_lockouts", "ed@example.org"); n != 1 {
		t.Fatalf("a refund crossed windows: %d", n)
	}
}

// The locking attempt is reported as such only while its lock holds: an
// unlock in between lifted it.
func TestLockedNowOnlyWhileInForce(t *testing.T) {
	t.Parallel()
	s := NewLockouts(newDB(t), policy)
	ctx := context.Background()
	fail(t, s, "fay@example.org", "", t0)
	fail(t, s, "fay@example.org", "", t0)
	locking, _ := s.Reserve(ctx, "fay@example.org", "", t0)
	if cleared, err := s.Clear(ctx, "fay@example.org"); !cleared || err != nil {
		t.Fatalf("clear: %v %v", cleared, err)
	}
	f, err := s.Settle(ctx, locking, identity.OutcomeFailed, t0)
	if err != nil || f.LockedNow {
		t.Fatalf("%+v %v", f, err)
	}
}

// One address failing against many identifiers is blocked (refused, not
// counted) without locking them; other addresses go on.
func TestAddressThrottle(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	s := NewLockouts(db, policy)
	ctx := context.Background()
	var f identity.Failure
	for i := range policy.IPThrottle.MaxFailures {
		_, f = fail(t, s, fmt.Sprintf("n%d@example.org", i), "198.51.100.7", t0)
	}
	if !f.IPBlockedNow || !f.IPBlockedUntil.Equal(t0.Add(policy.IPThrottle.Block)) || f.LockedNow {
		t.Fatalf("the blocking failure: %+v", f)
	}
	r, err := s.Reserve(ctx, "new@example.org", "198.51.100.7", t0.Add(time.Minute))
	if err != nil || !r.Refused() || !r.LockedUntil.IsZero() || !r.IPBlockedUntil.Equal(t0.Add(policy.IPThrottle.Block)) {
		t.Fatalf("blocked: %+v %v", r, err)
	}
	if n := failures(t, db, "login_lockouts", "new@example.org"); n != 0 {
		t.Fatalf("a blocked attempt counted against the identifier: %d", n)
	}
	if r, _ := s.Reserve(ctx, "new@example.org", "203.0.113.1", t0.Add(time.Minute)); r.Refused() {
		t.Fatal("another address is blocked too")
	}
	if r, _ := s.Reserve(ctx, "new@example.org", "198.51.100.7", t0.Add(policy.IPThrottle.Block)); r.Refused() {
		t.Fatal("still blocked after the block")
	}
}

// Clear removes an identifier's lock and count; it reports whether there
// was one.
func TestClear(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	s := NewLockouts(db, policy)
	ctx := context.Background()
	if cleared, err := s.Clear(ctx, "nobody@example.org"); cleared || err != nil {
		t.Fatalf("nothing to clear: %v %v", cleared, err)
	}
	for range policy.MaxFailures {
		fail(t, s, "hal@example.org", "", t0)
	}
	if cleared, err := s.Clear(ctx, "hal@example.org"); !cleared || err != nil {
		t.Fatalf("clear: %v %v", cleared, err)
	}
	if r, _ := s.Reserve(ctx, "hal@example.org", "", t0); r.Refused() || r.Failures != 1 {
		t.Fatalf("after clearing: %+v", r)
	}
}

// Parallel guesses on one identifier (as from many edge replicas) stop at
// the limit: each reservation sees the count of those before it.
func TestParallelReservations(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	s := NewLockouts(db, policy)
	var mu sync.Mutex
	var wg sync.WaitGroup
	admitted := 0
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := s.Reserve(context.Background(), "ivy@example.org", "192.0.2.4", t0)
			if err != nil {
				t.Error(err)
				return
			}
			if !r.Refused() {
				mu.Lock()
				admitted++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if admitted != policy.MaxFailures || failures(t, db, "login_lockouts", "ivy@example.org") != policy.MaxFailures {
		t.Fatalf("%d admitted, %d counted; the limit is %d", admitted, failures(t, db, "login_lockouts", "ivy@example.org"), policy.MaxFailures)
	}
}
