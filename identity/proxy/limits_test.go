package proxy

import (
	"net/http"
	"strings"
	"testing"

	"github.com/learnplatform/platform/identity"
	fakeory "github.com/learnplatform/platform/kit/orytest"
)

// Password sign-ins through the proxy are counted and settled (the rules
// are identity/limits'); other methods pass uncounted.
func TestSignInsAreCounted(t *testing.T) {
	e := newRig(t)
	e.kratos.AddIdentity(fakeory.Identity{Email: "hil@example.org", Password: strongPassword})
	login := func(body string) int {
		return e.do("POST", "/self-service/login?flow="+e.kratos.NewLoginFlow("api").ID, body, "Content-Type", "application/json").Status
	}
	for i := range identity.DefaultLockoutPolicy().MaxFailures {
		if s := login(`{"method":"password","identifier":"HIL@example.org","password":"wrong"}`); s != http.StatusBadRequest {
			t.Fatalf("try %d: %d", i, s)
		}
	}
	a := e.do("POST", "/self-service/login?flow="+e.kratos.NewLoginFlow("api").ID,
		`{"method":"password","password_identifier":"hil@example.org","password":"`+strongPassword+`"}`, "Content-Type", "application/json")
	if a.Status != http.StatusTooManyRequests || !strings.Contains(a.Body, `"code":"account_locked"`) {
		t.Fatalf("locked: %d %s", a.Status, a.Body)
	}
	if n := e.kratos.PasswordChecks(); n != identity.DefaultLockoutPolicy().MaxFailures {
		t.Fatalf("%d passwords reached Kratos", n)
	}
	if s := login(`{"method":"oidc","provider":"github"}`); s == http.StatusTooManyRequests {
		t.Fatal("a social sign-in was refused by the password lockout")
	}
}

// Code requests through the proxy are counted against the mail limits
// and recorded; one Kratos refuses is given back; a code being entered is
// not a request for one.
func TestCodeRequests(t *testing.T) {
	e := newRig(t)
	send := func(kind, body string) int {
		return e.do("POST", "/self-service/"+kind+"?flow="+fakeory.NewID(), body, "Content-Type", "application/json").Status
	}
	if s := send("verification", `{"method":"code","email":"Ivo@Example.org"}`); s != http.StatusOK {
		t.Fatalf("verification: %d", s)
	}
	if s := send("recovery", `{"method":"code","email":"ivo@example.org"}`); s != http.StatusOK {
		t.Fatalf("recovery: %d", s)
	}
	if n := e.mail.Taken("ivo@example.org"); n != 2 {
		t.Fatalf("%d counted", n)
	}
	if s := send("verification", `{"method":"code","email":"ivo@example.org","code":"123456"}`); s != http.StatusOK {
		t.Fatalf("entering a code: %d", s)
	}
	if n := e.mail.Taken("ivo@example.org"); n != 2 {
		t.Fatalf("entering a code counted a mail: %d", n)
	}
	if s := send("verification", `{"method":"code","email":"no-at-sign"}`); s != http.StatusBadRequest {
		t.Fatalf("an address Kratos refuses: %d", s)
	}
	if n := e.mail.Taken("no-at-sign"); n != 0 {
		t.Fatalf("a refused request kept its count: %d", n)
	}
	if ev := e.events.OfType(identity.EventVerificationSent); len(ev) != 1 || ev[0].Email != "ivo@example.org" || ev[0].IP != "127.0.0.1" {
		t.Fatalf("verification events %+v", ev)
	}
	if ev := e.events.OfType(identity.EventRecoveryRequested); len(ev) != 1 {
		t.Fatalf("recovery events %+v", ev)
	}
	for range identity.DefaultMailLimits().PerAddress - 2 {
		send("recovery", `{"method":"code","email":"ivo@example.org"}`)
	}
	if s := send("recovery", `{"method":"code","email":"ivo@example.org"}`); s != http.StatusTooManyRequests {
		t.Fatalf("over the limit: %d", s)
	}
	if n := len(e.kratos.CodesSent()); n != identity.DefaultMailLimits().PerAddress+1 {
		t.Fatalf("Kratos sent %d codes", n) // the code entered counts at the fake, not at the edge
	}
}
