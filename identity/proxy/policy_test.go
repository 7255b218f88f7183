package proxy

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/learnplatform/platform/identity"
)

// flowMessages reads a flow answered as JSON: the password node's message
// ids and the value of the email input.
func flowMessages(t *testing.T, body string) (ids []int64, email any) {
	t.Helper()
	var f struct {
		UI struct {
			Nodes []struct {
				Attributes map[string]any `json:"attributes"`
				Messages   []struct {
					ID int64 `json:"id"`
				} `json:"messages"`
			} `json:"nodes"`
		} `json:"ui"`
	}
	if err := json.Unmarshal([]byte(body), &f); err != nil {
		t.Fatalf("not a flow: %s", body)
	}
	for _, n := range f.UI.Nodes {
		switch n.Attributes["name"] {
		case "password":
			for _, m := range n.Messages {
				ids = append(ids, m.ID)
			}
			if v := n.Attributes["value"]; v != "" && v != nil {
				t.Fatalf("the password was put back: %v", v)
			}
		case "traits.email":
			email = n.Attributes["value"]
		}
	}
	return ids, email
}

// A new password that breaks the composition rules is refused at the edge
// with one message per unmet rule on the password input, the user's other
// input put back, and nothing sent to Kratos.
func TestPolicyRefusesWeakRegistration(t *testing.T) {
	e := newRig(t)
	t.Run("native app", func(t *testing.T) {
		f := e.self.NewRegistrationFlow("api")
		a := e.do("POST", "/self-service/registration?flow="+f.ID, `{"method":"password","password":"short","traits":{"email":"ann@example.org"}}`,
			"Content-Type", "application/json")
		if a.Status != http.StatusBadRequest {
			t.Fatalf("%d %s", a.Status, a.Body)
		}
		ids, email := flowMessages(t, a.Body)
		want := []int64{identity.MsgMinLength, identity.MsgUpper, identity.MsgDigit, identity.MsgSpecial}
		if len(ids) != len(want) || ids[0] != want[0] || ids[3] != want[3] || email != "ann@example.org" {
			t.Fatalf("messages %v, email %v", ids, email)
		}
	})
	t.Run("browser", func(t *testing.T) {
		f := e.self.NewRegistrationFlow("browser")
		form := url.Values{"method": {"password"}, "password": {"alllowercase-but-long1"}, "traits.email": {"bea@example.org"},
			"csrf_token": {f.CSRFToken}}
		a := e.do("POST", "/self-service/registration?flow="+f.ID, form.Encode(),
			"Content-Type", "application/x-www-form-urlencoded", "Cookie", f.Cookie, "Accept", "text/html")
		if a.Status != http.StatusBadRequest || !strings.Contains(a.Body, `data-id="4000903"`) ||
			!strings.Contains(a.Body, `value="bea@example.org"`) || strings.Contains(a.Body, "alllowercase") {
			t.Fatalf("%d %s", a.Status, a.Body)
		}
	})
	if n := e.kratos.Called("POST /self-service/registration"); n != 0 {
		t.Fatalf("%d refused registrations reached Kratos", n)
	}
	if e.counter("identity_password_policy_refusals_total", "rule", identity.RuleUpper) != 2 ||
		e.counter("identity_password_policy_refusals_total", "rule", identity.RuleMinLength) != 1 {
		t.Fatal("refusals not counted by rule")
	}
}

// A password that meets the rules goes on to Kratos; so does a post that
// sets no password.
func TestPolicyLetsStrongPasswordsThrough(t *testing.T) {
	e := newRig(t)
	f := e.self.NewRegistrationFlow("api")
	a := e.do("POST", "/self-service/registration?flow="+f.ID, `{"method":"password","password":"`+strongPassword+`","traits":{"email":"cal@example.org"}}`,
		"Content-Type", "application/json")
	if a.Status != http.StatusOK || !strings.Contains(a.Body, `"cal@example.org"`) {
		t.Fatalf("%d %s", a.Status, a.Body)
	}
	id, s := e.user()
	flow := e.kratos.AddSettingsFlow(id, "api")
	a = e.do("POST", "/self-service/settings?flow="+flow, `{"method":"profile","traits":{"email":"x@example.org"}}`,
		"Content-Type", "application/json", "X-Session-Token", s.Token)
	if a.Status != http.StatusOK {
		t.Fatalf("profile: %d %s", a.Status, a.Body)
	}
}

