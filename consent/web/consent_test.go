package web

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/learnplatform/platform/consent"
	"github.com/learnplatform/platform/kit/orytest"
)

// loginThenConsent runs the login step for a signed-in browser and returns
// a consent challenge that follows it, as Hydra would.
func (hs *harness) loginThenConsent(client string, scopes []string, cookie, subject string) string {
	hs.t.Helper()
	login := hs.hydra.AddLogin(orytest.LoginRequest{ClientID: client, Scopes: scopes})
	if rec := hs.get("/login?login_challenge="+login, cookie); rec.Header().Get("Location") != hs.hydra.LoginVerifierURL(login) {
		hs.t.Fatalf("login: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	return hs.hydra.AddConsent(orytest.ConsentRequest{ClientID: client, Subject: subject, Scopes: scopes, LoginChallenge: login})
}

// allow answers the consent page with Allow, as the browser does.
func (hs *harness) allow(ch, cookie string, remember bool) {
	hs.t.Helper()
	page := hs.get("/consent?consent_challenge="+ch, cookie)
	if page.Code != http.StatusOK || !strings.Contains(page.Body.String(), `name="consent_challenge" value="`+ch+`"`) {
		hs.t.Fatalf("consent page: %d %s", page.Code, page.Body)
	}
	form := url.Values{"consent_challenge": {ch}, "decision": {"allow"}}
	if remember {
		form.Set("remember", "true")
	}
	if got := location(hs.t, hs.post("/consent", cookie, form)).String(); got != hs.hydra.ConsentVerifierURL(ch) {
		hs.t.Fatalf("allow: %s", got)
	}
}

func TestClaimsFollowGrantedScopes(t *testing.T) {
	cases := []struct {
		name       string
		client     string
		scopes     []string
		wantClaims map[string]any // ID token; the access token adds session_id
	}{
		{"third party, openid only", "buddy", []string{"openid"}, map[string]any{}},
		{"third party, email", "buddy", []string{"openid", "email"}, map[string]any{"email": "ada@example.org", "email_verified": true}},
		{"third party, profile", "buddy", []string{"openid", "profile"}, map[string]any{"name": "Ada"}},
		{"third party, role scope", "buddy", []string{"openid", "role"}, map[string]any{"role": "instructor"}},
		{"first party, openid only", "tutor-web", []string{"openid"}, map[string]any{"role": "instructor"}},
		{"first party, everything", "tutor-web", []string{"openid", "offline_access", "email", "profile"},
			map[string]any{"email": "ada@example.org", "email_verified": true, "name": "Ada", "role": "instructor"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hs := newHarness(t)
			id, s, cookie := hs.user(orytest.Identity{Name: "Ada", Role: "instructor"}, orytest.Session{})
			ch := hs.loginThenConsent(c.client, c.scopes, cookie, id)
			if c.client == "tutor-web" {
				if got := location(t, hs.get("/consent?consent_challenge="+ch, cookie)).String(); got != hs.hydra.ConsentVerifierURL(ch) {
					t.Fatalf("first party: %s", got)
				}
			} else {
				hs.allow(ch, cookie, false)
			}
			acc, ok := hs.hydra.ConsentAccepted(ch)
			if !ok {
				t.Fatal("not accepted")
			}
			if !maps.Equal(acc.Session.IDToken, c.wantClaims) {
				t.Errorf("id_token claims %v, want %v", acc.Session.IDToken, c.wantClaims)
			}
			wantAT := maps.Clone(c.wantClaims)
			wantAT["session_id"] = s.ID
			if !maps.Equal(acc.Session.AccessToken, wantAT) {
				t.Errorf("access_token claims %v, want %v", acc.Session.AccessToken, wantAT)
			}
		})
	}
}

func TestConsentWithoutKratosSessionContext(t *testing.T) {
	// A login accepted before the session id was carried (no context):
	// the access token simply has no session_id.
	hs := newHarness(t)
	id, _, cookie := hs.user(orytest.Identity{Role: "admin"}, orytest.Session{})
	ch := hs.hydra.AddConsent(orytest.ConsentRequest{ClientID: "tutor-web", Subject: id, Scopes: []string{"openid"}})
	location(t, hs.get("/consent?consent_challenge="+ch, cookie))
	acc, _ := hs.hydra.ConsentAccepted(ch)
	if !maps.Equal(acc.Session.AccessToken, map[string]any{"role": "admin"}) {
		t.Fatalf("%v", acc.Session.AccessToken)
	}
}

func TestConsentPageSaysWhatEachScopeReveals(t *testing.T) {
	hs := newHarness(t)
	id, _, cookie := hs.user(orytest.Identity{}, orytest.Session{})
	scopes := []string{"openid", "email", "profile", "role", "offline_access", "courses.read"}
	ch := hs.loginThenConsent("buddy", scopes, cookie, id)
	rec := hs.get("/consent?consent_challenge="+ch, cookie)
	page := rec.Body.String()
	if rec.Code != http.StatusOK || !strings.Contains(page, "Study Buddy") {
		t.Fatalf("%d %s", rec.Code, page)
	}
	for _, s := range scopes {
		li := regexp.MustCompile(`<li data-scope="` + regexp.QuoteMeta(s) + `">([^<]|<strong>|</strong>)*</li>`).FindString(page)
		text := strings.ReplaceAll(consent.Reveals(s), "'", "&#39;")
		if li == "" || !strings.Contains(li, text) {
			t.Errorf("scope %s: %q lacks %q", s, li, text)
		}
	}
	for _, want := range []string{"your email address and whether it is verified", "your name", "your role on the platform (student, instructor, admin)", "your account id"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

func TestConsentDecisions(t *testing.T) {
	setup := func(t *testing.T) (*harness, string, string) {
		hs := newHarness(t)
		id, _, cookie := hs.user(orytest.Identity{}, orytest.Session{})
		return hs, hs.loginThenConsent("buddy", []string{"openid"}, cookie, id), cookie
	}
	t.Run("allow, remembered", func(t *testing.T) {
		hs, ch, cookie := setup(t)
		hs.allow(ch, cookie, true)
		if acc, _ := hs.hydra.ConsentAccepted(ch); !acc.Remember || acc.RememberFor != int((720*time.Hour).Seconds()) {
			t.Fatalf("%+v", acc)
		}
	})
	t.Run("allow, not remembered", func(t *testing.T) {
		hs, ch, cookie := setup(t)
		hs.allow(ch, cookie, false)
		if acc, _ := hs.hydra.ConsentAccepted(ch); acc.Remember {
			t.Fatalf("%+v", acc)
		}
	})
	t.Run("deny", func(t *testing.T) {
		hs, ch, cookie := setup(t)
		rec := hs.post("/consent", cookie, url.Values{"consent_challenge": {ch}, "decision": {"deny"}})
		if got := location(t, rec).String(); got != hs.hydra.RejectedURL(ch) {
			t.Fatalf("deny: %s", got)
		}
		if rej, _ := hs.hydra.ConsentRejected(ch); rej.Error != "access_denied" {
			t.Fatalf("%+v", rej)
		}
		// The used challenge: a page, not a 500.
		if rec := hs.get("/consent?consent_challenge="+ch, cookie); rec.Code != http.StatusBadRequest {
			t.Fatalf("used: %d", rec.Code)
		}
		if rec := hs.post("/consent", cookie, url.Values{"consent_challenge": {ch}, "decision": {"allow"}}); rec.Code != http.StatusBadRequest {
			t.Fatalf("decided twice: %d", rec.Code)
		}
	})
	t.Run("neither", func(t *testing.T) {
		hs, ch, cookie := setup(t)
		if rec := hs.post("/consent", cookie, url.Values{"consent_challenge": {ch}, "decision": {"maybe"}}); rec.Code != http.StatusBadRequest {
			t.Fatalf("%d", rec.Code)
		}
		if _, ok := hs.hydra.ConsentAccepted(ch); ok {
			t.Fatal("accepted")
		}
	})
}

// The consent form is same-origin only: a post another site makes the
// browser send is refused before anything is decided.
func TestConsentFormRefusesOtherSites(t *testing.T) {
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
			id, _, cookie := hs.user(orytest.Identity{}, orytest.Session{})
			ch := hs.loginThenConsent("buddy", []string{"openid", "email"}, cookie, id)
			rec := hs.post("/consent", cookie, url.Values{"consent_challenge": {ch}, "decision": {"allow"}}, c.hdr...)
			if rec.Code != http.StatusForbidden || !strings.Contains(body(rec), "another site") {
				t.Fatalf("%d %s", rec.Code, body(rec))
			}
			if _, ok := hs.hydra.ConsentAccepted(ch); ok || hs.hydra.Called("GET /admin/oauth2/auth/requests/consent") != 0 {
				t.Fatal("a cross-site post reached Hydra")
			}
		})
	}
	t.Run("same origin behind a proxy", func(t *testing.T) {
		hs := newHarness(t)
		id, _, cookie := hs.user(orytest.Identity{}, orytest.Session{})
		ch := hs.loginThenConsent("buddy", []string{"openid"}, cookie, id)
		// The proxy changed Host; the public origin is trusted.
		req := httptest.NewRequest(http.MethodPost, "http://10.0.0.7:4456/consent", strings.NewReader(url.Values{"consent_challenge": {ch}, "decision": {"allow"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "http://consent.test")
		req.Header.Set("Cookie", cookie)
		if got := location(t, hs.do(req)).String(); got != hs.hydra.ConsentVerifierURL(ch) {
			t.Fatalf("%s", got)
		}
	})
}

func TestConsentSkipAndFirstParty(t *testing.T) {
	for _, c := range []struct {
		name   string
		client string
		skip   bool
	}{
		{"first party", "tutor-web", false},
		{"remembered third party", "buddy", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			hs := newHarness(t)
			id, _, cookie := hs.user(orytest.Identity{}, orytest.Session{})
			ch := hs.hydra.AddConsent(orytest.ConsentRequest{ClientID: c.client, Subject: id, Scopes: []string{"openid", "email"}, Skip: c.skip})
			if got := location(t, hs.get("/consent?consent_challenge="+ch, cookie)).String(); got != hs.hydra.ConsentVerifierURL(ch) {
				t.Fatalf("%s", got)
			}
			// Remembered, so prompt=none works; the claims are read anew.
			acc, _ := hs.hydra.ConsentAccepted(ch)
			if !acc.Remember || acc.Session.IDToken["email"] != "ada@example.org" {
				t.Fatalf("%+v", acc)
			}
		})
	}
}

func TestConsentBadChallenges(t *testing.T) {
	for _, c := range []struct{ name, method, target string }{
		{"page without challenge", http.MethodGet, "/consent"},
		{"page with unknown challenge", http.MethodGet, "/consent?consent_challenge=nope"},
		{"form without challenge", http.MethodPost, ""},
		{"form with unknown challenge", http.MethodPost, "nope"},
	} {
		t.Run(c.name, func(t *testing.T) {
			hs := newHarness(t)
			_, _, cookie := hs.user(orytest.Identity{}, orytest.Session{})
			var rec *httptest.ResponseRecorder
			if c.method == http.MethodGet {
				rec = hs.get(c.target, cookie)
			} else {
				rec = hs.post("/consent", cookie, url.Values{"consent_challenge": {c.target}, "decision": {"allow"}})
			}
			if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Header().Get("Content-Type"), "text/html") {
				t.Fatalf("%d %s", rec.Code, rec.Header().Get("Content-Type"))
			}
		})
	}
	t.Run("hydra down", func(t *testing.T) {
		hs := newHarness(t)
		hs.hydra.Fail(http.StatusServiceUnavailable)
		if rec := hs.get("/consent?consent_challenge=x", ""); rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("%d", rec.Code)
		}
	})
}

func TestConsentRefusesInactiveAccounts(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(k *orytest.Kratos, id string)
	}{
		{"deactivated", func(k *orytest.Kratos, id string) { k.SetInactive(id, true) }},
		{"deleted", func(k *orytest.Kratos, id string) { k.DeleteIdentity(id) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			hs := newHarness(t)
			id, _, cookie := hs.user(orytest.Identity{}, orytest.Session{})
			ch := hs.loginThenConsent("tutor-web", []string{"openid"}, cookie, id)
			c.change(hs.kratos, id)
			if got := location(t, hs.get("/consent?consent_challenge="+ch, cookie)).String(); got != hs.hydra.RejectedURL(ch) {
				t.Fatalf("%s", got)
			}
			if rej, _ := hs.hydra.ConsentRejected(ch); rej.Error != "access_denied" {
				t.Fatalf("%+v", rej)
			}
		})
	}
	t.Run("kratos down decides nothing", func(t *testing.T) {
		hs := newHarness(t)
		id, _, cookie := hs.user(orytest.Identity{}, orytest.Session{})
		ch := hs.loginThenConsent("tutor-web", []string{"openid"}, cookie, id)
		hs.kratos.FailOn("", http.StatusInternalServerError)
		if rec := hs.get("/consent?consent_challenge="+ch, cookie); rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("%d", rec.Code)
		}
		if _, rejected := hs.hydra.ConsentRejected(ch); rejected {
			t.Fatal("an outage must not deny the consent")
		}
	})
}
