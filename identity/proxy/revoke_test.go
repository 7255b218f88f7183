package proxy

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/learnplatform/platform/identity"
	"github.com/learnplatform/platform/identity/internal/edgetest"
	"github.com/learnplatform/platform/identity/pages"
	fakeory "github.com/learnplatform/platform/kit/orytest"
)

// A sign-out through the proxy voids the tokens of that session only.
func TestSignOutThroughTheProxyRevokesTheSession(t *testing.T) {
	e := newRig(t)
	t.Run("browser", func(t *testing.T) {
		id, s := e.user()
		other := e.kratos.AddSession(id)
		a := e.do("GET", "/self-service/logout?token="+s.LogoutToken()+"&return_to="+url.QueryEscape(e.URL+"/login"), "", "Cookie", s.Cookie())
		if a.Status != http.StatusSeeOther || e.kratos.Active(s.ID) {
			t.Fatalf("sign-out: %d %s", a.Status, a.Body)
		}
		if got := e.revoked.All(); !slices.Contains(got, edgetest.Revocation{Session: s.ID, Reason: identity.ReasonSignOut}) {
			t.Fatalf("revocations: %+v", got)
		}
		if e.revoked.Revoked(id, other.ID, "", time.Now()) {
			t.Fatal("the user's other session's tokens are void too")
		}
		if ev := e.events.OfType(identity.EventLogout); len(ev) != 1 || ev[0].Detail["session_id"] != s.ID {
			t.Fatalf("events: %+v", ev)
		}
	})
	t.Run("native app", func(t *testing.T) {
		_, s := e.user()
		a := e.do("DELETE", "/self-service/logout/api", `{"session_token":"`+s.Token+`"}`, "Content-Type", "application/json")
		if a.Status != http.StatusNoContent {
			t.Fatalf("%d %s", a.Status, a.Body)
		}
		if got := e.revoked.All(); !slices.Contains(got, edgetest.Revocation{Session: s.ID, Reason: identity.ReasonSignOut}) {
			t.Fatalf("revocations: %+v", got)
		}
	})
	t.Run("a failed sign-out revokes nothing", func(t *testing.T) {
		_, s := e.user()
		before := len(e.revoked.All())
		a := e.do("GET", "/self-service/logout?token=wrong", "", "Cookie", s.Cookie())
		if a.Status != http.StatusSeeOther || !strings.HasPrefix(a.Header.Get("Location"), "/error") || !e.kratos.Active(s.ID) {
			t.Fatalf("%d %s", a.Status, a.Header.Get("Location"))
		}
		if len(e.revoked.All()) != before {
			t.Fatal("revoked a session that did not end")
		}
	})
}

// A sign-out is done at Kratos before the edge can write the revocation:
// a failed write is logged with the request id and retried.
func TestSignOutRevocationRetried(t *testing.T) {
	e := newRig(t)
	_, s := e.user()
	e.revoked.FailNext(2)
	a := e.do("GET", "/self-service/logout?token="+s.LogoutToken(), "", "Cookie", s.Cookie(), "X-Request-Id", "signout-retry-1")
	if a.Status != http.StatusSeeOther {
		t.Fatalf("the sign-out itself: %d", a.Status)
	}
	edgetest.WaitFor(t, "the revocation written on retry", func() bool {
		return slices.Contains(e.revoked.All(), edgetest.Revocation{Session: s.ID, Reason: identity.ReasonSignOut})
	})
	logs := e.logs.String()
	if !strings.Contains(logs, "token revocation not written") || !strings.Contains(logs, "request_id=signout-retry-1") {
		t.Fatalf("logs:\n%s", logs)
	}
	edgetest.WaitFor(t, "counted", func() bool {
		return e.counter("identity_token_revocations_total", "reason", identity.ReasonSignOut, "outcome", "retry_written") == 1
	})
	if e.counter("identity_token_revocations_total", "reason", identity.ReasonSignOut, "outcome", "failed") != 2 {
		t.Fatal("failures not counted")
	}

	t.Run("abandoned after the last retry", func(t *testing.T) {
		_, s := e.user()
		e.revoked.SetDown(true)
		defer e.revoked.SetDown(false)
		e.do("GET", "/self-service/logout?token="+s.LogoutToken(), "", "Cookie", s.Cookie())
		edgetest.WaitFor(t, "abandoned", func() bool {
			return e.counter("identity_token_revocations_total", "reason", identity.ReasonSignOut, "outcome", "abandoned") == 1
		})
	})
}

