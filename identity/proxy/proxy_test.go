package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/learnplatform/platform/identity/internal/edgetest"
	"github.com/learnplatform/platform/identity/pages"
	fakeory "github.com/learnplatform/platform/kit/orytest"
)

// upstream stands in for Kratos where a test looks at what the proxy
// sends: it keeps each request and answers with answer.
type upstream struct {
	*httptest.Server
	mu     sync.Mutex
	got    []*http.Request
	bodies []string
	answer func(w http.ResponseWriter, r *http.Request)
}

func newUpstream(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) *upstream {
	u := &upstream{answer: answer}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.got, u.bodies = append(u.got, r), append(u.bodies, string(b))
		u.mu.Unlock()
		u.answer(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) last(t *testing.T) (*http.Request, string) {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.got) == 0 {
		t.Fatal("nothing reached the upstream")
	}
	return u.got[len(u.got)-1], u.bodies[len(u.bodies)-1]
}

func noContent(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }

// The proxy serves Kratos' public API under the edge's origin: the path
// cleaned, the Host kept, the client's address as the edge determined it
// (never the client's own X-Forwarded-For), the request id passed on.
func TestProxyForwards(t *testing.T) {
	up := newUpstream(t, noContent)
	e := newRigTo(t, up.URL)
	for _, path := range []string{"/sessions/whoami", "/.well-known/ory/webauthn.js", "/schemas/default", "/self-service/login/browser"} {
		if a := e.do("GET", path, ""); a.Status != http.StatusNoContent {
			t.Fatalf("%s: %d", path, a.Status)
		}
		if r, _ := up.last(t); r.URL.Path != path {
			t.Fatalf("%s arrived as %s", path, r.URL.Path)
		}
	}
	e.do("GET", "/self-service/../sessions/./whoami?x=1", "", "X-Forwarded-For", "6.6.6.6", "X-Request-Id", "req-42")
	r, _ := up.last(t)
	host := strings.TrimPrefix(e.URL, "http://")
	if r.URL.Path != "/sessions/whoami" || r.URL.RawQuery != "x=1" || r.Host != host {
		t.Fatalf("path %q query %q host %q", r.URL.Path, r.URL.RawQuery, r.Host)
	}
	for h, want := range map[string]string{"X-Forwarded-For": "127.0.0.1", "True-Client-Ip": "127.0.0.1", "X-Request-Id": "req-42"} {
		if got := r.Header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	if a := e.do("GET", "/admin/identities", ""); a.Status != http.StatusNotFound {
		t.Fatalf("Kratos' admin API through the edge: %d", a.Status)
	}
}

// Paths are cleaned before the checks: a dot segment does not dodge the
// password policy.
func TestCleanedPathsAreChecked(t *testing.T) {
	up := newUpstream(t, noContent)
	e := newRigTo(t, up.URL)
	a := e.do("POST", "/self-service/x/../registration?flow=gone", `{"method":"password","password":"weak"}`,
		"Content-Type", "application/json")
	if a.Status != http.StatusBadRequest || !strings.Contains(a.Body, "password_policy") {
		t.Fatalf("%d %s", a.Status, a.Body)
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	if len(up.got) != 0 {
		t.Fatal("the weak password reached Kratos")
	}
}

// An unreachable Kratos answers 503 (page or JSON), never 500; a body
// over the limit 413.
func TestKratosUnreachable(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	e := newRigTo(t, down.URL)
	a := e.do("GET", "/sessions/whoami", "", "Accept", "application/json")
	if code, _ := edgetest.ErrorCode(t, a); a.Status != http.StatusServiceUnavailable || code != "unavailable" || a.Header.Get("Retry-After") != "30" {
		t.Fatalf("%d %s", a.Status, a.Body)
	}
	a = e.do("GET", "/self-service/login/browser", "", "Accept", "text/html")
	if a.Status != http.StatusServiceUnavailable || !strings.Contains(a.Body, "Sign-in is unavailable right now") {
		t.Fatalf("browser: %d %s", a.Status, a.Body)
	}
	up := newUpstream(t, noContent)
	e = newRigTo(t, up.URL)
	a = e.do("POST", "/self-service/login/other", strings.Repeat("x", 5000), "Accept", "application/json")
	if a.Status != http.StatusRequestEntityTooLarge || !strings.Contains(a.Body, "too_large") {
		t.Fatalf("too large: %d %s", a.Status, a.Body)
	}
}

// Two Cookie headers are refused on every route before anything else: the
// edge and Kratos would read different cookies.
func TestSecondCookieHeaderRefused(t *testing.T) {
	up := newUpstream(t, noContent)
	e := newRigTo(t, up.URL)
	for _, path := range []string{"/sessions/whoami", "/login", "/welcome"} {
		a := e.do("GET", path, "", "Cookie", "a=1", "Cookie", "b=2", "Accept", "application/json")
		if code, _ := edgetest.ErrorCode(t, a); a.Status != http.StatusBadRequest || code != "duplicate_cookie_header" {
			t.Fatalf("%s: %d %s", path, a.Status, a.Body)
		}
	}
	if a := e.do("GET", "/sessions/whoami", "", "Cookie", "a=1; b=2"); a.Status != http.StatusNoContent {
		t.Fatalf("one header: %d", a.Status)
	}
}

// "Keep me signed in": the box is taken out of the post; unticked, the
// session cookie ends with the browser session; ticked, it stays as
// Kratos set it.
func TestRememberMe(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: fakeory.SessionCookie, Value: "tok", Path: "/", MaxAge: 86400, HttpOnly: true})
		http.SetCookie(w, &http.Cookie{Name: "other", Value: "1", MaxAge: 60})
		http.Redirect(w, r, "/welcome", http.StatusSeeOther)
	})
	e := newRigTo(t, up.URL)
	post := func(form url.Values) edgetest.Answer {
		return e.do("POST", "/self-service/login?flow="+fakeory.NewID(), form.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	}
	form := url.Values{"method": {"password"}, "identifier": {"eve@example.org"}, "password": {strongPassword}}
	a := post(form)
	if _, body := up.last(t); strings.Contains(body, "remember") {
		t.Fatalf("the box reached Kratos: %s", body)
	}
	session, other := cookies(a)
	if a.Status != http.StatusSeeOther || session == nil || session.MaxAge != 0 || !session.Expires.IsZero() || other == nil || other.MaxAge != 60 {
		t.Fatalf("unticked: %d %v", a.Status, a.Header["Set-Cookie"])
	}
	form.Set("remember", "true")
	a = post(form)
	if _, body := up.last(t); strings.Contains(body, "remember") {
		t.Fatalf("the box reached Kratos: %s", body)
	}
	if session, _ := cookies(a); session == nil || session.MaxAge != 86400 {
		t.Fatalf("ticked: %v", a.Header["Set-Cookie"])
	}
}

