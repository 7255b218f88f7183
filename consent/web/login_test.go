package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/learnplatform/platform/consent/hydra"
	"github.com/learnplatform/platform/kit/orytest"
)

func TestLoginWithSessionAcceptsAndCarriesTheKratosSession(t *testing.T) {
	hs := newHarness(t)
	id, s, cookie := hs.user(orytest.Identity{}, orytest.Session{Methods: []string{"password"}})
	ch := hs.hydra.AddLogin(orytest.LoginRequest{ClientID: "tutor-web", Scopes: []string{"openid"}})
	if got := location(t, hs.get("/login?login_challenge="+ch, cookie)).String(); got != hs.hydra.LoginVerifierURL(ch) {
		t.Fatalf("redirect %s", got)
	}
	acc, ok := hs.hydra.LoginAccepted(ch)
	if !ok || acc.Subject != id || acc.IdentityProviderSessionID != s.ID || !acc.Remember || acc.AMR[0] != "password" {
		t.Fatalf("accepted %+v", acc)
	}
	var lc hydra.LoginContext
	if err := json.Unmarshal(acc.Context, &lc); err != nil || lc.KratosSessionID != s.ID {
		t.Fatalf("context %s %v", acc.Context, err)
	}
}

func TestLoginWithoutSession(t *testing.T) {
	t.Run("sent to the hosted login", func(t *testing.T) {
		hs := newHarness(t)
		ch := hs.hydra.AddLogin(orytest.LoginRequest{ClientID: "tutor-web"})
		to := location(t, hs.get("/login?login_challenge="+ch, ""))
		if to.Host != "login.test" || to.Query().Get("refresh") != "" {
			t.Fatalf("redirect %s", to)
		}
		back := mustURL(to.Query().Get("return_to"))
		if back.Host != "consent.test" || back.Path != "/login" || back.Query().Get("login_challenge") != ch || back.Query().Has("reauth") {
			t.Fatalf("return_to %s", back)
		}
		if _, decided := hs.hydra.LoginAccepted(ch); decided {
			t.Fatal("accepted without a session")
		}
	})
	t.Run("prompt=none", func(t *testing.T) {
		hs := newHarness(t)
		none := hs.hydra.AddLogin(orytest.LoginRequest{ClientID: "tutor-web", Query: url.Values{"prompt": {"none"}}})
		if got := location(t, hs.get("/login?login_challenge="+none, "")).String(); got != hs.hydra.RejectedURL(none) {
			t.Fatalf("prompt=none redirect %s", got)
		}
		if rej, _ := hs.hydra.LoginRejected(none); rej.Error != "login_required" {
			t.Fatalf("prompt=none rejection %+v", rej)
		}
	})
}

// Hydra's skip (it remembers the user) counts only while a Kratos session
// of the same subject lives.
func TestLoginSkip(t *testing.T) {
	t.Run("same subject, live session", func(t *testing.T) {
		hs := newHarness(t)
		id, s, cookie := hs.user(orytest.Identity{}, orytest.Session{})
		ch := hs.hydra.AddLogin(orytest.LoginRequest{ClientID: "tutor-web", Skip: true, Subject: id})
		if got := location(t, hs.get("/login?login_challenge="+ch, cookie)).String(); got != hs.hydra.LoginVerifierURL(ch) {
			t.Fatalf("%s", got)
		}
		if acc, _ := hs.hydra.LoginAccepted(ch); acc.Subject != id || acc.IdentityProviderSessionID != s.ID {
			t.Fatalf("%+v", acc)
		}
	})
	t.Run("signed out of Kratos since", func(t *testing.T) {
		hs := newHarness(t)
		id, s, cookie := hs.user(orytest.Identity{}, orytest.Session{})
		hs.kratos.Revoke(s.ID)
		ch := hs.hydra.AddLogin(orytest.LoginRequest{ClientID: "tutor-web", Skip: true, Subject: id})
		if to := location(t, hs.get("/login?login_challenge="+ch, cookie)); to.Host != "login.test" {
			t.Fatalf("%s", to)
		}
	})
	t.Run("another subject signed in here since", func(t *testing.T) {
		hs := newHarness(t)
		_, _, cookie := hs.user(orytest.Identity{}, orytest.Session{})
		ch := hs.hydra.AddLogin(orytest.LoginRequest{ClientID: "tutor-web", Skip: true, Subject: orytest.NewID()})
		if to := location(t, hs.get("/login?login_challenge="+ch, cookie)); to.Host != "login.test" {
			t.Fatalf("%s", to)
		}
	})
	t.Run("remembered for at most the session's life", func(t *testing.T) {
		hs := newHarness(t)
		_, s, cookie := hs.user(orytest.Identity{}, orytest.Session{ExpiresAt: time.Now().Add(time.Hour)})
		ch := hs.hydra.AddLogin(orytest.LoginRequest{ClientID: "tutor-web"})
		location(t, hs.get("/login?login_challenge="+ch, cookie))
		acc, _ := hs.hydra.LoginAccepted(ch)
		if left := time.Until(s.ExpiresAt); !acc.Remember || acc.RememberFor <= 0 || time.Duration(acc.RememberFor)*time.Second > left {
			t.Fatalf("remember %v for %ds, session left %v", acc.Remember, acc.RememberFor, left)
		}
	})
}

