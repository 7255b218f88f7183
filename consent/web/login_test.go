package web

import (
	"encoding/json"
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
	// remember_for never outlives the Kratos session.
	if left := time.Until(s.ExpiresAt); acc.RememberFor <= 0 || time.Duration(acc.RememberFor)*time.Second > left {
		t.Fatalf("remember_for %d, session left %v", acc.RememberFor, left)
	}
	var lc hydra.LoginContext
	if err := json.Unmarshal(acc.Context, &lc); err != nil || lc.KratosSessionID != s.ID {
		t.Fatalf("context %s %v", acc.Context, err)
	}
}

func TestLoginWithoutSession(t *testing.T) {
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

	none := hs.hydra.AddLogin(orytest.LoginRequest{ClientID: "tutor-web", Query: url.Values{"prompt": {"none"}}})
	if got := location(t, hs.get("/login?login_challenge="+none, "")).String(); got != hs.hydra.RejectedURL(none) {
		t.Fatalf("prompt=none redirect %s", got)
	}
	if rej, _ := hs.hydra.LoginRejected(none); rej.Error != "login_required" {
		t.Fatalf("prompt=none rejection %+v", rej)
	}
}

func TestLoginRefusals(t *testing.T) {
	hs := newHarness(t)
	_, _, cookie := hs.user(orytest.Identity{}, orytest.Session{})
	inactiveID, _, inactiveCookie := hs.user(orytest.Identity{Email: "x@example.org"}, orytest.Session{})
	hs.kratos.SetInactive(inactiveID, true)

	// An inactive identity's session is not live for Kratos' whoami:
	// the browser is sent to sign in.
	ch := hs.hydra.AddLogin(orytest.LoginRequest{ClientID: "tutor-web"})
	if to := location(t, hs.get("/login?login_challenge="+ch, inactiveCookie)); to.Host != "login.test" {
		t.Fatalf("inactive: %s", to)
	}
	// Hydra remembers another subject: sign in again.
	other := hs.hydra.AddLogin(orytest.LoginRequest{ClientID: "tutor-web", Skip: true, Subject: orytest.NewID()})
	if to := location(t, hs.get("/login?login_challenge="+other, cookie)); to.Host != "login.test" {
		t.Fatalf("other subject: %s", to)
	}
	// Missing, unknown and used challenges are pages, not 500s.
	if rec := hs.get("/login", cookie); rec.Code != http.StatusBadRequest {
		t.Fatalf("missing: %d", rec.Code)
	}
	if rec := hs.get("/login?login_challenge=nope", cookie); rec.Code != http.StatusBadRequest || !strings.Contains(body(rec), "expired") {
		t.Fatalf("unknown: %d", rec.Code)
	}
	hs.hydra.Fail(http.StatusServiceUnavailable)
	if rec := hs.get("/login?login_challenge="+ch, cookie); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("hydra down: %d", rec.Code)
	}
	hs.hydra.Fail(0)
	hs.kratos.FailOn("", http.StatusInternalServerError)
	if rec := hs.get("/login?login_challenge="+ch, cookie); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("kratos down: %d", rec.Code)
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
	hs := newHarness(t)
	id, _, cookie := hs.user(orytest.Identity{}, orytest.Session{AuthenticatedAt: time.Now().Add(-10 * time.Minute)})

	// Authenticated within max_age: accepted at once.
	ok := hs.hydra.AddLogin(orytest.LoginRequest{ClientID: "tutor-web", Query: url.Values{"max_age": {"3600"}}})
	if got := location(t, hs.get("/login?login_challenge="+ok, cookie)).String(); got != hs.hydra.LoginVerifierURL(ok) {
		t.Fatalf("fresh enough: %s", got)
	}

	// Older than max_age: re-authenticate, even though Hydra would skip.
	for _, skip := range []bool{false, true} {
		ch := hs.hydra.AddLogin(orytest.LoginRequest{ClientID: "tutor-web", Skip: skip, Subject: map[bool]string{true: id}[skip], Query: url.Values{"max_age": {"300"}}})
		rec := hs.get("/login?login_challenge="+ch, cookie)
		back := reauthReturn(t, rec, rec.Code)
		if _, accepted := hs.hydra.LoginAccepted(ch); accepted {
			t.Fatal("accepted a stale authentication")
		}
		// Coming back without having re-authenticated: asked again.
		rec = hs.get(back.RequestURI(), cookie)
		reauthReturn(t, rec, rec.Code)
	}

	// prompt=none cannot re-authenticate: login_required.
	none := hs.hydra.AddLogin(orytest.LoginRequest{ClientID: "tutor-web", Query: url.Values{"max_age": {"300"}, "prompt": {"none"}}})
	if got := location(t, hs.get("/login?login_challenge="+none, cookie)).String(); got != hs.hydra.RejectedURL(none) {
		t.Fatalf("prompt=none: %s", got)
	}
	if rej, _ := hs.hydra.LoginRejected(none); rej.Error != "login_required" {
		t.Fatalf("%+v", rej)
	}
}

func TestMaxAgeZeroDoesNotLoop(t *testing.T) {
	hs := newHarness(t)
	id := hs.kratos.AddIdentity(orytest.Identity{Email: "ada@example.org"})
	old := hs.kratos.PutSession(orytest.Session{IdentityID: id, AuthenticatedAt: time.Now().Add(-30 * time.Second)})
	ch := hs.hydra.AddLogin(orytest.LoginRequest{ClientID: "tutor-web", Query: url.Values{"max_age": {"0"}}})
	rec := hs.get("/login?login_challenge="+ch, old.Cookie())
	back := reauthReturn(t, rec, rec.Code)

	// The user signs in again at the hosted login (Kratos refresh: a new
	// authenticated_at a moment later, which max_age=0 alone never accepts).
	time.Sleep(10 * time.Millisecond)
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
