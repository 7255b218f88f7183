package pages

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	fakeory "github.com/learnplatform/platform/kit/orytest"
)

// Without a flow id a page starts a browser flow at Kratos, passing on an
// allowed return_to and the parameters Kratos knows; any other return_to
// is refused.
func TestFlowPageStartsAFlow(t *testing.T) {
	e := newRig(t)
	for path, want := range map[string]string{
		"/login":        "/self-service/login/browser",
		"/registration": "/self-service/registration/browser",
		"/login?return_to=" + url.QueryEscape("http://127.0.0.1:8080/courses") + "&refresh=true&junk=1": "/self-service/login/browser?refresh=true&return_to=" +
			url.QueryEscape("http://127.0.0.1:8080/courses"),
		"/recovery?return_to=/welcome": "/self-service/recovery/browser?return_to=" + url.QueryEscape(e.URL+"/welcome"),
	} {
		a := e.do("GET", path, "")
		if a.Status != http.StatusSeeOther || a.Header.Get("Location") != want {
			t.Errorf("%s: %d %q, want %q", path, a.Status, a.Header.Get("Location"), want)
		}
	}
	for _, bad := range []string{"https://evil.example.org/", "//evil.example.org/", "/\\evil.example.org"} {
		a := e.do("GET", "/login?return_to="+url.QueryEscape(bad), "", "Accept", "text/html")
		contains(t, a, http.StatusBadRequest, "That return address is not allowed.")
	}
	a := e.do("GET", "/login?return_to=https://evil.example.org/", "", "Accept", "application/json")
	contains(t, a, http.StatusBadRequest, `"code":"bad_return_to"`)
}

// A login flow renders with the identifier and the CSRF token; the page
// forbids framing and caching.
func TestLoginPage(t *testing.T) {
	e := newRig(t)
	f := e.kratos.NewLoginFlow("browser")
	a := e.do("GET", "/login?flow="+f.ID, "", "Cookie", f.Cookie)
	contains(t, a, http.StatusOK, "<title>Sign in", `name="identifier"`, `name="csrf_token" value="`+f.CSRFToken+`"`,
		`autocomplete="current-password"`, `href="/recovery"`)
	if strings.Contains(a.Body, "data-strength") {
		t.Fatal("a sign-in password shows the new-password rules")
	}
	for h, want := range map[string]string{"X-Frame-Options": "DENY", "Cache-Control": "no-store"} {
		if a.Header.Get(h) != want {
			t.Errorf("%s: %q", h, a.Header.Get(h))
		}
	}
	if !strings.Contains(a.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("CSP %q", a.Header.Get("Content-Security-Policy"))
	}
}

// New-password inputs show the policy's rules and load the strength meter.
func TestRegistrationPageShowsPasswordRules(t *testing.T) {
	e := newRig(t)
	f := e.self.NewRegistrationFlow("browser")
	a := e.do("GET", "/registration?flow="+f.ID, "", "Cookie", f.Cookie)
	contains(t, a, http.StatusOK, "Create your account", `data-strength="f-password-password-rules"`,
		`<li data-rule="min_length">At least 12 characters</li>`, `<li data-rule="special">`, `src="/static/strength.js"`,
		`autocomplete="new-password"`)
}

// A flow that is gone (unknown, another browser's, a native app's) is
// started anew for this browser with a notice, and Kratos' CSRF cookie is
// passed on.
func TestGoneFlowRestarts(t *testing.T) {
	e := newRig(t)
	for name, path := range map[string]string{
		"unknown":           "/login?flow=" + fakeory.NewID(),
		"malformed":         "/login?flow=x",
		"a native app's":    "/login?flow=" + e.kratos.NewLoginFlow("api").ID,
		"another browser's": "/login?flow=" + e.kratos.NewLoginFlow("browser").ID,
	} {
		t.Run(name, func(t *testing.T) {
			a := e.do("GET", path, "")
			contains(t, a, http.StatusOK, `data-id="4000950"`, "here is a new one", `name="identifier"`)
			if !strings.Contains(a.Header.Get("Set-Cookie"), fakeory.CSRFCookie+"=") {
				t.Fatalf("no CSRF cookie: %v", a.Header)
			}
		})
	}
	t.Run("registration while signed in goes to the account", func(t *testing.T) {
		_, s := e.user()
		a := e.do("GET", "/registration?flow="+fakeory.NewID(), "", "Cookie", s.Cookie())
		if a.Status != http.StatusSeeOther || a.Header.Get("Location") != "/welcome" {
			t.Fatalf("%d %q", a.Status, a.Header.Get("Location"))
		}
	})
	t.Run("settings without a session leads to sign-in", func(t *testing.T) {
		a := e.do("GET", "/settings?flow="+fakeory.NewID(), "")
		if a.Status != http.StatusSeeOther || a.Header.Get("Location") != "/login?return_to="+url.QueryEscape(e.URL+"/settings") {
			t.Fatalf("%d %q", a.Status, a.Header.Get("Location"))
		}
	})
}

