package identity

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/learnplatform/platform/e2e/internal/e2etest"
)

const (
	submitPassword = `button[name="method"][value="password"]`
	submitCode     = `button[name="method"][value="code"]`
	fieldError     = `.field-msgs .msg-error`
)

// The learner's whole journey in headless Chromium: register (weak passwords
// refused rule by rule, strength meter live), verify by code from the mail,
// sign out, sign in, recover by code, set a new password, sign in with it.
func TestBrowserJourney(t *testing.T) {
	st := e2etest.Need(t)
	b := e2etest.NewBrowser(t)
	edge := strings.TrimSuffix(st.URL("identity"), "/")
	email := e2etest.UniqueEmail("browser")

	b.Do("open registration",
		chromedp.Navigate(edge+"/registration"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="traits.email"]`)),
	)
	b.Shot("registration-empty")

	// The strength meter marks rules as they are met.
	b.Do("type into the password", chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), "abc"))
	met := e2etest.Eval[int](b, `document.querySelectorAll('.rules li.met').length`)
	unmet := e2etest.Eval[int](b, `document.querySelectorAll('.rules li.unmet').length`)
	if met != 1 || unmet != 4 { // only "lower-case" is met by "abc"
		t.Fatalf("strength meter: %d met, %d unmet", met, unmet)
	}

	for _, w := range weakPasswords {
		b.Clear(`input[name="password"]`)
		b.Do("fill in "+w.rule,
			chromedp.SetValue(chromedp.CSS(`input[name="traits.email"]`), email),
			chromedp.SetValue(chromedp.CSS(`input[name="traits.name"]`), "Ada Lovelace"),
			chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), w.password),
		)
		b.Submit("submit "+w.rule, submitPassword, fieldError)
		ids := e2etest.Eval[[]string](b, `[...document.querySelectorAll('.field-msgs .msg-error')].map(e => e.dataset.id)`)
		if len(ids) != 1 || ids[0] != strconv.FormatInt(w.msgID, 10) {
			t.Fatalf("%s: want message %d, got %v", w.rule, w.msgID, ids)
		}
		invalid := e2etest.Get(b, "aria", chromedp.AttributeValue(chromedp.CSS(`input[name="password"]`), "aria-invalid"))
		if invalid.Value != "true" {
			t.Fatalf("%s: the password input is not marked invalid", w.rule)
		}
		if kept := b.Value(`input[name="traits.email"]`); kept != email {
			t.Fatalf("%s: the email typed was lost: %q", w.rule, kept)
		}
	}
	b.Shot("registration-errors")
	if ids := e2etest.AdminIdentities(t, email); len(ids) != 0 {
		t.Fatal("a refused registration stored an identity")
	}

	sent := time.Now()
	b.Clear(`input[name="password"]`)
	b.Do("register with a strong password",
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), e2etest.StrongPassword),
	)
	b.Submit("register with a strong password", submitPassword, `input[name="code"]`)
	if !strings.Contains(b.Location(), "/verification?flow=") {
		t.Fatalf("after registration: %s", b.Location())
	}
	b.Shot("verification-code")
	flowID := strings.TrimPrefix(b.Location()[strings.Index(b.Location(), "flow="):], "flow=")
	code := e2etest.MailCodeFor(t, email, "verify your email", sent, flowID)
	b.Do("enter the wrong code",
		chromedp.SendKeys(chromedp.CSS(`input[name="code"]`), "000000"),
	)
	b.Submit("enter the wrong code", submitCode, `.msg-error`)
	b.Shot("verification-errors")
	b.Clear(`input[name="code"]`)
	b.Do("enter the code",
		chromedp.SendKeys(chromedp.CSS(`input[name="code"]`), code),
	)
	b.Submit("enter the code", submitCode, `.notices .msg-success`)
	b.Do("welcome", chromedp.Navigate(edge+"/welcome"), chromedp.WaitVisible(chromedp.CSS(`#verified`)))
	if got := b.Text("#verified"); got != "yes" {
		t.Fatalf("verified: %q", got)
	}
	if got, role := b.Text("#email"), b.Text("#role"); got != email || role != "student" {
		t.Fatalf("welcome shows %q / %q", got, role)
	}
	b.Shot("welcome")

	signOut := func(step string) {
		b.Do(step,
			chromedp.Click(chromedp.CSS(`header form[action="/logout"] button`)),
			chromedp.WaitVisible(chromedp.CSS(`input[name="identifier"]`)),
		)
		if !strings.Contains(b.Location(), "/login") {
			t.Fatalf("%s landed on %s", step, b.Location())
		}
	}
	signIn := func(step, password string) {
		b.Do(step,
			chromedp.Navigate(edge+"/login"),
			chromedp.WaitVisible(chromedp.CSS(`input[name="identifier"]`)),
			chromedp.SendKeys(chromedp.CSS(`input[name="identifier"]`), email),
			chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), password),
			chromedp.Click(chromedp.CSS(submitPassword)),
			chromedp.WaitVisible(chromedp.CSS(`#email`)),
		)
	}
	signOut("sign out")
	b.Shot("login-empty")
	b.Do("wrong password",
		chromedp.SendKeys(chromedp.CSS(`input[name="identifier"]`), email),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), "Wrong-Password-1!"),
	)
	b.Submit("wrong password", submitPassword, `.notices .msg-error`)
	b.Shot("login-errors")
	signIn("sign in", e2etest.StrongPassword)
	signOut("sign out again")

	sent = time.Now()
	b.Do("request recovery",
		chromedp.Navigate(edge+"/recovery"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="email"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="email"]`), email),
	)
	b.Submit("request recovery", submitCode, `input[name="code"]`)
	b.Shot("recovery-code")
	code = e2etest.MailCode(t, email, "Recover access", sent)
	b.Do("enter the recovery code",
		chromedp.SendKeys(chromedp.CSS(`input[name="code"]`), code),
	)
	b.Submit("enter the recovery code", submitCode, `input[name="password"]`)
	if got := b.Text("h1"); got != "Choose a new password" || !strings.Contains(b.Location(), "/settings") {
		t.Fatalf("after recovery: %q at %s", got, b.Location())
	}
	if e2etest.Eval[int](b, `document.querySelectorAll('form.form-profile').length`) != 0 {
		t.Fatal("after recovery the page must ask for a new password first")
	}
	b.Shot("recovery-new-password")
	b.Do("a weak new password",
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), "alllowercase12!x"),
	)
	b.Submit("a weak new password", submitPassword, fieldError)
	b.Shot("recovery-new-password-errors")
	newPassword := "Recovered-Journey-8?"
	b.Clear(`input[name="password"]`)
	b.Do("a strong new password",
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), newPassword),
	)
	b.Submit("a strong new password", submitPassword, `.notices .msg-success`)
	b.Shot("settings-saved")
	signOut("sign out after recovery")
	signIn("sign in with the new password", newPassword)
}
