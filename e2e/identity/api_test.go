// Package identity tests the hosted login and the identity edge against the
// real stack: Kratos' API flows through the edge (no browser) and, in
// browser_test.go, the pages in headless Chromium.
package identity

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/learnplatform/platform/e2e/internal/e2etest"
)

func TestMain(m *testing.M) { e2etest.Main(m) }

// The acceptance passwords and the one rule each breaks.
var weakPasswords = []struct {
	password string
	msgID    int64
	rule     string
}{
	{"Password1!", 4000901, "min_length"},
	{"alllowercase12!x", 4000903, "upper"},
	{"ALLUPPERCASE12!X", 4000904, "lower"},
	{"NoDigitsHere!!xx", 4000905, "digit"},
	{"NoSpecial12xxAB", 4000906, "special"},
}

func TestRegistrationPolicyAPIFlow(t *testing.T) {
	c := e2etest.NewClient(t)
	email := e2etest.UniqueEmail("reg-api")
	f := c.NewAPIFlow("registration")
	for _, w := range weakPasswords {
		t.Run(w.rule, func(t *testing.T) {
			res := c.Do("POST", "/self-service/registration?flow="+f.ID, map[string]any{
				"method": "password", "password": w.password,
				"traits": map[string]any{"email": email, "name": "Ada"},
			})
			if res.Status != http.StatusBadRequest {
				t.Fatalf("status %d: %s", res.Status, res.Body)
			}
			var got e2etest.Flow
			res.JSON(t, &got)
			msgs := got.NodeMessages("password")
			if len(msgs) != 1 || msgs[0].ID != w.msgID || msgs[0].Type != "error" {
				t.Fatalf("want exactly message %d, got %+v", w.msgID, msgs)
			}
			if got.ID != f.ID || got.NodeValue("traits.email") != email || got.NodeValue("traits.name") != "Ada" {
				t.Fatalf("the flow must come back with what was typed: id %s, email %v", got.ID, got.NodeValue("traits.email"))
			}
			if got.NodeValue("password") != nil {
				t.Fatal("the password must never be echoed")
			}
		})
	}
	t.Run("several rules at once", func(t *testing.T) {
		res := c.Do("POST", "/self-service/registration?flow="+f.ID, map[string]any{
			"method": "password", "password": "short", "traits": map[string]any{"email": email},
		})
		var got e2etest.Flow
		res.JSON(t, &got)
		if len(got.NodeMessages("password")) != 4 { // length, upper, digit, special
			t.Fatalf("want one message per unmet rule, got %+v", got.NodeMessages("password"))
		}
	})
	if ids := e2etest.AdminIdentities(t, email); len(ids) != 0 {
		t.Fatalf("refused registrations stored an identity: %v", ids)
	}
	before := time.Now()
	if token := c.Register(email, e2etest.StrongPassword, "Ada"); token == "" {
		t.Fatal("no session token")
	}
	if ids := e2etest.AdminIdentities(t, email); len(ids) != 1 {
		t.Fatalf("want one identity, got %d", len(ids))
	}
	e2etest.MailCode(t, email, "verify your email", before)
}

func TestSettingsPolicyAndPasswordChange(t *testing.T) {
	c := e2etest.NewClient(t)
	email := e2etest.UniqueEmail("settings-api")
	token := c.Register(email, e2etest.StrongPassword, "Grace")
	auth := []string{"X-Session-Token", token}
	f := c.NewAPIFlow("settings", auth...)
	for _, w := range weakPasswords {
		res := c.Do("POST", "/self-service/settings?flow="+f.ID, map[string]any{"method": "password", "password": w.password}, auth...)
		if res.Status != http.StatusBadRequest {
			t.Fatalf("%s: status %d: %s", w.rule, res.Status, res.Body)
		}
		var got e2etest.Flow
		res.JSON(t, &got)
		if msgs := got.NodeMessages("password"); len(msgs) != 1 || msgs[0].ID != w.msgID {
			t.Fatalf("%s: got %+v", w.rule, msgs)
		}
	}
	if tok, _ := c.Login(email, e2etest.StrongPassword); tok == "" {
		t.Fatal("a refused change must leave the old password working")
	}
	newPassword := "Another-Strong-77?"
	res := c.Do("POST", "/self-service/settings?flow="+f.ID, map[string]any{"method": "password", "password": newPassword}, auth...)
	if res.Status != http.StatusOK {
		t.Fatalf("strong password refused: %d %s", res.Status, res.Body)
	}
	if tok, _ := c.Login(email, newPassword); tok == "" {
		t.Fatal("new password does not sign in")
	}
	if tok, _ := c.Login(email, e2etest.StrongPassword); tok != "" {
		t.Fatal("old password still signs in")
	}
	// Changing the name goes straight through (no password involved).
	f = c.NewAPIFlow("settings", auth...)
	res = c.Do("POST", "/self-service/settings?flow="+f.ID, map[string]any{
		"method": "profile", "traits": map[string]any{"email": email, "name": "Grace H."},
	}, auth...)
	if res.Status != http.StatusOK || !strings.Contains(string(res.Body), "Grace H.") {
		t.Fatalf("profile change: %d %s", res.Status, res.Body)
	}
}

