package limits

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/learnplatform/platform/identity"
	"github.com/learnplatform/platform/identity/internal/edge"
)

func TestMinutesLeftSingular(t *testing.T) {
	now := time.Now()
	for d, want := range map[time.Duration]string{
		time.Second: "1 minute", time.Minute: "1 minute", 61 * time.Second: "2 minutes", 30 * time.Minute: "30 minutes",
	} {
		if got := minutesLeft(now.Add(d), now); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
	}
}

// The max_failures-th wrong password locks the identifier: the lockout is
// logged under the account, its owner told, and from then on every
// sign-in, the right password too, is refused before Kratos sees it.
func TestLockoutAfterMaxFailures(t *testing.T) {
	e := newRig(t)
	id := e.account("ada@example.org")
	for i := 1; i <= testPolicy.MaxFailures; i++ {
		if o := e.signIn(false, "192.0.2.1", " Ada@Example.org ", "wrong"); o.Refused != nil || o.Succeeded {
			t.Fatalf("try %d: %+v", i, o)
		}
	}
	if n := e.lockouts.Failures("ada@example.org"); n != 3 {
		t.Fatalf("%d failures counted", n)
	}
	notice := <-e.notices.Sent
	if notice.Email != "ada@example.org" || !notice.Until.Equal(e.clock().Add(testPolicy.Duration)) {
		t.Fatalf("notice %+v", notice)
	}

	o := e.signIn(false, "192.0.2.1", "ada@example.org", rightPassword)
	if o.Refused == nil || o.Refused.Code != http.StatusTooManyRequests || o.Refused.Header().Get("Retry-After") != "1800" {
		t.Fatalf("the right password while locked: %+v", o)
	}
	if code, msgID, retry := apiError(t, o.Refused); code != "account_locked" || msgID != MsgLocked || retry != 1800 {
		t.Fatalf("%s %d %d", code, msgID, retry)
	}
	if n := e.kratos.PasswordChecks(); n != 3 {
		t.Fatalf("%d passwords reached Kratos, want 3", n)
	}

	e.g.Wait()                                           // events linked to the account are recorded after answering
	failed := e.events.OfType(identity.EventLoginFailed) // in any order: linking runs in the background
	reasons := map[any]int{}
	for _, f := range failed {
		reasons[f.Detail["reason"]]++
	}
	if len(failed) != 4 || reasons["invalid_credentials"] != 3 || reasons["locked"] != 1 {
		t.Fatalf("failures %+v", failed)
	}
	lockouts := e.events.OfType(identity.EventLockout)
	if len(lockouts) != 1 || lockouts[0].IdentityID != id || lockouts[0].IP != "192.0.2.1" || lockouts[0].Email != "ada@example.org" {
		t.Fatalf("lockout events %+v", lockouts)
	}
	for _, e := range failed {
		if e.IdentityID != id {
			t.Fatalf("a failure not linked to the account: %+v", e)
		}
	}
	if e.counter("identity_lockouts_total") != 1 || e.counter("identity_password_sign_ins_total", "outcome", "failed") != 3 ||
		e.counter("identity_password_sign_ins_total", "outcome", "refused_locked") != 1 {
		t.Fatal("not counted")
	}

	t.Run("a browser gets its form back with the message", func(t *testing.T) {
		o := e.signIn(true, "192.0.2.1", "ada@example.org", rightPassword)
		body := o.Refused.Body.String()
		if o.Refused.Code != http.StatusTooManyRequests || !strings.Contains(body, `data-id="4000960"`) ||
			!strings.Contains(body, "Account temporarily locked. Try again in 30 minutes.") || !strings.Contains(body, `value="ada@example.org"`) {
			t.Fatalf("%d %s", o.Refused.Code, body)
		}
	})
	t.Run("the lock ends", func(t *testing.T) {
		e.advance(testPolicy.Duration - time.Minute + time.Second)
		if o := e.signIn(false, "192.0.2.1", "ada@example.org", rightPassword); o.Refused == nil ||
			!strings.Contains(o.Refused.Body.String(), "Try again in 1 minute.") {
			t.Fatalf("a minute before the end: %+v", o)
		}
		e.advance(time.Minute)
		if o := e.signIn(false, "192.0.2.1", "ada@example.org", rightPassword); !o.Succeeded {
			t.Fatalf("after the lock: %+v", o)
		}
		if n := e.lockouts.Failures("ada@example.org"); n != 0 {
			t.Fatalf("%d failures left after a success", n)
		}
	})
}

