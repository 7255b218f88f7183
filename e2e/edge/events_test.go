package edge

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/learnplatform/platform/e2e/internal/e2etest"
)

// Each event type comes from a real action of one user and appears once,
// with the fields that action knows. (Social link and unlink are checked in
// e2e/social, which has an OpenID Connect provider.)
func TestEveryEventTypeOnce(t *testing.T) {
	c := e2etest.NewClient(t)
	email := e2etest.UniqueEmail("events")
	since := time.Now()
	token := c.Register(email, e2etest.StrongPassword, "Eve")
	var who struct {
		Identity struct{ ID string } `json:"identity"`
	}
	c.Do("GET", "/sessions/whoami", nil, "X-Session-Token", token).JSON(t, &who)
	id := who.Identity.ID

	// verification.sent, verification.completed
	f := c.NewAPIFlow("verification")
	c.Do("POST", "/self-service/verification?flow="+f.ID, map[string]any{"method": "code", "email": email})
	code := e2etest.MailCodeFor(t, email, "verify your email", since, f.ID)
	c.Do("POST", "/self-service/verification?flow="+f.ID, map[string]any{"method": "code", "code": code})
	// login.failed, login.succeeded
	login(t, c, email, wrongPassword)
	session, _ := c.Login(email, e2etest.StrongPassword)
	auth := []string{"X-Session-Token", session}
	// profile.changed, password.changed
	sf := c.NewAPIFlow("settings", auth...)
	c.Do("POST", "/self-service/settings?flow="+sf.ID, map[string]any{"method": "profile", "traits": map[string]any{"email": email, "name": "Eve H."}}, auth...)
	newPassword := "Events-Changed-5!"
	sf = c.NewAPIFlow("settings", auth...)
	c.Do("POST", "/self-service/settings?flow="+sf.ID, map[string]any{"method": "password", "password": newPassword}, auth...)
	// lockout (and its failures), unlock by recovery:
	for i := 0; i < 5; i++ {
		login(t, c, email, wrongPassword)
	}
	// recovery.requested, recovery.completed, unlock
	since = time.Now()
	rf := c.NewAPIFlow("recovery")
	c.Do("POST", "/self-service/recovery?flow="+rf.ID, map[string]any{"method": "code", "email": email})
	code = e2etest.MailCode(t, email, "Recover access", since)
	c.Do("POST", "/self-service/recovery?flow="+rf.ID, map[string]any{"method": "code", "code": code})
	// role.changed
	api(t, "PUT", "/admin/users/"+id+"/role", admin(t), map[string]string{"role": "instructor"})
	// logout
	c.Do("DELETE", "/self-service/logout/api", map[string]string{"session_token": session})

	want := map[string]int{
		"registration": 1, "verification.sent": 1, "verification.completed": 1, "login.succeeded": 1,
		"login.failed": 6, "profile.changed": 1, "password.changed": 1, "lockout": 1,
		"recovery.requested": 1, "recovery.completed": 1, "unlock": 1, "role.changed": 1, "logout": 1,
	}
	var mine []event
	deadline := time.Now().Add(15 * time.Second)
	for {
		all := eventsFor(t, url.Values{"limit": {"500"}, "since": {since.Add(-time.Minute).UTC().Format(time.RFC3339)}}, func([]event) bool { return true })
		mine = nil
		for _, e := range all {
			if e.Email == email || e.IdentityID == id {
				mine = append(mine, e)
			}
		}
		got := map[string]int{}
		for _, e := range mine {
			got[e.Type]++
		}
		if equal(got, want) || time.Now().After(deadline) {
			if !equal(got, want) {
				t.Fatalf("events for one user:\n got  %v\n want %v", got, want)
			}
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, e := range mine {
		if e.IP == "" {
			t.Errorf("%s without an address", e.Type)
		}
		switch e.Type {
		case "registration", "verification.completed", "recovery.completed", "password.changed", "profile.changed", "role.changed", "logout", "login.succeeded":
			if e.IdentityID != id {
				t.Errorf("%s: identity_id %q, want %s", e.Type, e.IdentityID, id)
			}
		}
		if e.Type == "login.failed" && e.Detail["reason"] == nil {
			t.Errorf("login.failed without a reason: %+v", e)
		}
		for k, v := range e.Detail {
			s := strings.ToLower(k + "=" + toString(v))
			if strings.Contains(s, "password=") || strings.Contains(s, code) || strings.Contains(s, session) {
				t.Errorf("%s detail leaks a secret: %v", e.Type, e.Detail)
			}
		}
	}
}

func equal(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func toString(v any) string {
	s, _ := v.(string)
	return s
}
