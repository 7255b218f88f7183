package admin

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/learnplatform/platform/identity"
	"github.com/learnplatform/platform/identity/hydra"
	"github.com/learnplatform/platform/identity/internal/edge"
	"github.com/learnplatform/platform/identity/internal/edgetest"
	fakeory "github.com/learnplatform/platform/kit/orytest"
	"github.com/learnplatform/platform/kit/server"
	"github.com/learnplatform/platform/kit/token"
)

// rig is the admin API in front of fake Kratos and Hydra (their JSON),
// with kit/token's real validator against a fake issuer, and in-memory
// revocations, event log and lockouts.
type rig struct {
	t        *testing.T
	URL      string
	kratos   *fakeory.Kratos
	hydra    *fakeory.Hydra
	issuer   *fakeory.Issuer
	revoked  *edgetest.Revocations
	events   *edgetest.Events
	lockouts *edgetest.Lockouts
	logs     *edgetest.Logs
	reg      *prometheus.Registry
	now      time.Time
}

const testAudience = "identity-api"

func newRig(t *testing.T) *rig {
	t.Helper()
	e := &rig{t: t, kratos: fakeory.NewKratos(t), hydra: fakeory.NewHydra(t), issuer: fakeory.NewIssuer(t),
		revoked: &edgetest.Revocations{}, events: &edgetest.Events{}, lockouts: edgetest.NewLockouts(identity.DefaultLockoutPolicy()),
		logs: &edgetest.Logs{}, reg: prometheus.NewRegistry(), now: time.Now()}
	logger := e.logs.Logger()
	kc := edgetest.KratosClient(e.kratos.Public.URL, e.kratos.Admin.URL)
	v, err := token.New(token.Config{Issuer: e.issuer.URL(), JWKSURL: e.issuer.JWKSURL(), Audience: testAudience,
		Revocations: e.revoked, CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	oauth, err := hydra.New(e.hydra.Admin.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	rev := edge.NewRevocations(e.revoked, logger, e.reg, nil)
	api, err := New(Options{Tokens: v, Accounts: &identity.Accounts{Identities: kc, OAuth: oauth, Revoker: rev},
		Lockouts: e.lockouts, Events: e.events, Directory: kc, Logger: logger, Now: func() time.Time { return e.now }})
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New("identity", logger)
	api.Mount(srv.Router)
	ts := httptest.NewServer(srv.Router)
	t.Cleanup(ts.Close)
	e.URL = ts.URL
	return e
}

// user adds an identity with role and a session of it.
func (e *rig) user(role string) (string, fakeory.Session) {
	id := e.kratos.AddIdentity(fakeory.Identity{Email: strings.ToLower(fakeory.NewID()[:8]) + "@example.org", Name: "Test", Role: role})
	return id, e.kratos.AddSession(id)
}

// admin is a new admin's access token.
func (e *rig) admin() (id, tok string) {
	id, s := e.user("admin")
	return id, e.token(id, s.ID, "admin")
}

// token signs an access token for the edge's audience.
func (e *rig) token(sub, sessionID, role string) string {
	return e.issuer.Sign(e.issuer.AccessToken(sub, sessionID, role, testAudience))
}

// do sends a request; headers are name, value pairs.
func (e *rig) do(method, path, body string, headers ...string) edgetest.Answer {
	e.t.Helper()
	return edgetest.Do(e.t, method, e.URL+path, body, headers...)
}

// api calls the admin API with a bearer token and a JSON body.
func (e *rig) api(method, path, body, tok string) edgetest.Answer {
	e.t.Helper()
	h := []string{"Authorization", "Bearer " + tok}
	if body != "" {
		h = append(h, "Content-Type", "application/json")
	}
	return e.do(method, path, body, h...)
}

func (e *rig) revocationCount(reason, outcome string) float64 {
	return edgetest.Counter(e.t, e.reg, "identity_token_revocations_total", "reason", reason, "outcome", outcome)
}

func TestNewRequiresTokensAndAccounts(t *testing.T) {
	if _, err := New(Options{Accounts: &identity.Accounts{}}); err == nil {
		t.Fatal("no validator accepted")
	}
	if _, err := New(Options{Tokens: &token.Validator{}}); err == nil {
		t.Fatal("no accounts accepted")
	}
}

// record calls one handler directly.
func record(h http.HandlerFunc, method, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h(rec, httptest.NewRequest(method, target, nil))
	return rec
}