// Clearing a lock (the admin API, or a completed recovery) lets the owner
// in at once.
func TestUnlock(t *testing.T) {
	e := newRig(t)
	e.account("bo@example.org")
	for range testPolicy.MaxFailures {
		e.signIn(false, "192.0.2.2", "bo@example.org", "wrong")
	}
	if o := e.signIn(false, "192.0.2.2", "bo@example.org", rightPassword); o.Refused == nil {
		t.Fatal("not locked")
	}
	if cleared, err := e.lockouts.Clear(context.Background(), "bo@example.org"); !cleared || err != nil {
		t.Fatalf("clear: %v %v", cleared, err)
	}
	if o := e.signIn(true, "192.0.2.2", "bo@example.org", rightPassword); !o.Succeeded {
		t.Fatalf("after unlocking: %+v", o)
	}
}

// A success resets the identifier's count: failures below the limit,
// then the right password, then the limit again from zero.
func TestSuccessResetsTheCount(t *testing.T) {
	e := newRig(t)
	e.account("cy@example.org")
	for round := range 3 {
		for range testPolicy.MaxFailures - 1 {
			// Each round from its own address: the address keeps its
			// failures (only the success is given back).
			if o := e.signIn(round%2 == 0, fmt.Sprintf("192.0.2.%d", 30+round), "cy@example.org", "wrong"); o.Refused != nil {
				t.Fatalf("round %d: refused", round)
			}
		}
		if o := e.signIn(round%2 == 1, fmt.Sprintf("192.0.2.%d", 30+round), "cy@example.org", rightPassword); !o.Succeeded {
			t.Fatalf("round %d: %+v", round, o)
		}
	}
	e.g.Wait()
	if n := len(e.events.OfType(identity.EventLoginSucceeded)); n != 3 {
		t.Fatalf("%d sign-ins recorded", n)
	}
	if ev := e.events.OfType(identity.EventLoginSucceeded)[0]; ev.IdentityID == "" || ev.Detail["method"] != "password" {
		t.Fatalf("success event %+v", ev)
	}
}

// One address failing against many accounts is blocked without locking
// the accounts; other addresses go on.
func TestAddressThrottle(t *testing.T) {
	e := newRig(t)
	for i := range testPolicy.IPThrottle.MaxFailures {
		if o := e.signIn(false, "198.51.100.7", fmt.Sprintf("n%d@example.org", i), "wrong"); o.Refused != nil {
			t.Fatalf("try %d refused", i)
		}
	}
	o := e.signIn(false, "198.51.100.7", "fresh@example.org", "wrong")
	if o.Refused == nil || o.Refused.Code != http.StatusTooManyRequests {
		t.Fatalf("the throttled address: %+v", o)
	}
	if code, msgID, retry := apiError(t, o.Refused); code != "too_many_attempts" || msgID != MsgThrottled || retry != 900 {
		t.Fatalf("%s %d %d", code, msgID, retry)
	}
	if o := e.signIn(false, "203.0.113.9", "fresh@example.org", "wrong"); o.Refused != nil {
		t.Fatal("another address is throttled too")
	}
	if n := e.lockouts.Failures("n0@example.org"); n != 1 {
		t.Fatalf("an account behind the address has %d failures", n)
	}
	e.g.Wait()
	if ev := e.events.OfType(identity.EventIPThrottled); len(ev) != 1 || ev[0].IP != "198.51.100.7" {
		t.Fatalf("events %+v", ev)
	}
	if e.counter("identity_address_throttles_total") != 1 || e.counter("identity_password_sign_ins_total", "outcome", "refused_throttled") != 1 {
		t.Fatal("not counted")
	}
}

