package admin

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/learnplatform/platform/identity"
	"github.com/learnplatform/platform/identity/internal/edgetest"
	fakeory "github.com/learnplatform/platform/kit/orytest"
)

func TestAdminDeactivatesUser(t *testing.T) {
	e := newRig(t)
	adminID, adminSession := e.user("admin")
	admin := e.token(adminID, adminSession.ID, "admin")
	id, s := e.user("student")
	other := e.kratos.AddSession(id)
	victim := e.token(id, s.ID, "admin") // an admin token, so the admin API shows it refused

	if a := e.api("GET", "/admin/lockouts", "", victim); a.Status == http.StatusUnauthorized {
		t.Fatalf("the user's token before: %d %s", a.Status, a.Body)
	}
	a := e.api("PUT", "/admin/users/"+id+"/state", `{"state":"inactive"}`, admin)
	if a.Status != http.StatusOK || !strings.Contains(a.Body, `"previous_state":"active"`) || !strings.Contains(a.Body, `"tokens_revoked":true`) {
		t.Fatalf("deactivate: %d %s", a.Status, a.Body)
	}
	if i, _ := e.kratos.Identity(id); !i.Inactive {
		t.Fatal("the identity is still active at Kratos")
	}
	if e.kratos.Active(s.ID) || e.kratos.Active(other.ID) {
		t.Fatal("a Kratos session survived")
	}
	logins, consents := e.hydra.Ended()
	if !slices.Equal(logins, []string{id}) || !slices.Equal(consents, []string{id}) {
		t.Fatalf("hydra sessions ended: logins %v consents %v", logins, consents)
	}
	if got := e.revoked.All(); !slices.Equal(got, []edgetest.Revocation{{Subject: id, Reason: identity.ReasonDeactivated}}) {
		t.Fatalf("revocations: %+v", got)
	}
	if a := e.api("GET", "/admin/lockouts", "", victim); a.Status != http.StatusUnauthorized {
		t.Fatalf("the deactivated user's token still works: %d", a.Status)
	}
	ev := e.events.OfType(identity.EventStateChanged)
	if len(ev) != 1 || ev[0].IdentityID != id || ev[0].Detail["by"] != adminID || ev[0].Detail["to"] != "inactive" || ev[0].Detail["from"] != "active" {
		t.Fatalf("events: %+v", ev)
	}

	t.Run("activate again", func(t *testing.T) {
		a := e.api("PUT", "/admin/users/"+id+"/state", `{"state":"active"}`, admin)
		if a.Status != http.StatusOK || !strings.Contains(a.Body, `"state":"active"`) {
			t.Fatalf("activate: %d %s", a.Status, a.Body)
		}
		if i, _ := e.kratos.Identity(id); i.Inactive {
			t.Fatal("still inactive")
		}
		if n := len(e.revoked.All()); n != 1 {
			t.Fatalf("activation wrote a revocation: %d records", n)
		}
	})
}

func TestAdminRevokesSessions(t *testing.T) {
	e := newRig(t)
	adminID, adminSession := e.user("admin")
	admin := e.token(adminID, adminSession.ID, "admin")
	for _, body := range []string{"", "{}"} {
		id, s := e.user("student")
		a := e.api("POST", "/admin/users/"+id+"/sessions/revoke", body, admin)
		if a.Status != http.StatusOK || !strings.Contains(a.Body, `"sessions_ended":true`) {
			t.Fatalf("body %q: %d %s", body, a.Status, a.Body)
		}
		if e.kratos.Active(s.ID) {
			t.Fatal("the Kratos session survived")
		}
		if i, _ := e.kratos.Identity(id); i.Inactive {
			t.Fatal("revoking sessions deactivated the user")
		}
		logins, consents := e.hydra.Ended()
		if !slices.Contains(logins, id) || !slices.Contains(consents, id) {
			t.Fatalf("hydra: %v %v", logins, consents)
		}
		if got := e.revoked.All(); !slices.Contains(got, edgetest.Revocation{Subject: id, Reason: identity.ReasonSessionsRevoked}) {
			t.Fatalf("revocations: %+v", got)
		}
	}
	if ev := e.events.OfType(identity.EventSessionsRevoked); len(ev) != 2 || ev[0].Detail["by"] != adminID {
		t.Fatalf("events: %+v", ev)
	}
	t.Run("a user without sessions", func(t *testing.T) {
		id := e.kratos.AddIdentity(fakeory.Identity{Email: "nosessions@example.org"})
		if a := e.api("POST", "/admin/users/"+id+"/sessions/revoke", "", admin); a.Status != http.StatusOK {
			t.Fatalf("%d %s", a.Status, a.Body)
		}
	})
}

