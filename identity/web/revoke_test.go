package web

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/learnplatform/platform/identity"
	"github.com/learnplatform/platform/identity/internal/fakeory"
)

// A sign-out through the proxy voids the tokens of that session only.
func TestSignOutThroughTheProxyRevokesTheSession(t *testing.T) {
	e := newTestEdge(t)
	t.Run("browser", func(t *testing.T) {
		id, s := e.user("student")
		other := e.kratos.AddSession(id)
		a := e.do("GET", "/self-service/logout?token="+s.LogoutToken()+"&return_to="+url.QueryEscape(e.URL+"/login"), "", "Cookie", s.Cookie())
		if a.Status != http.StatusSeeOther || e.kratos.Active(s.ID) {
			t.Fatalf("sign-out: %d %s", a.Status, a.Body)
		}
		if got := e.revoked.all(); !slices.Contains(got, revocation{Session: s.ID, Reason: identity.ReasonSignOut}) {
			t.Fatalf("revocations: %+v", got)
		}
		if e.revoked.Revoked(id, other.ID, "", e.h.now()) {
			t.Fatal("the user's other session's tokens are void too")
		}
		if ev := e.events.ofType(identity.EventLogout); len(ev) != 1 || ev[0].Detail["session_id"] != s.ID {
			t.Fatalf("events: %+v", ev)
		}
	})
	t.Run("native app", func(t *testing.T) {
		_, s := e.user("student")
		a := e.do("DELETE", "/self-service/logout/api", `{"session_token":"`+s.Token+`"}`, "Content-Type", "application/json")
		if a.Status != http.StatusNoContent {
			t.Fatalf("%d %s", a.Status, a.Body)
		}
		if got := e.revoked.all(); !slices.Contains(got, revocation{Session: s.ID, Reason: identity.ReasonSignOut}) {
			t.Fatalf("revocations: %+v", got)
		}
	})
	t.Run("a failed sign-out revokes nothing", func(t *testing.T) {
		_, s := e.user("student")
		before := len(e.revoked.all())
		a := e.do("GET", "/self-service/logout?token=wrong", "", "Cookie", s.Cookie())
		if a.Status != http.StatusSeeOther || !strings.HasPrefix(a.Header.Get("Location"), "/error") || !e.kratos.Active(s.ID) {
			t.Fatalf("%d %s", a.Status, a.Header.Get("Location"))
		}
		if len(e.revoked.all()) != before {
			t.Fatal("revoked a session that did not end")
		}
	})
}

// A sign-out is done at Kratos before the edge can write the revocation:
// a failed write is logged with the request id and retried.
func TestSignOutRevocationRetried(t *testing.T) {
	e := newTestEdge(t)
	_, s := e.user("student")
	e.revoked.mu.Lock()
	e.revoked.failures = 2
	e.revoked.mu.Unlock()
	a := e.do("GET", "/self-service/logout?token="+s.LogoutToken(), "", "Cookie", s.Cookie(), "X-Request-Id", "signout-retry-1")
	if a.Status != http.StatusSeeOther {
		t.Fatalf("the sign-out itself: %d", a.Status)
	}
	waitFor(t, "the revocation written on retry", func() bool {
		return slices.Contains(e.revoked.all(), revocation{Session: s.ID, Reason: identity.ReasonSignOut})
	})
	logs := e.logs.String()
	if !strings.Contains(logs, "token revocation not written") || !strings.Contains(logs, "request_id=signout-retry-1") {
		t.Fatalf("logs:\n%s", logs)
	}
	waitFor(t, "counted", func() bool { return e.revocationMetric(identity.ReasonSignOut, "retry_written") == 1 })
	if e.revocationMetric(identity.ReasonSignOut, "failed") != 2 {
		t.Fatal("failures not counted")
	}

	t.Run("abandoned after the last retry", func(t *testing.T) {
		_, s := e.user("student")
		e.revoked.setDown(true)
		defer e.revoked.setDown(false)
		e.do("GET", "/self-service/logout?token="+s.LogoutToken(), "", "Cookie", s.Cookie())
		waitFor(t, "abandoned", func() bool { return e.revocationMetric(identity.ReasonSignOut, "abandoned") == 1 })
	})
}

