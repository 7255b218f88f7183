package proxy

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/learnplatform/platform/identity"
	"github.com/learnplatform/platform/identity/internal/edge"
	"github.com/learnplatform/platform/identity/internal/edgetest"
	"github.com/learnplatform/platform/identity/limits"
	"github.com/learnplatform/platform/identity/pages"
	fakeory "github.com/learnplatform/platform/kit/orytest"
	"github.com/learnplatform/platform/kit/server"
)

// rig is the proxy, with the pages and the limits it answers with, in
// front of fake Kratos (or another upstream), with in-memory stores.
type rig struct {
	t        *testing.T
	URL      string
	p        *Proxy
	kratos   *fakeory.Kratos
	self     *fakeory.SelfService
	revoked  *edgetest.Revocations
	events   *edgetest.Events
	lockouts *edgetest.Lockouts
	mail     *edgetest.MailQuota
	logs     *edgetest.Logs
	reg      *prometheus.Registry
}

const strongPassword = "Correct-Horse-42!x"

// newRig proxies to the Kratos fakes.
func newRig(t *testing.T) *rig { return newRigTo(t, "") }

// newRigTo proxies to upstream ("": the Kratos fakes); the edge's own
// calls to Kratos still go to the fakes.
func newRigTo(t *testing.T, upstream string) *rig {
	t.Helper()
	k := fakeory.NewKratos(t)
	e := &rig{t: t, kratos: k, self: k.NewSelfService(t), revoked: &edgetest.Revocations{}, events: &edgetest.Events{},
		lockouts: edgetest.NewLockouts(identity.DefaultLockoutPolicy()), mail: edgetest.NewMailQuota(identity.DefaultMailLimits()),
		logs: &edgetest.Logs{}, reg: prometheus.NewRegistry()}
	logger := e.logs.Logger()
	router := server.New("identity", logger).Router // request ids, as in production
	ts := httptest.NewServer(router)
	t.Cleanup(ts.Close)
	e.URL = ts.URL
	if upstream == "" {
		upstream = e.self.URL
	}
	kc := edgetest.KratosClient(e.self.URL, k.Admin.URL)
	public, _ := url.Parse(ts.URL + "/")
	target, _ := url.Parse(upstream)
	rev := edge.NewRevocations(e.revoked, logger, e.reg, []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond})
	password := identity.DefaultPolicy().PasswordPolicy.Active()
	ui, err := pages.New(pages.Options{Kratos: kc, PublicURL: public, Password: password, Events: e.events,
		Accounts: &identity.Accounts{Identities: kc, Revoker: rev}, Revoker: rev, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	guard := limits.New(limits.Options{Kratos: kc, Pages: ui, Lockouts: e.lockouts, MailQuota: e.mail, Directory: kc,
		Events: e.events, Logger: logger, Registerer: e.reg})
	t.Cleanup(guard.Wait)
	p, err := New(Options{Kratos: kc, KratosPublic: target, PublicURL: public, Pages: ui, Limits: guard,
		Password: password, MaxBodyBytes: 4 << 10, Events: e.events, Revocations: rev, Logger: logger, Registerer: e.reg})
	if err != nil {
		t.Fatal(err)
	}
	e.p = p
	r := router.With(p.SingleCookie)
	ui.Mount(r)
	p.Mount(r)
	return e
}

// user adds an identity with a session.
func (e *rig) user() (string, fakeory.Session) {
	id := e.kratos.AddIdentity(fakeory.Identity{Email: strings.ToLower(fakeory.NewID()[:8]) + "@example.org"})
	return id, e.kratos.AddSession(id)
}

// do sends a request to the edge; headers are name, value pairs.
func (e *rig) do(method, path, body string, headers ...string) edgetest.Answer {
	e.t.Helper()
	return edgetest.Do(e.t, method, e.URL+path, body, headers...)
}

func (e *rig) counter(name string, labels ...string) float64 {
	return edgetest.Counter(e.t, e.reg, name, labels...)
}
