package edge

import (
	"bytes"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/learnplatform/platform/e2e/internal/e2etest"
)

// importedUser creates an identity the way the legacy migration does: a
// bcrypt hash imported as is, here of a password today's policy refuses.
func importedUser(t *testing.T, password string) string {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), 4)
	if err != nil {
		t.Fatal(err)
	}
	email := e2etest.UniqueEmail("imported")
	body, _ := json.Marshal(map[string]any{
		"schema_id":   "default",
		"traits":      map[string]any{"email": email},
		"credentials": map[string]any{"password": map[string]any{"config": map[string]any{"hashed_password": string(hash)}}},
	})
	res, err := http.Post(e2etest.Need(t).URL("kratos-admin")+"admin/identities", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("import: %s", res.Status)
	}
	return email
}

const legacyPassword = "letmein2020" // no upper case, no special character

// A password set before the policy signs in, then must be replaced before
// the browser goes on; the replacement must meet the policy.
func TestOutdatedPasswordMustBeChanged(t *testing.T) {
	email := importedUser(t, legacyPassword)
	c := e2etest.NewClient(t)
	base := strings.TrimSuffix(c.Base, "/")
	_, page := c.Follow(base+"/login", "")
	res := c.SubmitLoginForm(page, email, legacyPassword, false)
	if res.Header.Get("Location") != "/settings" {
		t.Fatalf("after signing in with an outdated password: %d -> %s", res.Status, res.Header.Get("Location"))
	}
	if r := c.Do("GET", "/welcome", nil, "Accept", "text/html"); r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/settings" {
		t.Fatalf("other pages must wait for the new password: %d %s", r.Status, r.Header.Get("Location"))
	}
	_, page = c.Follow(base+"/settings", "")
	body := string(page.Body)
	if !strings.Contains(body, "Choose a new password") || !strings.Contains(body, `data-id="4000962"`) || strings.Contains(body, "form-profile") {
		t.Fatalf("settings page for an outdated password:\n%s", body)
	}
	action, csrf := formOf(t, body)
	weak := c.Do("POST", action, url.Values{"csrf_token": {csrf}, "method": {"password"}, "password": {"stillweakpass1"}}, "Accept", "text/html")
	if weak.Status != http.StatusBadRequest {
		t.Fatalf("a weak replacement: %d", weak.Status)
	}
	action, csrf = formOf(t, string(weak.Body))
	done := c.Do("POST", action, url.Values{"csrf_token": {csrf}, "method": {"password"}, "password": {"Fresh-Strong-Pass-7!"}}, "Accept", "text/html")
	if done.Status != http.StatusSeeOther || !strings.HasSuffix(done.Header.Get("Location"), "/welcome") {
		t.Fatalf("after the new password the browser goes on: %d %s", done.Status, done.Header.Get("Location"))
	}
	if r := c.Do("GET", "/welcome", nil, "Accept", "text/html"); r.Status != http.StatusOK {
		t.Fatalf("welcome after the change: %d", r.Status)
	}
	if tok, _ := e2etest.NewClient(t).Login(email, "Fresh-Strong-Pass-7!"); tok == "" {
		t.Fatal("the new password does not sign in")
	}
}

func TestOutdatedPasswordNativeApp(t *testing.T) {
	email := importedUser(t, legacyPassword)
	c := e2etest.NewClient(t)
	f := c.NewAPIFlow("login")
	res := c.Do("POST", "/self-service/login?flow="+f.ID, map[string]any{"method": "password", "identifier": email, "password": legacyPassword})
	var out struct {
		SessionToken string           `json:"session_token"`
		Required     bool             `json:"password_change_required"`
		ContinueWith []map[string]any `json:"continue_with"`
	}
	res.JSON(t, &out)
	if res.Status != 200 || !out.Required || out.SessionToken == "" {
		t.Fatalf("native sign-in with an outdated password: %d %s", res.Status, res.Body)
	}
	var settingsID string
	for _, cw := range out.ContinueWith {
		if cw["action"] == "show_settings_ui" {
			fl, _ := cw["flow"].(map[string]any)
			settingsID, _ = fl["id"].(string)
		}
	}
	if settingsID == "" {
		t.Fatalf("no settings flow to continue with: %s", res.Body)
	}
	auth := []string{"X-Session-Token", out.SessionToken}
	if r := c.Do("POST", "/self-service/settings?flow="+settingsID, map[string]any{"method": "password", "password": "Native-Strong-Pass-3!"}, auth...); r.Status != 200 {
		t.Fatalf("set the new password: %d %s", r.Status, r.Body)
	}
	f = c.NewAPIFlow("login")
	again := c.Do("POST", "/self-service/login?flow="+f.ID, map[string]any{"method": "password", "identifier": email, "password": "Native-Strong-Pass-3!"})
	if again.Status != 200 || strings.Contains(string(again.Body), "password_change_required") {
		t.Fatalf("a policy-compliant password must sign in plainly: %d %s", again.Status, again.Body)
	}
}

// formOf reads the password form's action and CSRF token from a page.
func formOf(t *testing.T, page string) (action, csrf string) {
	t.Helper()
	a := regexpFind(`<form[^>]*class="card form-password"[^>]*action="([^"]+)"`, page)
	k := regexpFind(`name="csrf_token" value="([^"]*)"`, page)
	if a == "" || k == "" {
		t.Fatalf("no password form:\n%s", page)
	}
	return html.UnescapeString(a), html.UnescapeString(k)
}

func regexpFind(expr, s string) string {
	m := regexp.MustCompile(expr).FindStringSubmatch(s)
	if m == nil {
		return ""
	}
	return m[1]
}