// The password set in settings (after recovery too) is checked like a new
// account's.
func TestPolicyRefusesWeakSettingsPassword(t *testing.T) {
	e := newRig(t)
	id, s := e.user()
	flow := e.kratos.AddSettingsFlow(id, "api")
	a := e.do("POST", "/self-service/settings?flow="+flow, `{"method":"password","password":"NoDigitsHere!!xx"}`,
		"Content-Type", "application/json", "X-Session-Token", s.Token)
	if a.Status != http.StatusBadRequest || !strings.Contains(a.Body, `"id":4000905`) {
		t.Fatalf("%d %s", a.Status, a.Body)
	}
	if n := e.kratos.Called("POST /self-service/settings"); n != 0 {
		t.Fatal("the weak password reached Kratos")
	}
}

// Without the flow there is no form to put the messages on: API clients
// get the rules in the error shape, browsers a new flow saying what was
// wrong.
func TestPolicyWithoutTheFlow(t *testing.T) {
	e := newRig(t)
	a := e.do("POST", "/self-service/registration?flow=gone", `{"method":"password","password":"weak"}`, "Content-Type", "application/json")
	var b struct {
		Error struct {
			Code  string
			Rules []struct {
				Rule string
				ID   int64
			}
		}
	}
	if a.Status != http.StatusBadRequest || json.Unmarshal([]byte(a.Body), &b) != nil || b.Error.Code != "password_policy" ||
		len(b.Error.Rules) != 4 || b.Error.Rules[0].Rule != identity.RuleMinLength {
		t.Fatalf("%d %s", a.Status, a.Body)
	}
	a = e.do("POST", "/self-service/registration?flow=gone", "method=password&password=weak",
		"Content-Type", "application/x-www-form-urlencoded", "Accept", "text/html")
	if a.Status != http.StatusOK || !strings.Contains(a.Body, `data-id="4000950"`) || !strings.Contains(a.Body, "at least 12 characters") {
		t.Fatalf("browser: %d %s", a.Status, a.Body)
	}
}

// Bodies the edge cannot read the password from with certainty are
// refused with a clear 4xx before Kratos sees them.
func TestUnreadableBodies(t *testing.T) {
	e := newRig(t)
	for name, c := range map[string]struct {
		contentType, body string
		status            int
		code              string
	}{
		"not UTF-8":               {"application/x-www-form-urlencoded", "method=password&password=\xff\xfe", 400, "bad_encoding"},
		"plain text":              {"text/plain", "method=password&password=x", 415, "unsupported_media_type"},
		"multipart":               {"multipart/form-data; boundary=x", "--x--", 415, "unsupported_media_type"},
		"two passwords":           {"application/x-www-form-urlencoded", "method=password&password=a&password=b", 400, "bad_form"},
		"a malformed form":        {"application/x-www-form-urlencoded", "password=%zz", 400, "bad_form"},
		"a repeated JSON member":  {"application/json", `{"method":"password","password":"` + strongPassword + `","password":"weak"}`, 400, "bad_json"},
		"two JSON values":         {"application/json", `{"method":"password"} {"password":"weak"}`, 400, "bad_json"},
		"not an object":           {"application/json", `["password"]`, 400, "bad_json"},
		"a password not a string": {"application/json", `{"method":"password","password":12}`, 400, "bad_request"},
		"larger than the limit":   {"application/json", `{"method":"password","traits":{"name":"` + strings.Repeat("x", 5000) + `"}}`, 413, "too_large"},
	} {
		t.Run(name, func(t *testing.T) {
			a := e.do("POST", "/self-service/registration?flow="+e.self.NewRegistrationFlow("api").ID, c.body,
				"Content-Type", c.contentType, "Accept", "application/json")
			if a.Status != c.status || !strings.Contains(a.Body, `"code":"`+c.code+`"`) {
				t.Fatalf("%d %s", a.Status, a.Body)
			}
		})
	}
	if n := e.kratos.Called("POST /self-service/registration"); n != 0 {
		t.Fatalf("%d unreadable bodies reached Kratos", n)
	}
}

// The same form field twice with one value is Kratos' own forms' habit and
// passes.
func TestRepeatedEqualFieldsPass(t *testing.T) {
	e := newRig(t)
	f := e.self.NewRegistrationFlow("api")
	form := url.Values{"method": {"password", "password"}, "password": {strongPassword}, "traits.email": {"dee@example.org"}}
	a := e.do("POST", "/self-service/registration?flow="+f.ID, form.Encode(), "Content-Type", "application/x-www-form-urlencoded",
		"Accept", "application/json")
	if a.Status != http.StatusOK {
		t.Fatalf("%d %s", a.Status, a.Body)
	}
}
