package edge

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/learnplatform/platform/e2e/internal/e2etest"
)

var sessionRE = regexp.MustCompile(`data-session="([0-9a-f-]{36})"`)

// browserLogin signs a cookie-jar client in through the hosted login page.
func browserLogin(t *testing.T, email string) *e2etest.Client {
	t.Helper()
	c := e2etest.NewClient(t)
	at, page := c.Follow(strings.TrimSuffix(c.Base, "/")+"/login", "")
	if page == nil || !strings.Contains(at, "/login?flow=") {
		t.Fatalf("login page: %s", at)
	}
	if res := c.SubmitLoginForm(page, email, e2etest.StrongPassword, false); res.Status != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", res.Status)
	}
	return c
}

// The account security page: the user's own recent sign-ins and failures,
// sign-in methods, active sessions, and signing sessions out.
func TestAccountSecurityPage(t *testing.T) {
	_, email := newAccount(t, "security")
	login(t, e2etest.NewClient(t), email, wrongPassword) // a failure to see
	other := browserLogin(t, email)
	third := browserLogin(t, email)
	me := browserLogin(t, email)
	same := []string{"Accept", "text/html", "Origin", strings.TrimSuffix(me.Base, "/")}

	var page string
	for i := 0; i < 50; i++ { // the log is written asynchronously
		res := me.Do("GET", "/security", nil, "Accept", "text/html")
		if res.Status != 200 {
			t.Fatalf("security page: %d", res.Status)
		}
		page = string(res.Body)
		if strings.Count(page, `data-type="login.succeeded"`) >= 3 && strings.Contains(page, `data-type="login.failed"`) {
			break
		}
	}
	for _, want := range []string{`data-type="login.failed"`, "Failed sign-in (wrong password)", "Signed in", "127.0.0.1", "Password", "this browser", "Sign out everywhere else"} {
		if !strings.Contains(page, want) {
			t.Fatalf("the page lacks %q:\n%s", want, page)
		}
	}
	ids := sessionRE.FindAllStringSubmatch(page, -1)
	if len(ids) != 4 { // registration's own session and three browsers
		t.Fatalf("want 4 sessions listed, got %d", len(ids))
	}
	// Sign out one other session: the one the "other" browser holds.
	var s struct{ ID string }
	other.Do("GET", "/sessions/whoami", nil).JSON(t, &s)
	victim := s.ID
	if !strings.Contains(page, `data-session="`+victim+`"`) {
		t.Fatalf("session %s is not listed", victim)
	}
	if res := me.Do("POST", "/security/sessions/"+victim+"/end", url.Values{}, same...); res.Status != http.StatusSeeOther {
		t.Fatalf("end one session: %d %s", res.Status, res.Body)
	}
	if res := other.Do("GET", "/sessions/whoami", nil); res.Status != http.StatusUnauthorized {
		t.Fatalf("the ended session still works: %d", res.Status)
	}
	if res := third.Do("GET", "/sessions/whoami", nil); res.Status != 200 {
		t.Fatalf("ending one session ended another: %d", res.Status)
	}
	// A cross-site post is refused.
	if res := me.Do("POST", "/security/sessions/end-others", url.Values{}, "Accept", "text/html", "Origin", "https://evil.example.org"); res.Status != http.StatusForbidden {
		t.Fatalf("cross-site post: %d", res.Status)
	}
	if res := me.Do("POST", "/security/sessions/end-others", url.Values{}, same...); res.Status != http.StatusSeeOther {
		t.Fatalf("end others: %d", res.Status)
	}
	if res := third.Do("GET", "/sessions/whoami", nil); res.Status != http.StatusUnauthorized {
		t.Fatalf("sign out everywhere else left a session: %d", res.Status)
	}
	if res := me.Do("GET", "/sessions/whoami", nil); res.Status != 200 {
		t.Fatalf("sign out everywhere else ended this browser's session: %d", res.Status)
	}
}

// An unverified user signs in and sees /welcome with a banner and a form
// that sends a new code.
func TestWelcomeBannerForUnverified(t *testing.T) {
	_, email := newAccount(t, "unverified")
	c := browserLogin(t, email)
	res := c.Do("GET", "/welcome", nil, "Accept", "text/html")
	body := string(res.Body)
	if res.Status != 200 || !strings.Contains(body, "Please verify your email address") || !strings.Contains(body, "Resend verification code") ||
		!strings.Contains(body, `id="verified">no<`) || !strings.Contains(body, `value="`+email+`"`) {
		t.Fatalf("welcome for an unverified user: %d\n%s", res.Status, body)
	}
}
