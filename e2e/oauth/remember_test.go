package oauth

import (
	"net/http"

	"golang.org/x/oauth2"
	"net/url"
	"strings"
	"testing"

	"github.com/learnplatform/platform/e2e/internal/e2etest"
)

// "Keep me signed in" decides whether Kratos' session cookie outlives the
// browser session; Hydra's memory of the login must not outlive it.
func TestRememberMe(t *testing.T) {
	st := e2etest.Need(t)
	email := e2etest.UniqueEmail("remember")
	e2etest.VerifiedUser(t, email, e2etest.StrongPassword, "")
	rp := e2etest.NewOIDC(t, e2etest.TutorWeb, "", "")

	for _, remember := range []bool{false, true} {
		name := map[bool]string{false: "not ticked", true: "ticked"}[remember]
		t.Run(name, func(t *testing.T) {
			browser := e2etest.NewClient(t)
			at, page := browser.Follow(rp.Config.AuthCodeURL(e2etest.State(), pkceOnly()...), rp.Config.RedirectURL)
			if page == nil || !strings.Contains(at, "/login") {
				t.Fatalf("expected the login page at %s", at)
			}
			if !strings.Contains(string(page.Body), `name="remember"`) {
				t.Fatal("the login form has no keep-me-signed-in box")
			}
			res := browser.SubmitLoginForm(page, email, e2etest.StrongPassword, remember)
			var session *http.Cookie
			for _, c := range (&http.Response{Header: res.Header}).Cookies() {
				if c.Name == "ory_kratos_session" {
					session = c
				}
			}
			if session == nil {
				t.Fatalf("no session cookie after sign-in: %v", res.Header.Values("Set-Cookie"))
			}
			if persistent := !session.Expires.IsZero() || session.MaxAge > 0; persistent != remember {
				t.Fatalf("remember=%v but the session cookie is persistent=%v", remember, persistent)
			}
			base, _ := url.Parse(at)
			next, _ := url.Parse(res.Header.Get("Location"))
			at, page = browser.Follow(base.ResolveReference(next).String(), rp.Config.RedirectURL)
			if page != nil || mustQuery(t, at).Get("code") == "" {
				t.Fatalf("authorization did not finish: %s", at)
			}

			// The browser restarts: cookies without an expiry are gone.
			restarted := e2etest.NewClient(t)
			hydra, _ := url.Parse(st.URL("hydra"))
			var hydraCookies []*http.Cookie // persistent; one host holds every port's cookies here
			for _, c := range browser.HTTP.Jar.Cookies(hydra) {
				if strings.HasPrefix(c.Name, "ory_hydra") {
					hydraCookies = append(hydraCookies, c)
				}
			}
			if len(hydraCookies) == 0 {
				t.Fatal("Hydra did not remember the login (needed for silent sign-in)")
			}
			restarted.HTTP.Jar.SetCookies(hydra, hydraCookies)
			if remember {
				edge, _ := url.Parse(st.URL("identity"))
				restarted.HTTP.Jar.SetCookies(edge, []*http.Cookie{session})
			}
			_, asked := restarted.Authorize(rp.Config.AuthCodeURL(e2etest.State(), pkceOnly()...), rp.Config.RedirectURL, email, e2etest.StrongPassword)
			if asked == remember {
				t.Fatalf("remember=%v: after a browser restart credentials asked=%v", remember, asked)
			}
		})
	}
}

// prompt=none (the learner app's silent sign-in after a reload) succeeds
// while the Kratos session lives and answers login_required once it is gone.
func TestSilentSignIn(t *testing.T) {
	email := e2etest.UniqueEmail("silent")
	e2etest.VerifiedUser(t, email, e2etest.StrongPassword, "")
	rp := e2etest.NewOIDC(t, e2etest.TutorWeb, "", "")
	browser := e2etest.NewClient(t)
	if _, asked := browser.Authorize(rp.Config.AuthCodeURL(e2etest.State(), pkceOnly()...), rp.Config.RedirectURL, email, e2etest.StrongPassword); !asked {
		t.Fatal("first sign-in must ask")
	}
	silent := func() url.Values {
		opts := append(pkceOnly(), oauth2AuthParam("prompt", "none"))
		at, page := browser.Follow(rp.Config.AuthCodeURL(e2etest.State(), opts...), rp.Config.RedirectURL)
		if page != nil {
			t.Fatalf("prompt=none showed a page at %s", at)
		}
		return mustQuery(t, at)
	}
	if q := silent(); q.Get("code") == "" {
		t.Fatalf("silent sign-in with a live session: %v", q)
	}
	if res := browser.Do("GET", "/self-service/logout/browser", nil); res.Status == 200 {
		var out struct {
			LogoutURL string `json:"logout_url"`
		}
		res.JSON(t, &out)
		browser.Do("GET", out.LogoutURL, nil)
	}
	if q := silent(); q.Get("error") != "login_required" {
		t.Fatalf("silent sign-in without a Kratos session: %v", q)
	}
}

func oauth2AuthParam(k, v string) oauth2.AuthCodeOption { return oauth2.SetAuthURLParam(k, v) }