// Kratos down: 503 with Retry-After, a page or JSON, never a 500.
func TestKratosDown(t *testing.T) {
	e := newRig(t)
	e.kratos.FailOn("GET /self-service/login", http.StatusBadGateway)
	a := e.do("GET", "/login?flow="+fakeory.NewID(), "", "Accept", "text/html")
	contains(t, a, http.StatusServiceUnavailable, "Sign-in is unavailable right now")
	if a.Header.Get("Retry-After") != "30" {
		t.Fatalf("Retry-After %q", a.Header.Get("Retry-After"))
	}
	a = e.do("GET", "/login?flow="+fakeory.NewID(), "", "Accept", "application/json")
	contains(t, a, http.StatusServiceUnavailable, `"code":"unavailable"`)
}

// A browser whose password falls short of the policy (the proxy set the
// cookie at sign-in) sees only the password form, with the reason, and
// every other page sends it there.
func TestOutdatedPasswordAsksForANewOne(t *testing.T) {
	e := newRig(t)
	id, s := e.user()
	flow := e.kratos.AddSettingsFlow(id, "browser")
	cookie := s.Cookie() + "; " + ChangePasswordCookie + "=" + url.QueryEscape(e.URL+"/welcome")
	a := e.do("GET", "/settings?flow="+flow, "", "Cookie", cookie)
	contains(t, a, http.StatusOK, "Choose a new password", `data-id="4000962"`)
	if strings.Contains(a.Body, "Account security") {
		t.Fatal("the page offers other links")
	}
	if a := e.do("GET", "/welcome", "", "Cookie", cookie); a.Status != http.StatusSeeOther || a.Header.Get("Location") != "/settings" {
		t.Fatalf("welcome: %d %q", a.Status, a.Header.Get("Location"))
	}
	a = e.do("GET", "/settings?flow="+flow, "", "Cookie", s.Cookie())
	contains(t, a, http.StatusOK, "Account settings", "Account security")
}

func TestWelcome(t *testing.T) {
	e := newRig(t)
	a := e.do("GET", "/welcome", "")
	if a.Status != http.StatusSeeOther || a.Header.Get("Location") != "/login?return_to="+url.QueryEscape(e.URL+"/welcome") {
		t.Fatalf("signed out: %d %q", a.Status, a.Header.Get("Location"))
	}
	id, s := e.user()
	i, _ := e.kratos.Identity(id)
	contains(t, e.do("GET", "/welcome", "", "Cookie", s.Cookie()), http.StatusOK, "Your account", i.Email, `action="/logout"`)
	if a := e.do("GET", "/", ""); a.Status != http.StatusSeeOther || a.Header.Get("Location") != "/welcome" {
		t.Fatalf("/: %d %q", a.Status, a.Header.Get("Location"))
	}
}

func TestErrorPage(t *testing.T) {
	e := newRig(t)
	contains(t, e.do("GET", "/error", "", "Accept", "text/html"), http.StatusNotFound, "There is no error to show.")
	contains(t, e.do("GET", "/error?id="+fakeory.NewID(), "", "Accept", "text/html"), http.StatusNotFound, "unknown or has expired")
	csrf := e.self.AddError("security_csrf_violation", http.StatusForbidden, "The request was rejected.")
	contains(t, e.do("GET", "/error?id="+csrf, ""), http.StatusForbidden, "no longer valid")
	odd := e.self.AddError("", 200, "Something odd.")
	contains(t, e.do("GET", "/error?id="+odd, ""), http.StatusBadRequest, "Something odd.")
}

// Sign-out is a same-origin POST only; it sends the browser to Kratos'
// sign-out URL.
func TestLogout(t *testing.T) {
	e := newRig(t)
	_, s := e.user()
	contains(t, e.do("GET", "/logout", "", "Cookie", s.Cookie()), http.StatusOK, "Sign out")
	if a := e.do("GET", "/logout", ""); a.Status != http.StatusSeeOther || a.Header.Get("Location") != "/login" {
		t.Fatalf("confirm signed out: %d %q", a.Status, a.Header.Get("Location"))
	}
	for name, headers := range map[string][]string{
		"another site":      {"Origin", "https://evil.example.org"},
		"no origin":         {},
		"cross-site fetch":  {"Sec-Fetch-Site", "cross-site", "Origin", e.URL},
		"a look-alike host": {"Referer", "http://" + strings.TrimPrefix(e.URL, "http://") + ".evil.example.org/"},
	} {
		a := e.do("POST", "/logout", "", append([]string{"Cookie", s.Cookie(), "Accept", "text/html"}, headers...)...)
		if a.Status != http.StatusForbidden {
			t.Errorf("%s: %d", name, a.Status)
		}
	}
	if !e.kratos.Active(s.ID) {
		t.Fatal("a refused sign-out ended the session")
	}
	a := e.browserPost("/logout", s)
	if a.Status != http.StatusSeeOther || !strings.HasPrefix(a.Header.Get("Location"), e.self.URL+"/self-service/logout?token=") {
		t.Fatalf("%d %q", a.Status, a.Header.Get("Location"))
	}
	a = e.do("POST", "/logout", "", "Sec-Fetch-Site", "same-origin")
	if a.Status != http.StatusSeeOther || a.Header.Get("Location") != "/login" {
		t.Fatalf("signed out already: %d %q", a.Status, a.Header.Get("Location"))
	}
}

func TestStaticFilesAreCached(t *testing.T) {
	e := newRig(t)
	a := e.do("GET", "/static/strength.js", "")
	if a.Status != http.StatusOK || a.Header.Get("Cache-Control") != "public, max-age=3600" {
		t.Fatalf("%d %v", a.Status, a.Header)
	}
}
