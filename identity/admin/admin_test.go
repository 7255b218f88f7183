package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/learnplatform/platform/identity"
	"github.com/learnplatform/platform/identity/internal/edgetest"
	fakeory "github.com/learnplatform/platform/kit/orytest"
)

type eventPage struct {
	Events []identity.Event `json:"events"`
	Next   string           `json:"next"`
}

func (e *rig) listEvents(t *testing.T, query, tok string) (int, eventPage) {
	t.Helper()
	a := e.api("GET", "/admin/auth-events"+query, "", tok)
	var p eventPage
	if a.Status == http.StatusOK {
		if err := json.Unmarshal([]byte(a.Body), &p); err != nil || p.Events == nil {
			t.Fatalf("not a page of events: %s", a.Body)
		}
	}
	return a.Status, p
}

// GET /admin/auth-events passes its filters to the log and pages through
// it, newest first.
func TestListEvents(t *testing.T) {
	e := newRig(t)
	_, tok := e.admin()
	id := e.kratos.AddIdentity(fakeory.Identity{Email: "ada@example.org"})
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	record := func(i int, ev identity.Event) {
		ev.OccurredAt = base.Add(time.Duration(i) * time.Minute)
		e.events.Record(context.Background(), ev)
	}
	record(0, identity.Event{Type: identity.EventLoginFailed, Email: "ada@example.org"}) // before the account was linked
	record(1, identity.Event{Type: identity.EventLockout, IdentityID: id, Email: "ada@example.org"})
	record(2, identity.Event{Type: identity.EventLoginSucceeded, IdentityID: fakeory.NewID(), Email: "bob@example.org"})
	record(3, identity.Event{Type: identity.EventUnlock, IdentityID: id})

	status, all := e.listEvents(t, "", tok)
	if status != http.StatusOK || len(all.Events) != 4 || all.Events[0].Type != identity.EventUnlock || all.Next != "" {
		t.Fatalf("%d %+v", status, all)
	}
	if f := e.events.Filters()[0]; f.Limit != 50 {
		t.Fatalf("default limit %d", f.Limit)
	}

	t.Run("identity_id: its events and its address's", func(t *testing.T) {
		_, p := e.listEvents(t, "?identity_id="+id, tok)
		if len(p.Events) != 3 {
			t.Fatalf("%+v", p.Events)
		}
		f := e.events.Filters()
		if last := f[len(f)-1]; last.IdentityID != id || last.Email != "ada@example.org" {
			t.Fatalf("filter %+v", last)
		}
	})
	t.Run("identity_id of a deleted identity: by id only", func(t *testing.T) {
		gone := fakeory.NewID()
		if status, p := e.listEvents(t, "?identity_id="+gone, tok); status != http.StatusOK || len(p.Events) != 0 {
			t.Fatalf("%d %+v", status, p)
		}
	})
	t.Run("email, type, since, until", func(t *testing.T) {
		_, p := e.listEvents(t, "?email=ADA@example.org&type=lockout", tok)
		if len(p.Events) != 1 || p.Events[0].Type != identity.EventLockout {
			t.Fatalf("%+v", p.Events)
		}
		q := url.Values{"since": {base.Add(time.Minute).Format(time.RFC3339)}, "until": {base.Add(3 * time.Minute).Format(time.RFC3339)}}
		_, p = e.listEvents(t, "?"+q.Encode(), tok)
		if len(p.Events) != 2 || p.Events[0].Type != identity.EventLoginSucceeded {
			t.Fatalf("window: %+v", p.Events)
		}
	})
	t.Run("pages", func(t *testing.T) {
		_, first := e.listEvents(t, "?limit=3", tok)
		if len(first.Events) != 3 || first.Next == "" {
			t.Fatalf("first page %+v", first)
		}
		_, second := e.listEvents(t, "?limit=3&after="+url.QueryEscape(first.Next), tok)
		if len(second.Events) != 1 || second.Events[0].Type != identity.EventLoginFailed || second.Next != "" {
			t.Fatalf("second page %+v", second)
		}
	})
}

// Every bad parameter is a 400 in the platform's error shape that says
// what is wrong; nothing reaches the log.
func TestListEventsBadInput(t *testing.T) {
	e := newRig(t)
	_, tok := e.admin()
	for query, want := range map[string]string{
		"?mail=a@example.org":                      `unknown parameter \"mail\"`,
		"?email=a@example.org&email=b@example.org": `\"email\" is given more than once`,
		"?identity_id=42":                          "identity_id must be a UUID",
		"?email=not-an-address":                    "email must be an email address",
		"?email=a%00b@example.org":                 "email must be an email address",
		"?type=login":                              `unknown event type \"login\"`,
		"?since=yesterday":                         "since must be an RFC 3339 time",
		"?until=2026-13-01T00:00:00Z":              "until must be an RFC 3339 time",
		"?limit=0":                                 "limit must be a number from 1 to 500",
		"?limit=501":                               "limit must be a number from 1 to 500",
		"?limit=ten":                               "limit must be a number from 1 to 500",
		"?after=not-a-cursor":                      "after is not a cursor this API returned",
	} {
		t.Run(query, func(t *testing.T) {
			a := e.api("GET", "/admin/auth-events"+query, "", tok)
			if code, _ := edgetest.ErrorCode(t, a); a.Status != http.StatusBadRequest || code != "bad_request" || !strings.Contains(a.Body, want) {
				t.Fatalf("%d %s, want %q", a.Status, a.Body, want)
			}
		})
	}
}

