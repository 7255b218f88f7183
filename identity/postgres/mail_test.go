package postgres

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/learnplatform/platform/identity"
)

var limits = identity.MailLimits{PerAddress: 2, PerIP: 3, Window: time.Hour}

func take(t *testing.T, q *MailQuota, address, ip string, now time.Time) (bool, time.Time) {
	t.Helper()
	ok, retry, err := q.Take(context.Background(), address, ip, now)
	if err != nil {
		t.Fatal(err)
	}
	return ok, retry
}

// Mails are limited per recipient and per client address within the
// window; a refusal counts nothing and says when the next may go.
func TestMailQuota(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	q := NewMailQuota(db, limits, nil)
	for i := range limits.PerAddress {
		if ok, _ := take(t, q, "ada@example.org", "192.0.2.1", t0.Add(time.Duration(i)*time.Minute)); !ok {
			t.Fatalf("mail %d refused", i)
		}
	}
	ok, retry := take(t, q, "ada@example.org", "192.0.2.2", t0.Add(10*time.Minute))
	if ok || !retry.Equal(t0.Add(limits.Window)) {
		t.Fatalf("over the recipient's limit: %v %v", ok, retry)
	}
	if ok, _ := take(t, q, "bo@example.org", "192.0.2.1", t0); !ok {
		t.Fatal("the client's third mail refused")
	}
	if ok, _ := take(t, q, "cy@example.org", "192.0.2.1", t0); ok {
		t.Fatal("the client's fourth mail went out")
	}
	// A refused request counted nothing: cy's first mail from elsewhere goes.
	if ok, _ := take(t, q, "cy@example.org", "192.0.2.3", t0); !ok {
		t.Fatal("a refused request was counted")
	}
	if ok, _ := take(t, q, "ada@example.org", "192.0.2.4", t0.Add(limits.Window)); !ok {
		t.Fatal("refused after the window")
	}
}

// Return gives a mail back to both counters.
func TestMailReturn(t *testing.T) {
	t.Parallel()
	q := NewMailQuota(newDB(t), limits, nil)
	ctx := context.Background()
	take(t, q, "dee@example.org", "192.0.2.5", t0)
	take(t, q, "dee@example.org", "192.0.2.5", t0)
	if err := q.Return(ctx, "dee@example.org", "192.0.2.5"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := take(t, q, "dee@example.org", "192.0.2.5", t0); !ok {
		t.Fatal("the returned mail was not given back")
	}
	if err := q.Return(ctx, "never@example.org", "192.0.2.6"); err != nil {
		t.Fatalf("returning what was never taken: %v", err)
	}
}

// Exempt client networks are not counted per client; their recipients
// still are. Requests without an address count per recipient only.
func TestMailExempt(t *testing.T) {
	t.Parallel()
	q := NewMailQuota(newDB(t), limits, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	for i, addr := range []string{"a@example.org", "b@example.org", "c@example.org", "d@example.org"} {
		if ok, _ := take(t, q, addr, "10.1.2.3", t0); !ok {
			t.Fatalf("mail %d from an exempt network refused", i)
		}
		if ok, _ := take(t, q, addr, "", t0); !ok {
			t.Fatalf("mail %d without a client refused", i)
		}
	}
	if ok, _ := take(t, q, "a@example.org", "10.1.2.3", t0); ok {
		t.Fatal("the recipient's limit does not apply to exempt networks")
	}
}

// The mail counters share login_ip_throttle but never block sign-ins.
func TestMailCountersDoNotThrottleSignIns(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	q := NewMailQuota(db, identity.MailLimits{PerAddress: 100, PerIP: 100, Window: time.Hour}, nil)
	for range 10 {
		take(t, q, "eve@example.org", "192.0.2.7", t0)
	}
	s := NewLockouts(db, identity.LockoutPolicy{MaxFailures: 5, Window: time.Hour, Duration: time.Hour,
		IPThrottle: identity.IPThrottle{MaxFailures: 2, Window: time.Hour, Block: time.Hour}})
	if r, err := s.Reserve(context.Background(), "eve@example.org", "192.0.2.7", t0); err != nil || r.Refused() || r.Failures != 1 {
		t.Fatalf("%+v %v", r, err)
	}
}