func TestLoginRefusals(t *testing.T) {
	t.Run("inactive identity: no live session, sign in", func(t *testing.T) {
		hs := newHarness(t)
		id, _, cookie := hs.user(orytest.Identity{}, orytest.Session{})
		hs.kratos.SetInactive(id, true)
		ch := hs.hydra.AddLogin(orytest.LoginRequest{ClientID: "tutor-web"})
		if to := location(t, hs.get("/login?login_challenge="+ch, cookie)); to.Host != "login.test" {
			t.Fatalf("%s", to)
		}
	})
	t.Run("identity gone after whoami: access_denied", func(t *testing.T) {
		hs := newHarness(t)
		_, _, cookie := hs.user(orytest.Identity{}, orytest.Session{})
		hs.kratos.FailOn("GET /admin/identities/", http.StatusNotFound)
		ch := hs.hydra.AddLogin(orytest.LoginRequest{ClientID: "tutor-web"})
		if got := location(t, hs.get("/login?login_challenge="+ch, cookie)).String(); got != hs.hydra.RejectedURL(ch) {
			t.Fatalf("%s", got)
		}
		if rej, _ := hs.hydra.LoginRejected(ch); rej.Error != "access_denied" {
			t.Fatalf("%+v", rej)
		}
	})
	for _, c := range []struct{ name, target string }{
		{"missing challenge", "/login"},
		{"unknown challenge", "/login?login_challenge=nope"},
	} {
		t.Run(c.name, func(t *testing.T) {
			hs := newHarness(t)
			_, _, cookie := hs.user(orytest.Identity{}, orytest.Session{})
			if rec := hs.get(c.target, cookie); rec.Code != http.StatusBadRequest || !strings.Contains(body(rec), "Go back to the app") {
				t.Fatalf("%d %s", rec.Code, body(rec))
			}
		})
	}
	t.Run("used challenge", func(t *testing.T) {
		hs := newHarness(t)
		_, _, cookie := hs.user(orytest.Identity{}, orytest.Session{})
		ch := hs.hydra.AddLogin(orytest.LoginRequest{ClientID: "tutor-web"})
		location(t, hs.get("/login?login_challenge="+ch, cookie))
		if rec := hs.get("/login?login_challenge="+ch, cookie); rec.Code != http.StatusBadRequest || !strings.Contains(body(rec), "expired or was already used") {
			t.Fatalf("%d %s", rec.Code, body(rec))
		}
	})
	t.Run("hydra down", func(t *testing.T) {
		hs := newHarness(t)
		hs.hydra.Fail(http.StatusServiceUnavailable)
		if rec := hs.get("/login?login_challenge=x", ""); rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("%d", rec.Code)
		}
	})
	for _, c := range []struct{ name, prefix string }{
		{"kratos whoami down", "GET /sessions/whoami"},
		{"kratos admin down", "GET /admin/identities/"},
	} {
		t.Run(c.name, func(t *testing.T) {
			hs := newHarness(t)
			_, _, cookie := hs.user(orytest.Identity{}, orytest.Session{})
			ch := hs.hydra.AddLogin(orytest.LoginRequest{ClientID: "tutor-web"})
			hs.kratos.FailOn(c.prefix, http.StatusInternalServerError)
			if rec := hs.get("/login?login_challenge="+ch, cookie); rec.Code != http.StatusServiceUnavailable {
				t.Fatalf("%d", rec.Code)
			}
			if _, rejected := hs.hydra.LoginRejected(ch); rejected {
				t.Fatal("an outage must not end the login")
			}
		})
	}
}

// reauthReturn follows the consent app's redirect to the hosted login with
// refresh=true and returns the return_to it asked for.
func reauthReturn(t *testing.T, rec interface{ Header() http.Header }, code int) *url.URL {
	t.Helper()
	if code != http.StatusSeeOther {
		t.Fatalf("status %d", code)
	}
	to := mustURL(rec.Header().Get("Location"))
	if to.Host != "login.test" || to.Query().Get("refresh") != "true" {
		t.Fatalf("want the hosted login with refresh=true, got %s", to)
	}
	back := mustURL(to.Query().Get("return_to"))
	if back.Path != "/login" || back.Query().Get("reauth") == "" {
		t.Fatalf("return_to %s", back)
	}
	return back
}