func TestVerificationByCodeAPIFlow(t *testing.T) {
	c := e2etest.NewClient(t)
	email := e2etest.UniqueEmail("verify-api")
	token := c.Register(email, e2etest.StrongPassword, "")
	if verified(t, c, token) {
		t.Fatal("a new address must start unverified")
	}
	f := c.NewAPIFlow("verification")
	since := time.Now()
	res := c.Do("POST", "/self-service/verification?flow="+f.ID, map[string]any{"method": "code", "email": email})
	if res.Status != 200 {
		t.Fatalf("send code: %d %s", res.Status, res.Body)
	}
	code := e2etest.MailCodeFor(t, email, "verify your email", since, f.ID)
	res = c.Do("POST", "/self-service/verification?flow="+f.ID, map[string]any{"method": "code", "code": "000000"})
	var bad e2etest.Flow
	res.JSON(t, &bad)
	if bad.State == "passed_challenge" {
		t.Fatal("a wrong code verified the address")
	}
	res = c.Do("POST", "/self-service/verification?flow="+f.ID, map[string]any{"method": "code", "code": code})
	var done e2etest.Flow
	res.JSON(t, &done)
	if res.Status != 200 || done.State != "passed_challenge" {
		t.Fatalf("verify: %d state %q %s", res.Status, done.State, res.Body)
	}
	if !verified(t, c, token) {
		t.Fatal("address not verified after the code")
	}
}

func verified(t *testing.T, c *e2etest.Client, token string) bool {
	t.Helper()
	res := c.Do("GET", "/sessions/whoami", nil, "X-Session-Token", token)
	var s struct {
		Identity struct {
			VerifiableAddresses []struct {
				Verified bool `json:"verified"`
			} `json:"verifiable_addresses"`
		} `json:"identity"`
	}
	res.JSON(t, &s)
	if len(s.Identity.VerifiableAddresses) != 1 {
		t.Fatalf("whoami: %s", res.Body)
	}
	return s.Identity.VerifiableAddresses[0].Verified
}

func TestRecoveryByCodeAPIFlow(t *testing.T) {
	c := e2etest.NewClient(t)
	email := e2etest.UniqueEmail("recover-api")
	c.Register(email, e2etest.StrongPassword, "")
	f := c.NewAPIFlow("recovery")
	if life := f.ExpiresAt.Sub(f.IssuedAt); life < 59*time.Minute || life > 61*time.Minute {
		t.Fatalf("recovery flow lifespan %s, want 1h", life)
	}
	since := time.Now()
	res := c.Do("POST", "/self-service/recovery?flow="+f.ID, map[string]any{"method": "code", "email": email})
	if res.Status != 200 {
		t.Fatalf("request code: %d %s", res.Status, res.Body)
	}
	code := e2etest.MailCode(t, email, "Recover access", since)
	res = c.Do("POST", "/self-service/recovery?flow="+f.ID, map[string]any{"method": "code", "code": code})
	var done e2etest.Flow
	res.JSON(t, &done)
	token, settingsID := "", ""
	for _, cw := range done.ContinueWith {
		switch cw["action"] {
		case "set_ory_session_token":
			token, _ = cw["ory_session_token"].(string)
		case "show_settings_ui":
			flow, _ := cw["flow"].(map[string]any)
			settingsID, _ = flow["id"].(string)
		}
	}
	if token == "" || settingsID == "" {
		t.Fatalf("recovery did not continue to settings with a session: %d %s", res.Status, res.Body)
	}
	auth := []string{"X-Session-Token", token}
	res = c.Do("POST", "/self-service/settings?flow="+settingsID, map[string]any{"method": "password", "password": "weakpassword"}, auth...)
	if res.Status != http.StatusBadRequest {
		t.Fatalf("the password set after recovery must meet the policy: %d %s", res.Status, res.Body)
	}
	newPassword := "Recovered-Pass-9!"
	res = c.Do("POST", "/self-service/settings?flow="+settingsID, map[string]any{"method": "password", "password": newPassword}, auth...)
	if res.Status != 200 {
		t.Fatalf("set new password: %d %s", res.Status, res.Body)
	}
	if tok, _ := c.Login(email, newPassword); tok == "" {
		t.Fatal("the new password does not sign in")
	}
}