// What Kratos said cannot be told (an error page, an unreadable answer)
// counts as a failure; an attempt that never reached Kratos is given
// back; one Kratos may have seen is counted.
func TestUnconfirmedAttempts(t *testing.T) {
	e := newRig(t)
	e.kratos.FailOn("POST /self-service/login", http.StatusInternalServerError)
	if o := e.signIn(false, "192.0.2.4", "di@example.org", "x"); o.Succeeded || e.lockouts.Failures("di@example.org") != 1 {
		t.Fatalf("a 500 from Kratos: %+v, %d failures", o, e.lockouts.Failures("di@example.org"))
	}
	e.kratos.FailOn("POST /self-service/login", 0)
	e.g.Wait()
	if ev := e.events.OfType(identity.EventLoginFailed); len(ev) != 1 || ev[0].Detail["reason"] != "unconfirmed" {
		t.Fatalf("events %+v", ev)
	}

	reserve := func() *Attempt {
		rec := httptest.NewRecorder()
		a, ok := e.g.Login(rec, httptest.NewRequest("POST", "/self-service/login", nil), edge.Client{IP: "192.0.2.4"}, "di@example.org")
		if !ok || a == nil {
			t.Fatalf("refused: %d", rec.Code)
		}
		return a
	}
	reserve().Unanswered(context.Background(), fmt.Errorf("dial: %w", syscall.ECONNREFUSED))
	if n := e.lockouts.Failures("di@example.org"); n != 1 {
		t.Fatalf("connection refused: %d failures, want the 1 before", n)
	}
	reserve().Unanswered(context.Background(), errors.New("client disconnected"))
	if n := e.lockouts.Failures("di@example.org"); n != 2 {
		t.Fatalf("no answer: %d failures, want 2", n)
	}
}

// A store that cannot be reached stops the sign-in (fail closed); a
// malformed identifier is refused; without a lockout store, or without an
// identifier, nothing is counted.
func TestLoginRefusals(t *testing.T) {
	e := newRig(t)
	e.lockouts.Err = errors.New("connection refused")
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/self-service/login", nil)
	r.Header.Set("Accept", "application/json")
	if _, ok := e.g.Login(rec, r, edge.Client{}, "ed@example.org"); ok || rec.Code != http.StatusServiceUnavailable ||
		rec.Header().Get("Retry-After") != "30" || !strings.Contains(rec.Body.String(), `"code":"unavailable"`) {
		t.Fatalf("store down: %v %d %s", ok, rec.Code, rec.Body)
	}
	e.lockouts.Err = nil

	rec = httptest.NewRecorder()
	if _, ok := e.g.Login(rec, r, edge.Client{}, "a\x00b@example.org"); ok || rec.Code != http.StatusBadRequest ||
		!strings.Contains(rec.Body.String(), "bad_identifier") {
		t.Fatalf("control character: %v %d %s", ok, rec.Code, rec.Body)
	}
	if a, ok := e.g.Login(httptest.NewRecorder(), r, edge.Client{}, "  "); a != nil || !ok {
		t.Fatal("a blank identifier was counted or refused")
	}
	off := New(Options{Logger: e.logs.Logger()})
	if a, ok := off.Login(httptest.NewRecorder(), r, edge.Client{}, "ed@example.org"); a != nil || !ok {
		t.Fatal("counted without a lockout store")
	}
}

// Lockout notices go to existing accounts only, and count against the
// mail limits.
func TestLockoutNotices(t *testing.T) {
	e := newRig(t)
	e.account("gil@example.org")
	for i, who := range []string{"ghost@example.org", "gil@example.org"} {
		for range testPolicy.MaxFailures {
			e.signIn(false, fmt.Sprintf("192.0.2.%d", 50+i), who, "wrong")
		}
	}
	e.g.Wait() // every notice the guard will send is sent
	if n := len(e.notices.Sent); n != 1 {
		t.Fatalf("%d notices, want the owner's only", n)
	}
	if n := (<-e.notices.Sent).Email; n != "gil@example.org" {
		t.Fatalf("notice to %s", n)
	}
	if n := len(e.events.OfType(identity.EventLockout)); n != 2 {
		t.Fatalf("%d lockouts logged", n)
	}

	t.Run("over the mail limit, no notice", func(t *testing.T) {
		e.account("hal@example.org")
		for range testMailLimits.PerAddress {
			if _, refused := e.codeRequest("recovery", "192.0.2.6", "hal@example.org"); refused != nil {
				t.Fatal("code refused")
			}
		}
		for range testPolicy.MaxFailures {
			e.signIn(false, "192.0.2.6", "hal@example.org", "wrong")
		}
		e.g.Wait()
		if n := len(e.notices.Sent); n != 0 {
			t.Fatalf("%d notices over the limit", n)
		}
		if e.counter("identity_mail_refused_total", "kind", "lockout") != 1 {
			t.Fatal("the skipped notice is not counted")
		}
	})
}