// A log or Kratos that cannot be reached is a 503, never a 500.
func TestListEventsUnavailable(t *testing.T) {
	e := newRig(t)
	_, tok := e.admin()
	e.events.Fail = errors.New("connection refused")
	a := e.api("GET", "/admin/auth-events", "", tok)
	if code, _ := edgetest.ErrorCode(t, a); a.Status != http.StatusServiceUnavailable || code != "unavailable" {
		t.Fatalf("log down: %d %s", a.Status, a.Body)
	}
	e.events.Fail = nil
	e.kratos.FailOn("GET /admin/identities/", http.StatusBadGateway)
	a = e.api("GET", "/admin/auth-events?identity_id="+fakeory.NewID(), "", tok)
	if code, _ := edgetest.ErrorCode(t, a); a.Status != http.StatusServiceUnavailable || code != "unavailable" {
		t.Fatalf("Kratos down: %d %s", a.Status, a.Body)
	}
}

// GET /admin/lockouts lists the identifiers locked now; DELETE clears one
// and records who did.
func TestLockouts(t *testing.T) {
	e := newRig(t)
	adminID, tok := e.admin()
	a := e.api("GET", "/admin/lockouts", "", tok)
	if a.Status != http.StatusOK || strings.TrimSpace(a.Body) != `{"lockouts":[]}` {
		t.Fatalf("none: %d %s", a.Status, a.Body)
	}
	for range identity.DefaultLockoutPolicy().MaxFailures {
		_, _ = e.lockouts.Reserve(context.Background(), "eve@example.org", "192.0.2.1", e.now)
	}
	_, _ = e.lockouts.Reserve(context.Background(), "fay@example.org", "192.0.2.1", e.now) // counted, not locked
	a = e.api("GET", "/admin/lockouts", "", tok)
	var out struct{ Lockouts []identity.Lock }
	if err := json.Unmarshal([]byte(a.Body), &out); err != nil || len(out.Lockouts) != 1 ||
		out.Lockouts[0].Identifier != "eve@example.org" || out.Lockouts[0].Failures != 5 || out.Lockouts[0].LockedUntil.IsZero() {
		t.Fatalf("%d %s", a.Status, a.Body)
	}

	if a := e.api("DELETE", "/admin/lockouts/"+url.PathEscape("Eve@Example.org"), "", tok); a.Status != http.StatusNoContent {
		t.Fatalf("clear: %d %s", a.Status, a.Body)
	}
	if ev := e.events.OfType(identity.EventUnlock); len(ev) != 1 || ev[0].Email != "eve@example.org" || ev[0].Detail["by"] != adminID ||
		ev[0].Detail["reason"] != "admin" || ev[0].IP == "" {
		t.Fatalf("events %+v", ev)
	}
	a = e.api("DELETE", "/admin/lockouts/eve@example.org", "", tok)
	if code, _ := edgetest.ErrorCode(t, a); a.Status != http.StatusNotFound || code != "not_found" {
		t.Fatalf("cleared already: %d %s", a.Status, a.Body)
	}
	a = e.api("DELETE", "/admin/lockouts/a%00b", "", tok)
	if code, _ := edgetest.ErrorCode(t, a); a.Status != http.StatusBadRequest || code != "bad_request" {
		t.Fatalf("a control character: %d %s", a.Status, a.Body)
	}

	t.Run("store down", func(t *testing.T) {
		e.lockouts.Err = errors.New("connection refused")
		defer func() { e.lockouts.Err = nil }()
		for _, m := range []string{"GET /admin/lockouts", "DELETE /admin/lockouts/fay@example.org"} {
			method, path, _ := strings.Cut(m, " ")
			a := e.api(method, path, "", tok)
			if code, _ := edgetest.ErrorCode(t, a); a.Status != http.StatusServiceUnavailable || code != "unavailable" {
				t.Fatalf("%s: %d %s", m, a.Status, a.Body)
			}
		}
	})
}

// Without a lockout store nothing is locked; without an event log nothing
// is listed.
func TestWithoutStores(t *testing.T) {
	a := &API{opts: Options{Logger: (&edgetest.Logs{}).Logger()}} // the handlers alone, past the token check
	rec := record(a.listLocks, "GET", "/admin/lockouts")
	if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != `{"lockouts":[]}` {
		t.Fatalf("locks: %d %s", rec.Code, rec.Body)
	}
	rec = record(a.listEvents, "GET", "/admin/auth-events?type=lockout")
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"events":[]`) {
		t.Fatalf("events: %d %s", rec.Code, rec.Body)
	}
}

// A body that is not JSON by its media type is a 415 on every route that
// takes one.
func TestUserRoutesWantJSON(t *testing.T) {
	e := newRig(t)
	_, tok := e.admin()
	id, _ := e.user("student")
	for _, r := range []struct{ method, path, body string }{
		{"PUT", "/role", `{"role":"admin"}`},
		{"PUT", "/state", `{"state":"inactive"}`},
		{"POST", "/sessions/revoke", `{}`},
	} {
		a := e.do(r.method, "/admin/users/"+id+r.path, r.body, "Authorization", "Bearer "+tok, "Content-Type", "text/plain")
		if code, _ := edgetest.ErrorCode(t, a); a.Status != http.StatusUnsupportedMediaType || code != "unsupported_media_type" {
			t.Fatalf("%s: %d %s", r.path, a.Status, a.Body)
		}
	}
	if n := len(e.revoked.All()); n != 0 {
		t.Fatalf("%d revocations", n)
	}
}