func TestMaxAge(t *testing.T) {
	staleUser := func(hs *harness) (string, string) {
		id, _, cookie := hs.user(orytest.Identity{}, orytest.Session{AuthenticatedAt: time.Now().Add(-10 * time.Minute)})
		return id, cookie
	}
	t.Run("authenticated within max_age", func(t *testing.T) {
		hs := newHarness(t)
		_, cookie := staleUser(hs)
		ch := hs.hydra.AddLogin(orytest.LoginRequest{ClientID: "tutor-web", Query: url.Values{"max_age": {"3600"}}})
		if got := location(t, hs.get("/login?login_challenge="+ch, cookie)).String(); got != hs.hydra.LoginVerifierURL(ch) {
			t.Fatalf("fresh enough: %s", got)
		}
	})
	// Older than max_age: re-authenticate, even though Hydra would skip.
	for _, skip := range []bool{false, true} {
		t.Run(fmt.Sprintf("older than max_age, skip %v", skip), func(t *testing.T) {
			hs := newHarness(t)
			id, cookie := staleUser(hs)
			lr := orytest.LoginRequest{ClientID: "tutor-web", Query: url.Values{"max_age": {"300"}}}
			if skip {
				lr.Skip, lr.Subject = true, id
			}
			ch := hs.hydra.AddLogin(lr)
			rec := hs.get("/login?login_challenge="+ch, cookie)
			back := reauthReturn(t, rec, rec.Code)
			if _, accepted := hs.hydra.LoginAccepted(ch); accepted {
				t.Fatal("accepted a stale authentication")
			}
			// Coming back without having re-authenticated: asked again.
			rec = hs.get(back.RequestURI(), cookie)
			reauthReturn(t, rec, rec.Code)
		})
	}
	t.Run("prompt=none cannot re-authenticate", func(t *testing.T) {
		hs := newHarness(t)
		_, cookie := staleUser(hs)
		none := hs.hydra.AddLogin(orytest.LoginRequest{ClientID: "tutor-web", Query: url.Values{"max_age": {"300"}, "prompt": {"none"}}})
		if got := location(t, hs.get("/login?login_challenge="+none, cookie)).String(); got != hs.hydra.RejectedURL(none) {
			t.Fatalf("prompt=none: %s", got)
		}
		if rej, _ := hs.hydra.LoginRejected(none); rej.Error != "login_required" {
			t.Fatalf("%+v", rej)
		}
	})
}

func TestMaxAgeZeroDoesNotLoop(t *testing.T) {
	hs := newHarness(t)
	id := hs.kratos.AddIdentity(orytest.Identity{Email: "ada@example.org"})
	old := hs.kratos.PutSession(orytest.Session{IdentityID: id, AuthenticatedAt: time.Now().Add(-30 * time.Second)})
	ch := hs.hydra.AddLogin(orytest.LoginRequest{ClientID: "tutor-web", Query: url.Values{"max_age": {"0"}}})
	rec := hs.get("/login?login_challenge="+ch, old.Cookie())
	back := reauthReturn(t, rec, rec.Code)

	// The user signs in again at the hosted login (Kratos refresh: a new
	// authenticated_at after the consent app sent it, which max_age=0 alone
	// never accepts).
	fresh := hs.kratos.PutSession(orytest.Session{IdentityID: id, AuthenticatedAt: time.Now().Add(-time.Second)})
	if got := location(t, hs.get(back.RequestURI(), fresh.Cookie())).String(); got != hs.hydra.LoginVerifierURL(ch) {
		t.Fatalf("after re-authenticating: %s", got)
	}

	// A marker for another challenge, or a forged one, does not count.
	for _, marker := range []string{back.Query().Get("reauth"), "9999999999.00", strings.Split(back.Query().Get("reauth"), ".")[0] + ".abc"} {
		other := hs.hydra.AddLogin(orytest.LoginRequest{ClientID: "tutor-web", Query: url.Values{"max_age": {"0"}}})
		rec := hs.get("/login?"+url.Values{"login_challenge": {other}, "reauth": {marker}}.Encode(), fresh.Cookie())
		reauthReturn(t, rec, rec.Code)
	}
}

func TestPromptLogin(t *testing.T) {
	hs := newHarness(t)
	_, _, staleCookie := hs.user(orytest.Identity{}, orytest.Session{AuthenticatedAt: time.Now().Add(-10 * time.Minute)})
	_, _, freshCookie := hs.user(orytest.Identity{Email: "b@example.org"}, orytest.Session{AuthenticatedAt: time.Now().Add(-30 * time.Second)})
	ch := hs.hydra.AddLogin(orytest.LoginRequest{ClientID: "tutor-web", Query: url.Values{"prompt": {"login consent"}}})
	rec := hs.get("/login?login_challenge="+ch, staleCookie)
	reauthReturn(t, rec, rec.Code)
	if got := location(t, hs.get("/login?login_challenge="+ch, freshCookie)).String(); got != hs.hydra.LoginVerifierURL(ch) {
		t.Fatalf("fresh: %s", got)
	}
}