func TestAdminRoleChangeRevokes(t *testing.T) {
	e := newRig(t)
	adminID, adminSession := e.user("admin")
	admin := e.token(adminID, adminSession.ID, "admin")
	id, s := e.user("admin")
	old := e.token(id, s.ID, "admin")
	a := e.api("PUT", "/admin/users/"+id+"/role", `{"role":"student"}`, admin)
	if a.Status != http.StatusOK || !strings.Contains(a.Body, `"previous_role":"admin"`) {
		t.Fatalf("%d %s", a.Status, a.Body)
	}
	if i, _ := e.kratos.Identity(id); i.Role != "student" {
		t.Fatalf("role at Kratos: %q", i.Role)
	}
	if got := e.revoked.All(); !slices.Equal(got, []edgetest.Revocation{{Subject: id, Reason: identity.ReasonRoleChanged}}) {
		t.Fatalf("revocations: %+v", got)
	}
	if a := e.api("GET", "/admin/lockouts", "", old); a.Status != http.StatusUnauthorized {
		t.Fatalf("the demoted admin's old token: %d", a.Status)
	}
	if e.kratos.Called("DELETE") != 0 || len(e.revoked.All()) != 1 {
		t.Fatal("a role change ended sessions")
	}
}

// Errors are the platform's JSON shape with a fitting status, never 500,
// and say whether tokens were revoked.
func TestAdminUserErrors(t *testing.T) {
	e := newRig(t)
	adminID, adminSession := e.user("admin")
	admin := e.token(adminID, adminSession.ID, "admin")
	id, _ := e.user("student")
	unknown := "00000000-0000-4000-8000-000000000000"
	routes := []struct{ method, path, body string }{
		{"PUT", "/role", `{"role":"instructor"}`},
		{"PUT", "/state", `{"state":"inactive"}`},
		{"POST", "/sessions/revoke", ``},
	}
	for _, c := range []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"bad id", "PUT", "/admin/users/not-a-uuid/state", `{"state":"inactive"}`, 400, "bad_request"},
		{"bad id (sessions)", "POST", "/admin/users/12345/sessions/revoke", ``, 400, "bad_request"},
		{"bad state", "PUT", "/admin/users/" + id + "/state", `{"state":"deleted"}`, 400, "bad_request"},
		{"unknown field", "PUT", "/admin/users/" + id + "/state", `{"state":"inactive","why":"x"}`, 400, "bad_request"},
		{"not JSON", "PUT", "/admin/users/" + id + "/state", `state=inactive`, 400, "bad_request"},
		{"a body on revoke", "POST", "/admin/users/" + id + "/sessions/revoke", `{"all":true}`, 400, "bad_request"},
		{"bad role", "PUT", "/admin/users/" + id + "/role", `{"role":"root"}`, 400, "bad_request"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := e.api(c.method, c.path, c.body, admin)
			if code, _ := edgetest.ErrorCode(t, a); a.Status != c.status || code != c.code {
				t.Fatalf("%d %s", a.Status, a.Body)
			}
		})
	}
	for _, r := range routes {
		t.Run("unknown user "+r.path, func(t *testing.T) {
			a := e.api(r.method, "/admin/users/"+unknown+r.path, r.body, admin)
			if code, _ := edgetest.ErrorCode(t, a); a.Status != http.StatusNotFound || code != "not_found" {
				t.Fatalf("%d %s", a.Status, a.Body)
			}
		})
	}
	if n := len(e.revoked.All()); n != 0 {
		t.Fatalf("refused requests wrote %d revocations", n)
	}

	t.Run("Kratos down: nothing changed", func(t *testing.T) {
		e.kratos.FailOn("", http.StatusInternalServerError)
		defer e.kratos.FailOn("", 0)
		for _, r := range routes {
			a := e.api(r.method, "/admin/users/"+id+r.path, r.body, admin)
			code, msg := edgetest.ErrorCode(t, a)
			if a.Status != http.StatusServiceUnavailable || code != "unavailable" || !strings.Contains(msg, "nothing was changed") {
				t.Fatalf("%s: %d %s", r.path, a.Status, a.Body)
			}
		}
		if n := len(e.revoked.All()); n != 0 {
			t.Fatalf("%d revocations", n)
		}
	})

	t.Run("database down: the change is made, the answer says tokens were not revoked", func(t *testing.T) {
		e.revoked.SetDown(true)
		defer e.revoked.SetDown(false)
		for i, r := range routes {
			rid := "revocation-down-" + strconv.Itoa(i)
			a := e.do(r.method, "/admin/users/"+id+r.path, r.body, "Authorization", "Bearer "+admin,
				"Content-Type", "application/json", "X-Request-Id", rid)
			code, msg := edgetest.ErrorCode(t, a)
			if a.Status != http.StatusServiceUnavailable || code != "incomplete" || !strings.Contains(msg, "NOT revoked") ||
				!strings.Contains(a.Body, `"tokens_revoked":false`) {
				t.Fatalf("%s: %d %s", r.path, a.Status, a.Body)
			}
			if !strings.Contains(e.logs.String(), "tokens_revoked=false") || !strings.Contains(e.logs.String(), "request_id="+rid) {
				t.Fatalf("the failure is not logged with the request id:\n%s", e.logs.String())
			}
		}
		if e.revocationCount(identity.ReasonDeactivated, "failed") != 1 {
			t.Fatal("the failed revocation is not counted")
		}
		// The change was made, so it is in the log.
		if len(e.events.OfType(identity.EventStateChanged)) == 0 {
			t.Fatal("no event for the change")
		}
	})

	t.Run("a retry completes it", func(t *testing.T) {
		a := e.api("PUT", "/admin/users/"+id+"/state", `{"state":"inactive"}`, admin)
		if a.Status != http.StatusOK {
			t.Fatalf("%d %s", a.Status, a.Body)
		}
		if got := e.revoked.All(); !slices.Contains(got, edgetest.Revocation{Subject: id, Reason: identity.ReasonDeactivated}) {
			t.Fatalf("revocations: %+v", got)
		}
	})

	t.Run("Hydra down: tokens revoked all the same", func(t *testing.T) {
		e.hydra.Fail(http.StatusServiceUnavailable)
		defer e.hydra.Fail(0)
		id, _ := e.user("student")
		a := e.api("POST", "/admin/users/"+id+"/sessions/revoke", "", admin)
		code, msg := edgetest.ErrorCode(t, a)
		if a.Status != http.StatusServiceUnavailable || code != "incomplete" || !strings.Contains(a.Body, `"tokens_revoked":true`) ||
			!strings.Contains(msg, "Hydra could not be ended") {
			t.Fatalf("%d %s", a.Status, a.Body)
		}
		if got := e.revoked.All(); !slices.Contains(got, edgetest.Revocation{Subject: id, Reason: identity.ReasonSessionsRevoked}) {
			t.Fatalf("revocations: %+v", got)
		}
	})
}

