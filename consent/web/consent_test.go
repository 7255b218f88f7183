package web

import (
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

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

var csrfRE = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// allow answers the consent page with Allow, as the browser does.
func (hs *harness) allow(ch, cookie string) {
	hs.t.Helper()
	page := hs.get("/consent?consent_challenge="+ch, cookie)
	if page.Code != http.StatusOK {
		hs.t.Fatalf("consent page: %d", page.Code)
	}
	m := csrfRE.FindStringSubmatch(page.Body.String())
	var double string
	for _, c := range page.Result().Cookies() {
		if c.Name == csrfCookie {
			double = c.Name + "=" + c.Value
		}
	}
	rec := hs.post("/consent", cookie+"; "+double, url.Values{"consent_challenge": {ch}, "csrf": {m[1]}, "decision": {"allow"}})
	if got := location(hs.t, rec).String(); got != hs.hydra.ConsentVerifierURL(ch) {
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
				hs.allow(ch, cookie)
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
	hs := newHarness(t)
	id, _, cookie := hs.user(orytest.Identity{}, orytest.Session{})
	ch := hs.loginThenConsent("buddy", []string{"openid"}, cookie, id)
	page := hs.get("/consent?consent_challenge="+ch, cookie)
	csrf := csrfRE.FindStringSubmatch(page.Body.String())[1]

	// Without the double-submit cookie: refused, nothing decided.
	if rec := hs.post("/consent", cookie, url.Values{"consent_challenge": {ch}, "csrf": {csrf}, "decision": {"allow"}}); rec.Code != http.StatusForbidden {
		t.Fatalf("no csrf cookie: %d", rec.Code)
	}
	rec := hs.post("/consent", cookie+"; "+csrfCookie+"="+csrf, url.Values{"consent_challenge": {ch}, "csrf": {csrf}, "decision": {"deny"}})
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
}

func TestConsentRefusesInactiveAccounts(t *testing.T) {
	hs := newHarness(t)
	id, _, cookie := hs.user(orytest.Identity{}, orytest.Session{})
	ch := hs.loginThenConsent("tutor-web", []string{"openid"}, cookie, id)
	hs.kratos.SetInactive(id, true)
	if got := location(t, hs.get("/consent?consent_challenge="+ch, cookie)).String(); got != hs.hydra.RejectedURL(ch) {
		t.Fatalf("%s", got)
	}
}
