package hooks

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/learnplatform/platform/identity"
	"github.com/learnplatform/platform/identity/internal/edge"
	"github.com/learnplatform/platform/identity/internal/edgetest"
	fakeory "github.com/learnplatform/platform/kit/orytest"
	"github.com/learnplatform/platform/kit/server"
)

const secret = "9c1e4b7a2f5d8036e1b4a7c0d3f6e9b2"

type rig struct {
	t        *testing.T
	URL      string
	revoked  *edgetest.Revocations
	events   *edgetest.Events
	lockouts *edgetest.Lockouts
}

func newRig(t *testing.T) *rig {
	e := &rig{t: t, revoked: &edgetest.Revocations{}, events: &edgetest.Events{}, lockouts: edgetest.NewLockouts(identity.DefaultLockoutPolicy())}
	logs := &edgetest.Logs{}
	rev := edge.NewRevocations(e.revoked, logs.Logger(), prometheus.NewRegistry(), []time.Duration{time.Millisecond})
	h, err := New(Options{Secret: secret, Lockouts: e.lockouts, Events: e.events, Revocations: rev, Logger: logs.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New("identity", logs.Logger())
	h.Mount(srv.Router)
	ts := httptest.NewServer(srv.Router)
	t.Cleanup(ts.Close)
	e.URL = ts.URL
	return e
}

// call posts a hook body to /hooks/kratos/event with the right secret.
func (e *rig) call(event, body string) edgetest.Answer {
	e.t.Helper()
	return edgetest.Do(e.t, "POST", e.URL+"/hooks/kratos/"+event, body, "Content-Type", "application/json", SecretHeader, secret)
}

func TestNewRequiresSecretAndRevocations(t *testing.T) {
	rev := edge.NewRevocations(&edgetest.Revocations{}, nil, nil, nil)
	if _, err := New(Options{Revocations: rev}); err == nil {
		t.Fatal("no secret accepted")
	}
	if _, err := New(Options{Secret: secret}); err == nil {
		t.Fatal("no revocations accepted")
	}
}

// Without the shared secret nothing is recorded.
func TestHookSecret(t *testing.T) {
	e := newRig(t)
	body := `{"identity_id":"` + fakeory.NewID() + `","email":"x@example.org"}`
	for name, headers := range map[string][]string{
		"none":           {},
		"wrong":          {SecretHeader, "0000000000000000"},
		"a prefix of it": {SecretHeader, secret[:16]},
	} {
		a := edgetest.Do(t, "POST", e.URL+"/hooks/kratos/registration", body, append([]string{"Content-Type", "application/json"}, headers...)...)
		if code, _ := edgetest.ErrorCode(t, a); a.Status != http.StatusUnauthorized || code != "unauthorized" {
			t.Fatalf("%s: %d %s", name, a.Status, a.Body)
		}
	}
	if ev := e.events.OfType(identity.EventRegistration); len(ev) != 0 {
		t.Fatalf("recorded without the secret: %+v", ev)
	}
}

// Each hook is recorded as its event type, with the method, the client's
// first address and agent; malformed ids are dropped, never stored.
func TestHooksRecordEvents(t *testing.T) {
	e := newRig(t)
	id, flow := fakeory.NewID(), fakeory.NewID()
	for event, want := range map[string]string{
		"registration":      identity.EventRegistration,
		"login":             identity.EventLoginSucceeded,
		"verification":      identity.EventVerificationCompleted,
		"settings-password": identity.EventPasswordChanged,
		"settings-profile":  identity.EventProfileChanged,
	} {
		t.Run(event, func(t *testing.T) {
			body := `{"identity_id":"` + id + `","email":" Ann@Example.org","flow_id":"` + flow + `","method":"password",` +
				`"ip":"203.0.113.7, 10.0.0.1","user_agent":"Firefox"}`
			if a := e.call(event, body); a.Status != http.StatusNoContent {
				t.Fatalf("%d %s", a.Status, a.Body)
			}
			ev := e.events.OfType(want)
			if len(ev) != 1 || ev[0].IdentityID != id || ev[0].Email != "ann@example.org" || ev[0].FlowID != flow ||
				ev[0].IP != "203.0.113.7" || ev[0].UserAgent != "Firefox" || ev[0].Detail["method"] != "password" {
				t.Fatalf("%+v", ev)
			}
		})
	}
	t.Run("social link and unlink", func(t *testing.T) {
		e.call("settings-oidc", `{"identity_id":"`+id+`","request_url":"https://edge/self-service/methods/oidc/callback/github"}`)
		e.call("settings-oidc", `{"identity_id":"`+id+`","request_url":"https://edge/self-service/settings?flow=x"}`)
		if len(e.events.OfType(identity.EventSocialLinked)) != 1 || len(e.events.OfType(identity.EventSocialUnlinked)) != 1 {
			t.Fatal("link and unlink not told apart")
		}
	})
	t.Run("malformed ids", func(t *testing.T) {
		e.call("registration", `{"identity_id":"'; DROP TABLE x","flow_id":"nope","email":"bad@example.org"}`)
		for _, ev := range e.events.OfType(identity.EventRegistration) {
			if ev.Email == "bad@example.org" && (ev.IdentityID != "" || ev.FlowID != "") {
				t.Fatalf("%+v", ev)
			}
		}
	})
}

func TestHookBadRequests(t *testing.T) {
	e := newRig(t)
	if a := e.call("registration", "not json"); a.Status != http.StatusBadRequest {
		t.Fatalf("bad body: %d %s", a.Status, a.Body)
	}
	if a := e.call("deletion", `{}`); a.Status != http.StatusNotFound {
		t.Fatalf("unknown hook: %d %s", a.Status, a.Body)
	}
	if a := e.call("recovery", strings.Repeat(" ", 70<<10)+"{}"); a.Status != http.StatusBadRequest {
		t.Fatalf("a body over 64 KiB: %d", a.Status)
	}
}

// A completed recovery (Kratos' after-hook) voids every token of the
// identity and clears its lockout.
func TestRecoveryHookRevokes(t *testing.T) {
	e := newRig(t)
	id := fakeory.NewID()
	body := `{"identity_id":"` + id + `","email":"X@example.org","flow_id":"","method":"code"}`
	for range identity.DefaultLockoutPolicy().MaxFailures {
		_, _ = e.lockouts.Reserve(context.Background(), "x@example.org", "192.0.2.1", time.Now())
	}
	a := e.call("recovery", body)
	if a.Status != http.StatusNoContent {
		t.Fatalf("%d %s", a.Status, a.Body)
	}
	if got := e.revoked.All(); !slices.Equal(got, []edgetest.Revocation{{Subject: id, Reason: identity.ReasonRecovered}}) {
		t.Fatalf("revocations: %+v", got)
	}
	if len(e.events.OfType(identity.EventRecoveryCompleted)) != 1 {
		t.Fatal("no event")
	}
	if ev := e.events.OfType(identity.EventUnlock); len(ev) != 1 || ev[0].Detail["reason"] != "recovery" || ev[0].IdentityID != id {
		t.Fatalf("unlock events %+v", ev)
	}
	if locks, _ := e.lockouts.Locked(context.Background(), time.Now()); len(locks) != 0 {
		t.Fatalf("still locked: %+v", locks)
	}
	t.Run("database down: 503, retried", func(t *testing.T) {
		e.revoked.FailNext(1)
		a := e.call("recovery", body)
		if code, _ := edgetest.ErrorCode(t, a); a.Status != http.StatusServiceUnavailable || code != "unavailable" {
			t.Fatalf("%d %s", a.Status, a.Body)
		}
		edgetest.WaitFor(t, "retried", func() bool { return len(e.revoked.All()) == 2 })
	})
	t.Run("no identity: nothing to revoke", func(t *testing.T) {
		before := len(e.revoked.All())
		if a := e.call("recovery", `{"email":"y@example.org"}`); a.Status != http.StatusNoContent || len(e.revoked.All()) != before {
			t.Fatalf("%d, %d revocations", a.Status, len(e.revoked.All())-before)
		}
	})
}
