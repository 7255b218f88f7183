package social

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/learnplatform/platform/e2e/internal/e2etest"
)

// In headless Chromium: the hosted login page shows one social button per
// configured provider, labelled with the provider's label, in the social
// row; clicking one signs in through the provider and lands on the welcome
// page with the mapped name and the verified email; settings then offer to
// link the other provider.
func TestSocialButtonsInBrowser(t *testing.T) {
	st := e2etest.Need(t)
	b := e2etest.NewBrowser(t)
	edge := strings.TrimSuffix(st.URL("identity"), "/")

	b.Do("open the login page",
		chromedp.Navigate(edge+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`form.form-oidc .actions.social button[name="provider"]`)),
	)
	b.Shot("login-with-social")
	buttons := e2etest.Eval[[]string](b,
		`[...document.querySelectorAll('button[name="provider"]')].map(e => e.value + '=' + e.textContent.trim() + (e.closest('.actions.social') ? '' : ' (outside the social row)'))`)
	want := []string{viaGoogle + "=Sign in with " + labels[viaGoogle], viaGitHub + "=Sign in with " + labels[viaGitHub]}
	if strings.Join(buttons, "|") != strings.Join(want, "|") {
		t.Fatalf("social buttons %q, want %q (only the configured providers)", buttons, want)
	}
	if title := b.Text("form.form-oidc h2"); title != "Or continue with" {
		t.Fatalf("social form title %q", title)
	}

	u := newUser(true)
	idp.SetUser(u)
	b.Submit("sign in with "+labels[viaGoogle], `button[name="provider"][value="`+viaGoogle+`"]`, "#email")
	if !strings.HasSuffix(b.Location(), "/welcome") {
		t.Fatalf("after social sign-in: %s", b.Location())
	}
	if email, name, verified := b.Text("#email"), b.Text("#name"), b.Text("#verified"); email != u.Email || name != u.Name || verified != "yes" {
		t.Fatalf("welcome shows %q, %q, verified %q", email, name, verified)
	}
	b.Shot("welcome-after-social")

	// Settings: the linked-methods card offers the other provider; the
	// account's only way in is not offered for unlinking.
	b.Do("open settings",
		chromedp.Navigate(edge+"/settings"),
		chromedp.WaitVisible(chromedp.CSS(`form.form-oidc .actions.social button`)),
	)
	b.Shot("settings-after-social")
	if title := b.Text("form.form-oidc h2"); title != "Linked sign-in methods" {
		t.Fatalf("settings oidc form title %q", title)
	}
	buttons = e2etest.Eval[[]string](b,
		`[...document.querySelectorAll('form.form-oidc button')].map(e => e.name + '=' + e.value + '=' + e.textContent.trim())`)
	if want := []string{"link=" + viaGitHub + "=Link " + labels[viaGitHub]}; strings.Join(buttons, "|") != strings.Join(want, "|") {
		t.Fatalf("settings social buttons %q, want %q", buttons, want)
	}
}