// Other sessions end when the password changes (Kratos'
// revoke_active_sessions hook on settings).
func TestPasswordChangeRevokesOtherSessions(t *testing.T) {
	c := e2etest.NewClient(t)
	email := e2etest.UniqueEmail("revoke")
	c.Register(email, e2etest.StrongPassword, "")
	other, _ := c.Login(email, e2etest.StrongPassword)
	current, _ := c.Login(email, e2etest.StrongPassword)
	auth := []string{"X-Session-Token", current}
	f := c.NewAPIFlow("settings", auth...)
	if res := c.Do("POST", "/self-service/settings?flow="+f.ID, map[string]any{"method": "password", "password": "Brand-New-Pass-5!"}, auth...); res.Status != 200 {
		t.Fatalf("change: %d %s", res.Status, res.Body)
	}
	if res := c.Do("GET", "/sessions/whoami", nil, "X-Session-Token", other); res.Status != http.StatusUnauthorized {
		t.Fatalf("the other session survived the password change: %d", res.Status)
	}
	if res := c.Do("GET", "/sessions/whoami", nil, "X-Session-Token", current); res.Status != 200 {
		t.Fatalf("the session that changed the password ended: %d", res.Status)
	}
}

func TestBadInputThroughTheEdge(t *testing.T) {
	c := e2etest.NewClient(t)
	f := c.NewAPIFlow("registration")
	action := "/self-service/registration?flow=" + f.ID
	huge := `{"method":"password","password":"` + strings.Repeat("A", 200<<10) + `"}`
	cases := []struct {
		name   string
		body   any
		ct     string
		status int
		code   string
	}{
		{"malformed JSON", `{"method":`, "application/json", 400, "bad_json"},
		{"JSON array", `[1,2]`, "application/json", 400, "bad_json"},
		{"two JSON values", `{"method":"password"} {}`, "application/json", 400, "bad_json"},
		{"password not a string", `{"method":"password","password":12}`, "application/json", 400, "bad_request"},
		{"oversized", huge, "application/json", 413, "too_large"},
		{"not UTF-8", "method=password&password=\xff\xfe", "application/x-www-form-urlencoded", 400, "bad_encoding"},
		{"bad form escape", "method=password&password=%zz", "application/x-www-form-urlencoded", 400, "bad_form"},
		{"repeated password", "method=password&password=Correct-Horse-42!x&password=a", "application/x-www-form-urlencoded", 400, "bad_form"},
		{"multipart", "--x\r\n", "multipart/form-data; boundary=x", 415, "unsupported_media_type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := c.Do("POST", action, tc.body, "Content-Type", tc.ct)
			var e struct {
				Error struct{ Code string } `json:"error"`
			}
			res.JSON(t, &e)
			if res.Status != tc.status || e.Error.Code != tc.code {
				t.Fatalf("got %d %s, want %d %s", res.Status, res.Body, tc.status, tc.code)
			}
		})
	}
	t.Run("path tricks are still checked", func(t *testing.T) {
		email := e2etest.UniqueEmail("tricks")
		for _, p := range []string{"/self-service//registration", "/self-service/./registration", "/self-service/x/../registration", "/Self-Service/Registration"} {
			res := c.Do("POST", p+"?flow="+f.ID, map[string]any{"method": "password", "password": "weak", "traits": map[string]any{"email": email}})
			if res.Status != http.StatusBadRequest && res.Status != http.StatusNotFound {
				t.Fatalf("%s: %d %s", p, res.Status, res.Body)
			}
		}
		if ids := e2etest.AdminIdentities(t, email); len(ids) != 0 {
			t.Fatal("a weak password got through a path variant")
		}
	})
	t.Run("open redirects refused", func(t *testing.T) {
		for _, rt := range []string{"https://evil.example.org/", "//evil.example.org", "javascript:alert(1)"} {
			res := c.Do("GET", "/login?return_to="+url.QueryEscape(rt), nil, "Accept", "text/html")
			if res.Status != http.StatusBadRequest {
				t.Fatalf("return_to %s: %d", rt, res.Status)
			}
		}
		res := c.Do("GET", "/login?return_to="+url.QueryEscape(e2etest.Need(t).URL("tutor")), nil, "Accept", "text/html")
		if res.Status != http.StatusSeeOther {
			t.Fatalf("the tutor is an allowed return address: %d", res.Status)
		}
	})
	t.Run("unknown and malformed flow ids restart the flow", func(t *testing.T) {
		for _, id := range []string{"00000000-0000-0000-0000-000000000000", "not-a-uuid", "'; DROP TABLE identities; --"} {
			res := c.Do("GET", "/login?flow="+url.QueryEscape(id), nil, "Accept", "text/html")
			if res.Status != 200 || !strings.Contains(string(res.Body), `data-id="4000950"`) || !strings.Contains(string(res.Body), `name="identifier"`) {
				t.Fatalf("flow %q: %d\n%s", id, res.Status, res.Body)
			}
		}
	})
	t.Run("unknown error id", func(t *testing.T) {
		if res := c.Do("GET", "/error?id=nope", nil, "Accept", "text/html"); res.Status != http.StatusNotFound {
			t.Fatalf("got %d", res.Status)
		}
	})
}