// A new password voids every token of the identity but those of the
// session that changed it.
func TestPasswordChangeRevokesOtherSessions(t *testing.T) {
	e := newRig(t)
	const newPassword = "An0ther-Strong-Passphrase!"
	t.Run("native app", func(t *testing.T) {
		id, s := e.user()
		flow := e.kratos.AddSettingsFlow(id, "api")
		a := e.do("POST", "/self-service/settings?flow="+flow, `{"method":"password","password":"`+newPassword+`"}`,
			"Content-Type", "application/json", "X-Session-Token", s.Token)
		if a.Status != http.StatusOK || !strings.Contains(a.Body, `"state":"success"`) {
			t.Fatalf("%d %s", a.Status, a.Body)
		}
		if got := e.revoked.All(); !slices.Contains(got, edgetest.Revocation{Subject: id, Keep: s.ID, Reason: identity.ReasonPasswordChanged}) {
			t.Fatalf("revocations: %+v", got)
		}
	})
	t.Run("browser", func(t *testing.T) {
		id, s := e.user()
		flow := e.kratos.AddSettingsFlow(id, "browser")
		form := url.Values{"method": {"password"}, "password": {newPassword}, "csrf_token": {"x"}}
		a := e.do("POST", "/self-service/settings?flow="+flow, form.Encode(),
			"Content-Type", "application/x-www-form-urlencoded", "Cookie", s.Cookie())
		if a.Status != http.StatusSeeOther {
			t.Fatalf("%d %s", a.Status, a.Body)
		}
		if got := e.revoked.All(); !slices.Contains(got, edgetest.Revocation{Subject: id, Keep: s.ID, Reason: identity.ReasonPasswordChanged}) {
			t.Fatalf("revocations: %+v", got)
		}
	})
	t.Run("Kratos refuses the password", func(t *testing.T) {
		id, s := e.user()
		before := len(e.revoked.All())
		for _, typ := range []string{"api", "browser"} {
			flow := e.kratos.AddSettingsFlow(id, typ)
			form := url.Values{"method": {"password"}, "password": {fakeory.RefusedPassword}}
			a := e.do("POST", "/self-service/settings?flow="+flow, form.Encode(),
				"Content-Type", "application/x-www-form-urlencoded", "Cookie", s.Cookie(), "X-Session-Token", s.Token)
			if a.Status != http.StatusBadRequest && a.Status != http.StatusSeeOther {
				t.Fatalf("%s: %d %s", typ, a.Status, a.Body)
			}
		}
		if len(e.revoked.All()) != before {
			t.Fatal("a refused password revoked tokens")
		}
	})
	t.Run("a profile change", func(t *testing.T) {
		id, s := e.user()
		before := len(e.revoked.All())
		flow := e.kratos.AddSettingsFlow(id, "api")
		a := e.do("POST", "/self-service/settings?flow="+flow, `{"method":"profile","traits":{"email":"x@example.org"}}`,
			"Content-Type", "application/json", "X-Session-Token", s.Token)
		if a.Status != http.StatusOK || len(e.revoked.All()) != before {
			t.Fatalf("%d, revocations %d -> %d", a.Status, before, len(e.revoked.All()))
		}
	})
	t.Run("the browser that had to change its password goes on", func(t *testing.T) {
		id, s := e.user()
		flow := e.kratos.AddSettingsFlow(id, "browser")
		next := url.QueryEscape(e.URL + "/welcome?from=login")
		form := url.Values{"method": {"password"}, "password": {newPassword}}
		a := e.do("POST", "/self-service/settings?flow="+flow, form.Encode(), "Content-Type", "application/x-www-form-urlencoded",
			"Cookie", s.Cookie()+"; "+pages.ChangePasswordCookie+"="+next)
		if a.Status != http.StatusSeeOther || a.Header.Get("Location") != e.URL+"/welcome?from=login" {
			t.Fatalf("%d %s", a.Status, a.Header.Get("Location"))
		}
	})
}
