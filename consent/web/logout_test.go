package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/learnplatform/platform/kit/orytest"
)

func TestLogoutWithIDTokenHintProceeds(t *testing.T) {
	t.Run("signed in: through Kratos' logout", func(t *testing.T) {
		hs := newHarness(t)
		_, s, cookie := hs.user(orytest.Identity{}, orytest.Session{})
		ch := hs.hydra.AddLogout(orytest.LogoutRequest{Subject: "u", SID: "sid", RPInitiated: true, ClientID: "tutor-web"})
		to := location(t, hs.get("/logout?logout_challenge="+ch, cookie))
		if to.Path != "/self-service/logout" || to.Query().Get("token") != s.LogoutToken() || to.Query().Get("return_to") != hs.hydra.LogoutVerifierURL(ch) {
			t.Fatalf("redirect %s", to)
		}
		if hs.hydra.LogoutOutcome(ch) != "accepted" {
			t.Fatal("not accepted")
		}
	})
	t.Run("no Kratos session: straight on to Hydra", func(t *testing.T) {
		hs := newHarness(t)
		ch := hs.hydra.AddLogout(orytest.LogoutRequest{Subject: "u", SID: "sid", RPInitiated: true, ClientID: "tutor-web"})
		if got := location(t, hs.get("/logout?logout_challenge="+ch, "")).String(); got != hs.hydra.LogoutVerifierURL(ch) {
			t.Fatalf("%s", got)
		}
	})
	t.Run("kratos down: Hydra's session still ends", func(t *testing.T) {
		hs := newHarness(t)
		_, _, cookie := hs.user(orytest.Identity{}, orytest.Session{})
		hs.kratos.FailOn("", http.StatusBadGateway)
		ch := hs.hydra.AddLogout(orytest.LogoutRequest{Subject: "u", SID: "sid", RPInitiated: true, ClientID: "tutor-web"})
		if got := location(t, hs.get("/logout?logout_challenge="+ch, cookie)).String(); got != hs.hydra.LogoutVerifierURL(ch) {
			t.Fatalf("%s", got)
		}
	})
}

func TestLogoutWithoutHintAsksFirst(t *testing.T) {
	for _, c := range []struct {
		name string
		lr   orytest.LogoutRequest
	}{
		{"a bare /oauth2/sessions/logout link", orytest.LogoutRequest{Subject: "u", SID: "sid"}},
		{"no client named: not a valid hint", orytest.LogoutRequest{Subject: "u", SID: "sid", RPInitiated: true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			hs := newHarness(t)
			_, _, cookie := hs.user(orytest.Identity{}, orytest.Session{})
			ch := hs.hydra.AddLogout(c.lr)
			rec := hs.get("/logout?logout_challenge="+ch, cookie)
			page := rec.Body.String()
			if rec.Code != http.StatusOK || !strings.Contains(page, "Sign out of Learning Platform?") ||
				!strings.Contains(page, `value="logout"`) || !strings.Contains(page, `value="cancel"`) || !strings.Contains(page, `method="post"`) {
				t.Fatalf("%d %s", rec.Code, page)
			}
			if rec.Header().Get("X-Frame-Options") != "DENY" {
				t.Fatal("the confirmation page must not be framed")
			}
			if hs.hydra.LogoutOutcome(ch) != "" || hs.hydra.Called("PUT /admin/oauth2/auth/requests/logout/accept") != 0 {
				t.Fatal("decided without asking")
			}
		})
	}
}

