package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/learnplatform/platform/identity"
	"github.com/learnplatform/platform/identity/hydra"
	"github.com/learnplatform/platform/identity/internal/fakeory"
	"github.com/learnplatform/platform/identity/kratos"
	"github.com/learnplatform/platform/kit/server"
	"github.com/learnplatform/platform/kit/token"
)

// testEdge is the edge in front of fake Kratos and Hydra (identity/internal/
// fakeory, their JSON), with kit/token's real validator against a fake
// issuer, and in-memory revocations and event log.
type testEdge struct {
	t       *testing.T
	URL     string
	h       *Handler
	kratos  *fakeory.Kratos
	hydra   *fakeory.Hydra
	issuer  *fakeory.Issuer
	revoked *memRevocations
	events  *memEvents
	logs    *syncBuffer
	reg     *prometheus.Registry
}

const testAudience = "identity-api"
const hookSecret = "9c1e4b7a2f5d8036e1b4a7c0d3f6e9b2"

func newTestEdge(t *testing.T) *testEdge {
	t.Helper()
	e := &testEdge{t: t, kratos: fakeory.NewKratos(t), hydra: fakeory.NewHydra(t), issuer: fakeory.NewIssuer(t),
		revoked: &memRevocations{}, events: &memEvents{}, logs: &syncBuffer{}, reg: prometheus.NewRegistry()}
	var handler http.Handler
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(ts.Close)
	e.URL = ts.URL
	logger := slog.New(slog.NewTextHandler(e.logs, nil))
	hc := &http.Client{Timeout: 5 * time.Second, Transport: kratos.CookieTransport{},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	kc := kratos.New(e.kratos.Public.URL, e.kratos.Admin.URL, hc)
	v, err := token.New(token.Config{Issuer: e.issuer.URL(), JWKSURL: e.issuer.JWKSURL(), Audience: testAudience,
		Revocations: e.revoked, CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	oauth, err := hydra.New(e.hydra.Admin.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	must := func(s string) *url.URL { u, _ := url.Parse(s); return u }
	h, err := New(Options{
		Kratos: kc, KratosPublic: must(e.kratos.Public.URL), PublicURL: must(ts.URL + "/"),
		Password:     identity.DefaultPolicy().PasswordPolicy.Active(),
		MaxBodyBytes: 64 << 10, Logger: logger, Events: e.events, Tokens: v,
		Admin: kc, Revoker: e.revoked, OAuth: oauth, HookSecret: hookSecret, Registerer: e.reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.retryDelays = []time.Duration{20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond}
	e.h = h
	srv := server.New("identity", logger)
	h.Mount(srv.Router)
	handler = srv.Router
	return e
}

// user adds an identity with role and a session of it.
func (e *testEdge) user(role string) (string, fakeory.Session) {
	id := e.kratos.AddIdentity(fakeory.Identity{Email: strings.ToLower(fakeory.NewID()[:8]) + "@example.org", Name: "Test", Role: role})
	return id, e.kratos.AddSession(id)
}

// token signs an access token for the edge's audience.
func (e *testEdge) token(sub, sessionID, role string) string {
	return e.issuer.Sign(e.issuer.AccessToken(sub, sessionID, role, testAudience))
}

type answer struct {
	Status int
	Header http.Header
	Body   string
}

// do sends a request (redirects not followed); headers are name, value
// pairs.
func (e *testEdge) do(method, path, body string, headers ...string) answer {
	e.t.Helper()
	req, err := http.NewRequest(method, e.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return answer{res.StatusCode, res.Header, string(b)}
}

// api calls the admin API with a bearer token and a JSON body.
func (e *testEdge) api(method, path, body, tok string) answer {
	e.t.Helper()
	h := []string{"Authorization", "Bearer " + tok}
	if body != "" {
		h = append(h, "Content-Type", "application/json")
	}
	return e.do(method, path, body, h...)
}

// browserPost is a same-origin form post of a signed-in browser.
func (e *testEdge) browserPost(path string, s fakeory.Session) answer {
	return e.do("POST", path, "", "Cookie", s.Cookie(), "Origin", e.URL, "Content-Type", "application/x-www-form-urlencoded")
}

// revocationMetric is identity_token_revocations_total for reason and outcome.
func (e *testEdge) revocationMetric(reason, outcome string) float64 {
	return testutil.ToFloat64(e.h.metrics.revocations.WithLabelValues(reason, outcome))
}

// errorCode reads the platform's {"error": {"code", "message"}} shape.
func errorCode(t *testing.T, a answer) (code, message string) {
	t.Helper()
	var b struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(a.Body), &b); err != nil || b.Error.Code == "" || b.Error.Message == "" {
		t.Fatalf("not the platform's error shape (%d): %s", a.Status, a.Body)
	}
	return b.Error.Code, b.Error.Message
}

// revocation is one record the edge wrote.
type revocation struct {
	Subject, Keep, Session, Reason string
	At                             time.Time
}

// memRevocations is the revocation store and the token validator's list
// in one: what the edge writes, tokens are refused for, as with
// kit/revocation's Store and List on one database.
type memRevocations struct {
	mu       sync.Mutex
	records  []revocation
	failures int  // the next writes that fail
	down     bool // every write fails
}

var errDatabaseDown = errors.New("postgres: dial tcp 127.0.0.1:5432: connect: connection refused")

func (m *memRevocations) write(r revocation) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down || m.failures > 0 {
		m.failures--
		return errDatabaseDown
	}
	r.At = time.Now()
	m.records = append(m.records, r)
	return nil
}

func (m *memRevocations) RevokeSubject(_ context.Context, subject, keep, reason string) error {
	return m.write(revocation{Subject: subject, Keep: keep, Reason: reason})
}

func (m *memRevocations) RevokeSession(_ context.Context, sessionID, reason string) error {
	return m.write(revocation{Session: sessionID, Reason: reason})
}

// Revoked implements token.RevocationList like kit/revocation's List.
func (m *memRevocations) Revoked(subject, sessionID, _ string, issuedAt time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.records {
		if r.Session != "" && r.Session == sessionID {
			return true
		}
		if r.Subject == subject && !issuedAt.After(r.At.Truncate(time.Second)) && (r.Keep == "" || r.Keep != sessionID) {
			return true
		}
	}
	return false
}

func (m *memRevocations) setDown(down bool) { m.mu.Lock(); m.down = down; m.mu.Unlock() }

func (m *memRevocations) all() []revocation {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := append([]revocation(nil), m.records...)
	for i := range out {
		out[i].At = time.Time{}
	}
	return out
}

// memEvents is an in-memory auth event log.
type memEvents struct {
	mu     sync.Mutex
	events []identity.Event
}

func (m *memEvents) Record(_ context.Context, e identity.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, e)
}

func (m *memEvents) List(context.Context, identity.EventFilter) ([]identity.Event, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]identity.Event(nil), m.events...), "", nil
}

func (m *memEvents) ofType(typ string) []identity.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []identity.Event
	for _, e := range m.events {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 5s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