func cookies(a edgetest.Answer) (session, other *http.Cookie) {
	res := http.Response{Header: a.Header}
	for _, c := range res.Cookies() {
		switch c.Name {
		case fakeory.SessionCookie:
			session = c
		case "other":
			other = c
		}
	}
	return session, other
}

// A sign-in whose password falls short of the current policy succeeds,
// then a browser is sent to choose a new one (its destination kept) and a
// native app is told so with a settings flow.
func TestStalePasswordAtSignIn(t *testing.T) {
	e := newRig(t)
	const old = "legacy-password"
	e.kratos.AddIdentity(fakeory.Identity{Email: "fay@example.org", Password: old})
	t.Run("browser", func(t *testing.T) {
		f := e.kratos.NewLoginFlow("browser")
		form := url.Values{"method": {"password"}, "identifier": {"fay@example.org"}, "password": {old}, "csrf_token": {f.CSRFToken}}
		a := e.do("POST", "/self-service/login?flow="+f.ID, form.Encode(), "Content-Type", "application/x-www-form-urlencoded", "Cookie", f.Cookie)
		if a.Status != http.StatusSeeOther || a.Header.Get("Location") != "/settings" {
			t.Fatalf("%d %q", a.Status, a.Header.Get("Location"))
		}
		res := http.Response{Header: a.Header}
		var next string
		for _, c := range res.Cookies() {
			if c.Name == pages.ChangePasswordCookie {
				next, _ = url.QueryUnescape(c.Value)
			}
		}
		if next != "/welcome" {
			t.Fatalf("destination kept: %q", next)
		}
	})
	t.Run("native app", func(t *testing.T) {
		f := e.kratos.NewLoginFlow("api")
		a := e.do("POST", "/self-service/login?flow="+f.ID, `{"method":"password","identifier":"fay@example.org","password":"`+old+`"}`,
			"Content-Type", "application/json")
		if a.Status != http.StatusOK || !strings.Contains(a.Body, `"password_change_required":true`) ||
			!strings.Contains(a.Body, `"action":"show_settings_ui"`) || !strings.Contains(a.Body, e.URL+"/settings?flow=") {
			t.Fatalf("%d %s", a.Status, a.Body)
		}
	})
	t.Run("a password that meets the policy signs in as usual", func(t *testing.T) {
		e.kratos.AddIdentity(fakeory.Identity{Email: "gus@example.org", Password: strongPassword})
		f := e.kratos.NewLoginFlow("api")
		a := e.do("POST", "/self-service/login?flow="+f.ID, `{"method":"password","identifier":"gus@example.org","password":"`+strongPassword+`"}`,
			"Content-Type", "application/json")
		if a.Status != http.StatusOK || strings.Contains(a.Body, "password_change_required") {
			t.Fatalf("%d %s", a.Status, a.Body)
		}
	})
}
