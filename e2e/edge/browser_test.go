package edge

import (
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/learnplatform/platform/e2e/internal/e2etest"
)

// In a browser: five wrong passwords, the lock message with minutes, an
// admin clears the lock through the API, and signing in works.
func TestBrowserLockout(t *testing.T) {
	st := e2etest.Need(t)
	_, email := newAccount(t, "browser-lock")
	b := e2etest.NewBrowser(t)
	edge := strings.TrimSuffix(st.URL("identity"), "/")
	try := func(step, password, then string) {
		b.Do(step,
			chromedp.Navigate(edge+"/login"),
			chromedp.WaitVisible(chromedp.CSS(`input[name="identifier"]`)),
			chromedp.SendKeys(chromedp.CSS(`input[name="identifier"]`), email),
			chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), password),
		)
		b.Submit(step, `button[name="method"][value="password"]`, then)
	}
	for i := 0; i < 5; i++ {
		try("wrong password", wrongPassword, `.notices .msg-error`)
	}
	b.Shot("after-five-failures")
	try("right password while locked", e2etest.StrongPassword, `.notices .msg-error[data-id="4000960"]`)
	if msg := b.Text(`.notices .msg-error[data-id="4000960"]`); !strings.HasPrefix(msg, "Account temporarily locked. Try again in ") || msg != "Account temporarily locked. Try again in 1 minute." {
		t.Fatalf("lock message: %q", msg)
	}
	b.Shot("locked")
	if res := api(t, "DELETE", "/admin/lockouts/"+url.PathEscape(email), admin(t), nil); res.Status != 204 {
		t.Fatalf("admin clear: %d %s", res.Status, res.Body)
	}
	try("sign in after the admin cleared the lock", e2etest.StrongPassword, `#email`)
	if got := b.Text("#email"); got != email {
		t.Fatalf("signed in as %q", got)
	}
}
