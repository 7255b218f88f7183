package pages

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/learnplatform/platform/identity"
	"github.com/learnplatform/platform/identity/internal/edge"
	"github.com/learnplatform/platform/identity/internal/edgetest"
)

func TestSecurityPageOffersSignOutEverywhere(t *testing.T) {
	e := newRig(t)
	_, s := e.user()
	a := e.do("GET", "/security", "", "Cookie", s.Cookie(), "Accept", "text/html")
	if a.Status != http.StatusOK || !strings.Contains(a.Body, `action="/security/sessions/end-all"`) ||
		!strings.Contains(a.Body, "Sign out everywhere</button>") || !strings.Contains(a.Body, "Sign out everywhere else") {
		t.Fatalf("%d\n%s", a.Status, a.Body)
	}
}

func TestSignOutEverywhere(t *testing.T) {
	e := newRig(t)
	id, s := e.user()
	other := e.kratos.AddSession(id)
	bystanderID, bystander := e.user()

	if a := e.do("POST", "/security/sessions/end-all", "", "Cookie", s.Cookie(), "Origin", "https://evil.example.org"); a.Status != http.StatusForbidden {
		t.Fatalf("cross-site: %d", a.Status)
	}
	if !e.kratos.Active(s.ID) || len(e.revoked.All()) != 0 {
		t.Fatal("a cross-site post did something")
	}

	a := e.browserPost("/security/sessions/end-all", s)
	if a.Status != http.StatusSeeOther || a.Header.Get("Location") != "/login" {
		t.Fatalf("%d %v %s", a.Status, a.Header, a.Body)
	}
	if c := a.Header.Get("Set-Cookie"); !strings.HasPrefix(c, edge.SessionCookie+"=;") || !strings.Contains(c, "Max-Age=0") {
		t.Fatalf("the session cookie is not cleared: %q", c)
	}
	if e.kratos.Active(s.ID) || e.kratos.Active(other.ID) {
		t.Fatal("a session survived")
	}
	if !e.kratos.Active(bystander.ID) {
		t.Fatal("another user's session ended")
	}
	logins, consents := e.hydra.Ended()
	if !slices.Equal(logins, []string{id}) || !slices.Equal(consents, []string{id}) {
		t.Fatalf("hydra: %v %v", logins, consents)
	}
	if got := e.revoked.All(); !slices.Equal(got, []edgetest.Revocation{{Subject: id, Reason: identity.ReasonSignOutEverywhere}}) {
		t.Fatalf("revocations: %+v", got)
	}
	if !e.revoked.Revoked(id, s.ID, "", time.Now().Add(-2*time.Second)) || e.revoked.Revoked(bystanderID, bystander.ID, "", time.Now().Add(-2*time.Second)) {
		t.Fatal("the wrong tokens are void")
	}
	if ev := e.events.OfType(identity.EventSignOutEverywhere); len(ev) != 1 || ev[0].IdentityID != id {
		t.Fatalf("events: %+v", ev)
	}
	if a := e.browserPost("/security/sessions/end-all", s); a.Status != http.StatusSeeOther || a.Header.Get("Location") != "/login" {
		t.Fatalf("signed out already: %d %s", a.Status, a.Header.Get("Location"))
	}
}

func TestSignOutEverywhereFailures(t *testing.T) {
	e := newRig(t)
	t.Run("Kratos down: nothing done", func(t *testing.T) {
		_, s := e.user()
		e.kratos.FailOn("DELETE /admin/identities/", http.StatusBadGateway)
		defer e.kratos.FailOn("DELETE /admin/identities/", 0)
		if a := e.browserPost("/security/sessions/end-all", s); a.Status != http.StatusServiceUnavailable {
			t.Fatalf("%d %s", a.Status, a.Body)
		}
		if !e.kratos.Active(s.ID) || len(e.revoked.All()) != 0 {
			t.Fatal("something was done")
		}
	})
	t.Run("database down: the page says tokens were not revoked", func(t *testing.T) {
		_, s := e.user()
		e.revoked.SetDown(true)
		defer e.revoked.SetDown(false)
		a := e.do("POST", "/security/sessions/end-all", "", "Cookie", s.Cookie(), "Origin", e.URL, "Accept", "text/html")
		if a.Status != http.StatusServiceUnavailable || !strings.Contains(a.Body, "NOT revoked") {
			t.Fatalf("%d %s", a.Status, a.Body)
		}
		if !strings.Contains(e.logs.String(), "sign out everywhere incomplete") {
			t.Fatal("not logged")
		}
	})
}

func TestEndOneSessionRevokesIt(t *testing.T) {
	e := newRig(t)
	id, s := e.user()
	other := e.kratos.AddSession(id)
	_, stranger := e.user()

	a := e.browserPost("/security/sessions/"+other.ID+"/end", s)
	if a.Status != http.StatusSeeOther || a.Header.Get("Location") != "/security?ended=1" {
		t.Fatalf("%d %s", a.Status, a.Body)
	}
	if e.kratos.Active(other.ID) || !e.kratos.Active(s.ID) {
		t.Fatal("the wrong session ended")
	}
	if got := e.revoked.All(); !slices.Equal(got, []edgetest.Revocation{{Session: other.ID, Reason: identity.ReasonSignOut}}) {
		t.Fatalf("revocations: %+v", got)
	}
	// Ended already (a retry after a failed revocation): revoked again.
	if a := e.browserPost("/security/sessions/"+other.ID+"/end", s); a.Status != http.StatusSeeOther || len(e.revoked.All()) != 2 {
		t.Fatalf("retry: %d %d", a.Status, len(e.revoked.All()))
	}
	for name, c := range map[string]struct {
		session string
		status  int
	}{
		"someone else's session": {stranger.ID, http.StatusNotFound},
		"an unknown session":     {"00000000-0000-4000-8000-000000000000", http.StatusNotFound},
		"this browser's session": {s.ID, http.StatusBadRequest},
	} {
		t.Run(name, func(t *testing.T) {
			if a := e.browserPost("/security/sessions/"+c.session+"/end", s); a.Status != c.status {
				t.Fatalf("%d %s", a.Status, a.Body)
			}
		})
	}
	if !e.kratos.Active(stranger.ID) || len(e.revoked.All()) != 2 {
		t.Fatal("a refused request ended or revoked something")
	}
	t.Run("database down", func(t *testing.T) {
		third := e.kratos.AddSession(id)
		e.revoked.SetDown(true)
		defer e.revoked.SetDown(false)
		if a := e.browserPost("/security/sessions/"+third.ID+"/end", s); a.Status != http.StatusServiceUnavailable {
			t.Fatalf("%d %s", a.Status, a.Body)
		}
	})
}

func TestEndOtherSessionsRevokesTheirTokens(t *testing.T) {
	e := newRig(t)
	id, s := e.user()
	e.kratos.AddSession(id)
	e.kratos.AddSession(id)
	a := e.browserPost("/security/sessions/end-others", s)
	if a.Status != http.StatusSeeOther || a.Header.Get("Location") != "/security?ended=2" {
		t.Fatalf("%d %s", a.Status, a.Header.Get("Location"))
	}
	if got := e.revoked.All(); !slices.Equal(got, []edgetest.Revocation{{Subject: id, Keep: s.ID, Reason: identity.ReasonSignOutOthers}}) {
		t.Fatalf("revocations: %+v", got)
	}
	e.revoked.SetDown(true)
	defer e.revoked.SetDown(false)
	if a := e.browserPost("/security/sessions/end-others", s); a.Status != http.StatusServiceUnavailable {
		t.Fatalf("database down: %d", a.Status)
	}
}
