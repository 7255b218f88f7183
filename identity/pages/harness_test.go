package pages

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/learnplatform/platform/identity"
	"github.com/learnplatform/platform/identity/hydra"
	"github.com/learnplatform/platform/identity/internal/edgetest"
	fakeory "github.com/learnplatform/platform/kit/orytest"
)

// rig is the hosted UI in front of fake Kratos (with its self-service
// additions) and Hydra, with in-memory revocations and event log.
type rig struct {
	t       *testing.T
	URL     string
	ui      *UI
	kratos  *fakeory.Kratos
	self    *fakeory.SelfService
	hydra   *fakeory.Hydra
	revoked *edgetest.Revocations
	events  *edgetest.Events
	logs    *edgetest.Logs
}

func newRig(t *testing.T) *rig {
	t.Helper()
	k := fakeory.NewKratos(t)
	e := &rig{t: t, kratos: k, self: k.NewSelfService(t), hydra: fakeory.NewHydra(t),
		revoked: &edgetest.Revocations{}, events: &edgetest.Events{}, logs: &edgetest.Logs{}}
	router := chi.NewRouter()
	ts := httptest.NewServer(router)
	t.Cleanup(ts.Close)
	e.URL = ts.URL
	kc := edgetest.KratosClient(e.self.URL, k.Admin.URL)
	oauth, err := hydra.New(e.hydra.Admin.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	public, _ := url.Parse(ts.URL + "/")
	app, _ := url.Parse("http://127.0.0.1:8080/")
	ui, err := New(Options{
		Kratos: kc, PublicURL: public, AllowedReturn: []*url.URL{app},
		Password: identity.DefaultPolicy().PasswordPolicy.Active(),
		Events:   e.events, Revoker: e.revoked, Logger: e.logs.Logger(),
		Accounts: &identity.Accounts{Identities: kc, OAuth: oauth, Revoker: e.revoked},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.ui = ui
	ui.Mount(router)
	return e
}

// user adds an identity with a session.
func (e *rig) user() (string, fakeory.Session) {
	id := e.kratos.AddIdentity(fakeory.Identity{Email: strings.ToLower(fakeory.NewID()[:8]) + "@example.org", Name: "Test"})
	return id, e.kratos.AddSession(id)
}

// do sends a request to the pages; headers are name, value pairs.
func (e *rig) do(method, path, body string, headers ...string) edgetest.Answer {
	e.t.Helper()
	return edgetest.Do(e.t, method, e.URL+path, body, headers...)
}

// browserPost is a same-origin form post of a signed-in browser.
func (e *rig) browserPost(path string, s fakeory.Session) edgetest.Answer {
	return e.do("POST", path, "", "Cookie", s.Cookie(), "Origin", e.URL, "Content-Type", "application/x-www-form-urlencoded")
}

func TestNewRequiresRevokerAndAccounts(t *testing.T) {
	if _, err := New(Options{Accounts: &identity.Accounts{}}); err == nil {
		t.Fatal("no revoker accepted")
	}
	if _, err := New(Options{Revoker: &edgetest.Revocations{}}); err == nil {
		t.Fatal("no accounts accepted")
	}
}

func contains(t *testing.T, a edgetest.Answer, status int, parts ...string) {
	t.Helper()
	if a.Status != status {
		t.Fatalf("status %d, want %d: %s", a.Status, status, a.Body)
	}
	for _, p := range parts {
		if !strings.Contains(a.Body, p) {
			t.Fatalf("the answer lacks %q:\n%s", p, a.Body)
		}
	}
}
