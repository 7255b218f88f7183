package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/learnplatform/platform/kit/orytest"
)

func TestLogoutWithIDTokenHintProceeds(t *testing.T) {
	hs := newHarness(t)
	_, _, cookie := hs.user(orytest.Identity{}, orytest.Session{})
	ch := hs.hydra.AddLogout(orytest.LogoutRequest{Subject: "u", SID: "sid", RPInitiated: true, ClientID: "tutor-web"})
	to := location(t, hs.get("/logout?logout_challenge="+ch, cookie))
	if to.Path != "/self-service/logout" || to.Query().Get("return_to") != hs.hydra.LogoutVerifierURL(ch) {
		t.Fatalf("redirect %s", to)
	}
	if hs.hydra.LogoutOutcome(ch) != "accepted" {
		t.Fatal("not accepted")
	}
	// Without a Kratos session, straight on to Hydra.
	ch2 := hs.hydra.AddLogout(orytest.LogoutRequest{Subject: "u", SID: "sid", RPInitiated: true, ClientID: "tutor-web"})
	if got := location(t, hs.get("/logout?logout_challenge="+ch2, "")).String(); got != hs.hydra.LogoutVerifierURL(ch2) {
		t.Fatalf("no session: %s", got)
	}
}

func TestLogoutWithoutHintAsksFirst(t *testing.T) {
	for _, lr := range []orytest.LogoutRequest{
		{Subject: "u", SID: "sid"},                    // a bare /oauth2/sessions/logout link
		{Subject: "u", SID: "sid", RPInitiated: true}, // no client named: not a valid hint
	} {
		hs := newHarness(t)
		_, _, cookie := hs.user(orytest.Identity{}, orytest.Session{})
		ch := hs.hydra.AddLogout(lr)
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
	}
}

func TestLogoutConfirmation(t *testing.T) {
	hs := newHarness(t)
	_, _, cookie := hs.user(orytest.Identity{}, orytest.Session{})

	yes := hs.hydra.AddLogout(orytest.LogoutRequest{Subject: "u", SID: "sid"})
	to := location(t, hs.post("/logout", cookie, url.Values{"logout_challenge": {yes}, "decision": {"logout"}}))
	if to.Path != "/self-service/logout" || to.Query().Get("return_to") != hs.hydra.LogoutVerifierURL(yes) || hs.hydra.LogoutOutcome(yes) != "accepted" {
		t.Fatalf("sign out: %s, %q", to, hs.hydra.LogoutOutcome(yes))
	}

	no := hs.hydra.AddLogout(orytest.LogoutRequest{Subject: "u", SID: "sid"})
	if got := location(t, hs.post("/logout", cookie, url.Values{"logout_challenge": {no}, "decision": {"cancel"}})).String(); got != "http://login.test/" {
		t.Fatalf("cancel: %s", got)
	}
	if hs.hydra.LogoutOutcome(no) != "rejected" {
		t.Fatal("cancel must reject the logout at Hydra")
	}
	// Deciding twice: a page, not a 500.
	if rec := hs.post("/logout", cookie, url.Values{"logout_challenge": {no}, "decision": {"logout"}}); rec.Code != http.StatusBadRequest {
		t.Fatalf("twice: %d", rec.Code)
	}
	for _, form := range []url.Values{{"decision": {"logout"}}, {"logout_challenge": {yes}, "decision": {"maybe"}}} {
		if rec := hs.post("/logout", cookie, form); rec.Code != http.StatusBadRequest {
			t.Fatalf("%v: %d", form, rec.Code)
		}
	}
}

func TestLogoutFormRefusesOtherSites(t *testing.T) {
	hs := newHarness(t)
	_, _, cookie := hs.user(orytest.Identity{}, orytest.Session{})
	ch := hs.hydra.AddLogout(orytest.LogoutRequest{Subject: "u", SID: "sid"})
	form := url.Values{"logout_challenge": {ch}, "decision": {"logout"}}
	for _, hdr := range [][]string{
		{"Sec-Fetch-Site", "cross-site", "Origin", "http://evil.test"},
		{"Sec-Fetch-Site", "same-site", "Origin", "http://other.consent.test"}, // another app on the parent domain
		{"Sec-Fetch-Site", "", "Origin", "http://evil.test"},
	} {
		if rec := hs.post("/logout", cookie, form, hdr...); rec.Code != http.StatusForbidden {
			t.Errorf("%v: %d", hdr, rec.Code)
		}
	}
	if hs.hydra.LogoutOutcome(ch) != "" {
		t.Fatal("a cross-site post decided the logout")
	}
	// The public origin is trusted even when a proxy changed Host.
	req := strings.NewReader(form.Encode())
	r, _ := http.NewRequest(http.MethodPost, "http://10.0.0.7:4456/logout", req)
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Origin", "http://consent.test")
	r.Header.Set("Cookie", cookie)
	if rec := hs.do(r); rec.Code != http.StatusSeeOther || hs.hydra.LogoutOutcome(ch) != "accepted" {
		t.Fatalf("same origin behind a proxy: %d", rec.Code)
	}
}

func TestLogoutErrors(t *testing.T) {
	hs := newHarness(t)
	if rec := hs.get("/logout", ""); rec.Code != http.StatusBadRequest {
		t.Fatalf("missing: %d", rec.Code)
	}
	if rec := hs.get("/logout?logout_challenge=nope", ""); rec.Code != http.StatusBadRequest {
		t.Fatalf("unknown: %d", rec.Code)
	}
	hs.hydra.Admin.Close()
	if rec := hs.get("/logout?logout_challenge=x", ""); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("hydra down: %d", rec.Code)
	}
}
