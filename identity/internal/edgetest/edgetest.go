// Package edgetest holds in-memory stand-ins for the edge's stores and
// helpers its packages' tests share: token revocations (also a
// kit/token revocation list), the auth event log, lockouts and mail
// quotas with the PostgreSQL stores' rules, a lockout notifier, a log
// buffer, and readers for metrics. Only tests import it; the Kratos and
// Hydra fakes are kit/orytest.
package edgetest

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/learnplatform/platform/identity"
	"github.com/learnplatform/platform/kit/kratos"
)

// KratosClient is the edge's Kratos client for a fake's public and admin
// URLs, set up as cmd/identity sets it up (redirects relayed, never
// followed).
func KratosClient(publicURL, adminURL string) *kratos.Client {
	hc := &http.Client{Timeout: 5 * time.Second, Transport: kratos.CookieTransport{},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return kratos.New(publicURL, adminURL, hc)
}

// Logs is a log sink tests can read while the code under test writes.
type Logs struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Logger returns a text logger writing to l.
func (l *Logs) Logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// Write implements io.Writer.
func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String is everything logged so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// WaitFor polls cond for up to 5 s, for what the edge does after
// answering.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 5s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Counter is the value of the counter name with the given label values
// (name, value pairs) in reg; 0 when it was never counted.
func Counter(t testing.TB, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if hasLabels(m, labels) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func hasLabels(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Revocation is one record written.
type Revocation struct {
	Subject, Keep, Session, Reason string
}

// ErrDatabaseDown is what Revocations (and the other stores) answer while
// down.
var ErrDatabaseDown = errors.New("postgres: dial tcp 127.0.0.1:5432: connect: connection refused")

// Revocations is the revocation store and the token validator's list in
// one: what the edge writes, tokens are refused for, as with
// kit/revocation's Store and List on one database.
type Revocations struct {
	mu       sync.Mutex
	records  []Revocation
	at       []time.Time
	failures int  // the next writes that fail
	down     bool // every write fails
}

func (m *Revocations) write(r Revocation) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down || m.failures > 0 {
		m.failures--
		return ErrDatabaseDown
	}
	m.records = append(m.records, r)
	m.at = append(m.at, time.Now())
	return nil
}

// RevokeSubject implements identity.Revoker.
func (m *Revocations) RevokeSubject(_ context.Context, subject, keep, reason string) error {
	return m.write(Revocation{Subject: subject, Keep: keep, Reason: reason})
}

// RevokeSession implements identity.Revoker.
func (m *Revocations) RevokeSession(_ context.Context, sessionID, reason string) error {
	return m.write(Revocation{Session: sessionID, Reason: reason})
}

// Revoked implements token.RevocationList like kit/revocation's List.
func (m *Revocations) Revoked(subject, sessionID, _ string, issuedAt time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, r := range m.records {
		if r.Session != "" && r.Session == sessionID {
			return true
		}
		if r.Subject == subject && !issuedAt.After(m.at[i].Truncate(time.Second)) && (r.Keep == "" || r.Keep != sessionID) {
			return true
		}
	}
	return false
}

// SetDown makes every write fail (true) or succeed again.
func (m *Revocations) SetDown(down bool) { m.mu.Lock(); m.down = down; m.mu.Unlock() }

// FailNext makes the next n writes fail.
func (m *Revocations) FailNext(n int) { m.mu.Lock(); m.failures = n; m.mu.Unlock() }

// All lists the records written, oldest first.
func (m *Revocations) All() []Revocation {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.records)
}

// Events is an in-memory auth event log. List filters like
// identity/postgres (identity id or address, type, time), newest first,
// and pages by position (the cursor is a decimal offset).
type Events struct {
	mu      sync.Mutex
	events  []identity.Event
	filters []identity.EventFilter
	// Fail makes List fail with it.
	Fail error
}

// Record implements identity.EventLog.
func (m *Events) Record(_ context.Context, e identity.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e.OccurredAt.IsZero() {
		e.OccurredAt = time.Now()
	}
	e.ID = int64(len(m.events) + 1)
	m.events = append(m.events, e)
}

// List implements identity.EventLog.
func (m *Events) List(_ context.Context, f identity.EventFilter) ([]identity.Event, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.filters = append(m.filters, f)
	if m.Fail != nil {
		return nil, "", m.Fail
	}
	skip := 0
	if f.After != "" {
		n, err := strconv.Atoi(f.After)
		if err != nil || n < 0 {
			return nil, "", identity.ErrBadCursor
		}
		skip = n
	}
	var out []identity.Event
	for i := len(m.events) - 1; i >= 0; i-- {
		e := m.events[i]
		switch {
		case f.IdentityID != "" && f.Email != "" && e.IdentityID != f.IdentityID && e.Email != f.Email,
			f.IdentityID != "" && f.Email == "" && e.IdentityID != f.IdentityID,
			f.IdentityID == "" && f.Email != "" && e.Email != f.Email,
			f.Type != "" && e.Type != f.Type,
			!f.Since.IsZero() && e.OccurredAt.Before(f.Since),
			!f.Until.IsZero() && !e.OccurredAt.Before(f.Until):
			continue
		}
		out = append(out, e)
	}
	if skip >= len(out) {
		return nil, "", nil
	}
	out = out[skip:]
	next := ""
	if f.Limit > 0 && len(out) > f.Limit {
		out, next = out[:f.Limit], strconv.Itoa(skip+f.Limit)
	}
	return out, next, nil
}

// OfType lists the events recorded of type typ, oldest first.
func (m *Events) OfType(typ string) []identity.Event {
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

// Filters lists the filters List was called with.
func (m *Events) Filters() []identity.EventFilter {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.filters)
}

// Notice is one lockout notice.
type Notice struct {
	Email string
	Until time.Time
}

// Notifier records lockout notices and hands each to Sent as well, so a
// test can wait for one without polling.
type Notifier struct {
	Sent chan Notice
}

// NewNotifier returns a notifier whose channel holds up to 100 notices.
func NewNotifier() *Notifier { return &Notifier{Sent: make(chan Notice, 100)} }

// LockedOut implements limits.Notifier.
func (n *Notifier) LockedOut(_ context.Context, email string, until time.Time) {
	n.Sent <- Notice{email, until}
}