// A new password voids every token of the identity but those of the
// session that changed it.
func TestPasswordChangeRevokesOtherSessions(t *testing.T) {
	e := newTestEdge(t)
	const newPassword = "An0ther-Strong-Passphrase!"
	t.Run("native app", func(t *testing.T) {
		id, s := e.user("student")
		flow := e.kratos.AddSettingsFlow(id, "api")
		a := e.do("POST", "/self-service/settings?flow="+flow, `{"method":"password","password":"`+newPassword+`"}`,
			"Content-Type", "application/json", "X-Session-Token", s.Token)
		if a.Status != http.StatusOK || !strings.Contains(a.Body, `"state":"success"`) {
			t.Fatalf("%d %s", a.Status, a.Body)
		}
		if got := e.revoked.all(); !slices.Contains(got, revocation{Subject: id, Keep: s.ID, Reason: identity.ReasonPasswordChanged}) {
			t.Fatalf("revocations: %+v", got)
		}
	})
	t.Run("browser", func(t *testing.T) {
		id, s := e.user("student")
		flow := e.kratos.AddSettingsFlow(id, "browser")
		form := url.Values{"method": {"password"}, "password": {newPassword}, "csrf_token": {"x"}}
		a := e.do("POST", "/self-service/settings?flow="+flow, form.Encode(),
			"Content-Type", "application/x-www-form-urlencoded", "Cookie", s.Cookie())
		if a.Status != http.StatusSeeOther {
			t.Fatalf("%d %s", a.Status, a.Body)
		}
		if got := e.revoked.all(); !slices.Contains(got, revocation{Subject: id, Keep: s.ID, Reason: identity.ReasonPasswordChanged}) {
			t.Fatalf("revocations: %+v", got)
		}
	})
	t.Run("Kratos refuses the password", func(t *testing.T) {
		id, s := e.user("student")
		before := len(e.revoked.all())
		for _, typ := range []string{"api", "browser"} {
			flow := e.kratos.AddSettingsFlow(id, typ)
			form := url.Values{"method": {"password"}, "password": {fakeory.RefusedPassword}}
			a := e.do("POST", "/self-service/settings?flow="+flow, form.Encode(),
				"Content-Type", "application/x-www-form-urlencoded", "Cookie", s.Cookie(), "X-Session-Token", s.Token)
			if a.Status != http.StatusBadRequest && a.Status != http.StatusSeeOther {
				t.Fatalf("%s: %d %s", typ, a.Status, a.Body)
			}
		}
		if len(e.revoked.all()) != before {
			t.Fatal("a refused password revoked tokens")
		}
	})
	t.Run("a profile change", func(t *testing.T) {
		id, s := e.user("student")
		before := len(e.revoked.all())
		flow := e.kratos.AddSettingsFlow(id, "api")
		a := e.do("POST", "/self-service/settings?flow="+flow, `{"method":"profile","traits":{"email":"x@example.org"}}`,
			"Content-Type", "application/json", "X-Session-Token", s.Token)
		if a.Status != http.StatusOK || len(e.revoked.all()) != before {
			t.Fatalf("%d, revocations %d -> %d", a.Status, before, len(e.revoked.all()))
		}
	})
	t.Run("the browser that had to change its password goes on", func(t *testing.T) {
		id, s := e.user("student")
		flow := e.kratos.AddSettingsFlow(id, "browser")
		next := url.QueryEscape(e.URL + "/welcome?from=login")
		form := url.Values{"method": {"password"}, "password": {newPassword}}
		a := e.do("POST", "/self-service/settings?flow="+flow, form.Encode(), "Content-Type", "application/x-www-form-urlencoded",
			"Cookie", s.Cookie()+"; "+ChangePasswordCookie+"="+next)
		if a.Status != http.StatusSeeOther || a.Header.Get("Location") != e.URL+"/welcome?from=login" {
			t.Fatalf("%d %s", a.Status, a.Header.Get("Location"))
		}
	})
}

// A completed recovery (Kratos' after-hook) voids every token of the
// identity.
func TestRecoveryHookRevokes(t *testing.T) {
	e := newTestEdge(t)
	id, _ := e.user("student")
	body := `{"identity_id":"` + id + `","email":"x@example.org","flow_id":"","method":"code"}`
	if a := e.do("POST", "/hooks/kratos/recovery", body, "Content-Type", "application/json"); a.Status != http.StatusUnauthorized {
		t.Fatalf("without the secret: %d", a.Status)
	}
	if len(e.revoked.all()) != 0 {
		t.Fatal("revoked without the secret")
	}
	a := e.do("POST", "/hooks/kratos/recovery", body, "Content-Type", "application/json", HookSecretHeader, hookSecret)
	if a.Status != http.StatusNoContent {
		t.Fatalf("%d %s", a.Status, a.Body)
	}
	if got := e.revoked.all(); !slices.Equal(got, []revocation{{Subject: id, Reason: identity.ReasonRecovered}}) {
		t.Fatalf("revocations: %+v", got)
	}
	if len(e.events.ofType(identity.EventRecoveryCompleted)) != 1 {
		t.Fatal("no event")
	}
	t.Run("database down: 503, retried", func(t *testing.T) {
		e.revoked.mu.Lock()
		e.revoked.failures = 1
		e.revoked.mu.Unlock()
		a := e.do("POST", "/hooks/kratos/recovery", body, "Content-Type", "application/json", HookSecretHeader, hookSecret)
		if code, _ := errorCode(t, a); a.Status != http.StatusServiceUnavailable || code != "unavailable" {
			t.Fatalf("%d %s", a.Status, a.Body)
		}
		waitFor(t, "retried", func() bool { return len(e.revoked.all()) == 2 })
	})
}