// The admin routes act for a person: a client's own token
// (client_credentials, sub == client_id) is refused with 401 even when it
// carries an admin role claim, as are ID tokens, tokens for another
// audience, and revoked tokens.
func TestAdminRoutesRefuseTokensNotForThem(t *testing.T) {
	e := newRig(t)
	adminID, adminSession := e.user("admin")
	id, _ := e.user("student")
	routes := []struct{ method, path, body string }{
		{"GET", "/admin/lockouts", ""},
		{"DELETE", "/admin/lockouts/nobody@example.org", ""},
		{"GET", "/admin/auth-events", ""},
		{"PUT", "/admin/users/" + id + "/role", `{"role":"admin"}`},
		{"PUT", "/admin/users/" + id + "/state", `{"state":"inactive"}`},
		{"POST", "/admin/users/" + id + "/sessions/revoke", ""},
	}
	machine := e.issuer.AccessToken("integrator-example", "", "admin", testAudience)
	machine["client_id"] = "integrator-example"
	delete(machine, "session_id")
	idToken := e.issuer.AccessToken(adminID, adminSession.ID, "admin", "tutor-web")
	delete(idToken, "client_id")
	idToken["at_hash"] = "x"
	idToken["nonce"] = "n"
	for name, claims := range map[string]map[string]any{
		"a client_credentials token": machine,
		"an ID token":                idToken,
		"a token for the tutor":      e.issuer.AccessToken(adminID, adminSession.ID, "admin", "tutor-api"),
	} {
		t.Run(name, func(t *testing.T) {
			tok := e.issuer.Sign(claims)
			for _, r := range routes {
				a := e.api(r.method, r.path, r.body, tok)
				if code, _ := edgetest.ErrorCode(t, a); a.Status != http.StatusUnauthorized || a.Header.Get("WWW-Authenticate") == "" {
					t.Fatalf("%s %s: %d %s %s", r.method, r.path, a.Status, code, a.Body)
				}
			}
		})
	}
	t.Run("a learner's token", func(t *testing.T) {
		_, s := e.user("student")
		tok := e.token(id, s.ID, "student")
		for _, r := range routes {
			if a := e.api(r.method, r.path, r.body, tok); a.Status != http.StatusForbidden {
				t.Fatalf("%s %s: %d %s", r.method, r.path, a.Status, a.Body)
			}
		}
	})
	if n := len(e.revoked.All()) + e.kratos.Called("PATCH") + e.kratos.Called("DELETE"); n != 0 {
		t.Fatalf("a refused token changed something: %d", n)
	}
	t.Run("a revoked admin token", func(t *testing.T) {
		tok := e.token(adminID, adminSession.ID, "admin")
		if a := e.api("GET", "/admin/lockouts", "", tok); a.Status == http.StatusUnauthorized {
			t.Fatalf("before: %d", a.Status)
		}
		_ = e.revoked.RevokeSession(t.Context(), adminSession.ID, identity.ReasonSignOut)
		if a := e.api("GET", "/admin/lockouts", "", tok); a.Status != http.StatusUnauthorized {
			t.Fatalf("after: %d %s", a.Status, a.Body)
		}
	})
}