func TestLogoutConfirmation(t *testing.T) {
	setup := func(t *testing.T) (*harness, string, orytest.Session, string) {
		hs := newHarness(t)
		_, s, cookie := hs.user(orytest.Identity{}, orytest.Session{})
		return hs, cookie, s, hs.hydra.AddLogout(orytest.LogoutRequest{Subject: "u", SID: "sid"})
	}
	t.Run("sign out", func(t *testing.T) {
		hs, cookie, s, ch := setup(t)
		to := location(t, hs.post("/logout", cookie, url.Values{"logout_challenge": {ch}, "decision": {"logout"}}))
		if to.Path != "/self-service/logout" || to.Query().Get("token") != s.LogoutToken() ||
			to.Query().Get("return_to") != hs.hydra.LogoutVerifierURL(ch) || hs.hydra.LogoutOutcome(ch) != "accepted" {
			t.Fatalf("%s, %q", to, hs.hydra.LogoutOutcome(ch))
		}
	})
	t.Run("cancel", func(t *testing.T) {
		hs, cookie, _, ch := setup(t)
		if got := location(t, hs.post("/logout", cookie, url.Values{"logout_challenge": {ch}, "decision": {"cancel"}})).String(); got != "http://login.test/" {
			t.Fatalf("%s", got)
		}
		if hs.hydra.LogoutOutcome(ch) != "rejected" {
			t.Fatal("cancel must reject the logout at Hydra")
		}
		// Deciding twice: a page, not a 500.
		if rec := hs.post("/logout", cookie, url.Values{"logout_challenge": {ch}, "decision": {"logout"}}); rec.Code != http.StatusBadRequest {
			t.Fatalf("twice: %d", rec.Code)
		}
	})
	for _, c := range []struct {
		name string
		form func(challenge string) url.Values
	}{
		{"no challenge", func(string) url.Values { return url.Values{"decision": {"logout"}} }},
		{"unknown challenge", func(string) url.Values { return url.Values{"logout_challenge": {"nope"}, "decision": {"logout"}} }},
		{"neither answer", func(ch string) url.Values { return url.Values{"logout_challenge": {ch}, "decision": {"maybe"}} }},
	} {
		t.Run(c.name, func(t *testing.T) {
			hs, cookie, _, ch := setup(t)
			if rec := hs.post("/logout", cookie, c.form(ch)); rec.Code != http.StatusBadRequest {
				t.Fatalf("%d", rec.Code)
			}
			if hs.hydra.LogoutOutcome(ch) != "" {
				t.Fatal("decided")
			}
		})
	}
}

// The sign-out form is same-origin only: another site cannot make the
// browser confirm a logout.
func TestLogoutFormRefusesOtherSites(t *testing.T) {
	for _, c := range []struct {
		name string
		hdr  []string
	}{
		{"cross-site fetch metadata", []string{"Sec-Fetch-Site", "cross-site", "Origin", "http://evil.test"}},
		{"same-site is not same-origin", []string{"Sec-Fetch-Site", "same-site", "Origin", "http://other.consent.test"}},
		{"origin of another site, no fetch metadata", []string{"Sec-Fetch-Site", "", "Origin", "http://evil.test"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			hs := newHarness(t)
			_, _, cookie := hs.user(orytest.Identity{}, orytest.Session{})
			ch := hs.hydra.AddLogout(orytest.LogoutRequest{Subject: "u", SID: "sid"})
			rec := hs.post("/logout", cookie, url.Values{"logout_challenge": {ch}, "decision": {"logout"}}, c.hdr...)
			if rec.Code != http.StatusForbidden {
				t.Fatalf("%d", rec.Code)
			}
			if hs.hydra.LogoutOutcome(ch) != "" {
				t.Fatal("a cross-site post decided the logout")
			}
		})
	}
	t.Run("same origin behind a proxy", func(t *testing.T) {
		hs := newHarness(t)
		_, _, cookie := hs.user(orytest.Identity{}, orytest.Session{})
		ch := hs.hydra.AddLogout(orytest.LogoutRequest{Subject: "u", SID: "sid"})
		// The proxy changed Host; the public origin is trusted.
		req := httptest.NewRequest(http.MethodPost, "http://10.0.0.7:4456/logout", strings.NewReader(url.Values{"logout_challenge": {ch}, "decision": {"logout"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "http://consent.test")
		req.Header.Set("Cookie", cookie)
		if rec := hs.do(req); rec.Code != http.StatusSeeOther || hs.hydra.LogoutOutcome(ch) != "accepted" {
			t.Fatalf("%d", rec.Code)
		}
	})
}

func TestLogoutErrors(t *testing.T) {
	for _, c := range []struct {
		name, target string
		hydraDown    bool
		want         int
	}{
		{"missing challenge", "/logout", false, http.StatusBadRequest},
		{"unknown challenge", "/logout?logout_challenge=nope", false, http.StatusBadRequest},
		{"hydra down", "/logout?logout_challenge=x", true, http.StatusServiceUnavailable},
	} {
		t.Run(c.name, func(t *testing.T) {
			hs := newHarness(t)
			if c.hydraDown {
				hs.hydra.Admin.Close()
			}
			if rec := hs.get(c.target, ""); rec.Code != c.want {
				t.Fatalf("%d, want %d", rec.Code, c.want)
			}
		})
	}
}
