package postgres

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/learnplatform/platform/identity"
)

// record writes events through a log and closes it, so they are stored.
func record(t *testing.T, l *EventLog, events ...identity.Event) {
	t.Helper()
	for _, e := range events {
		l.Record(context.Background(), e)
	}
	l.Close()
}

func newLog(t *testing.T) (*EventLog, *EventLog) {
	db := newDB(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	w := NewEventLog(db, logger)
	r := NewEventLog(db, logger) // a second one to read after the first is closed
	t.Cleanup(r.Close)
	return w, r
}

// Events come back as written, newest first; empty fields are stored as
// NULL and read back empty; a missing time is the writing time.
func TestEventLogRoundTrip(t *testing.T) {
	t.Parallel()
	w, r := newLog(t)
	id, flow := "0b8e3f4c-1d2a-4b5c-8d9e-0f1a2b3c4d5e", "1b8e3f4c-1d2a-4b5c-8d9e-0f1a2b3c4d5e"
	record(t, w,
		identity.Event{OccurredAt: t0, Type: identity.EventLoginFailed, Email: "ada@example.org", IP: "192.0.2.1",
			UserAgent: "Firefox", FlowID: flow, Detail: map[string]any{"reason": "invalid_credentials", "failures": 2}},
		identity.Event{Type: identity.EventLogout, IdentityID: id})
	events, next, err := r.List(context.Background(), identity.EventFilter{Limit: 10})
	if err != nil || next != "" || len(events) != 2 {
		t.Fatalf("%+v %q %v", events, next, err)
	}
	latest, first := events[0], events[1]
	if latest.Type != identity.EventLogout || latest.IdentityID != id || latest.Email != "" || latest.Detail == nil ||
		time.Since(latest.OccurredAt) > time.Minute {
		t.Fatalf("latest %+v", latest)
	}
	if !first.OccurredAt.Equal(t0) || first.Email != "ada@example.org" || first.IP != "192.0.2.1" || first.UserAgent != "Firefox" ||
		first.FlowID != flow || first.Detail["reason"] != "invalid_credentials" || first.Detail["failures"] != float64(2) || first.ID == 0 {
		t.Fatalf("first %+v", first)
	}
}

// Filters: identity id (or, with an address too, either), address, type,
// time; pages follow (occurred_at, id) newest first.
func TestEventLogFilters(t *testing.T) {
	t.Parallel()
	w, r := newLog(t)
	id := "0b8e3f4c-1d2a-4b5c-8d9e-0f1a2b3c4d5e"
	var in []identity.Event
	for i, e := range []identity.Event{
		{Type: identity.EventLoginFailed, Email: "ada@example.org"},
		{Type: identity.EventLockout, Email: "ada@example.org"},
		{Type: identity.EventLoginSucceeded, IdentityID: id, Email: "ada@example.org"},
		{Type: identity.EventLoginSucceeded, Email: "bob@example.org"},
		{Type: identity.EventUnlock, IdentityID: id},
	} {
		e.OccurredAt = t0.Add(time.Duration(i) * time.Minute)
		in = append(in, e)
	}
	in = append(in, identity.Event{Type: identity.EventLogout, Email: "bob@example.org", OccurredAt: t0.Add(4 * time.Minute)}) // same time as the unlock
	record(t, w, in...)
	ctx := context.Background()
	count := func(f identity.EventFilter) int {
		t.Helper()
		f.Limit = 100
		events, _, err := r.List(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		return len(events)
	}
	for name, c := range map[string]struct {
		f    identity.EventFilter
		want int
	}{
		"identity":            {identity.EventFilter{IdentityID: id}, 2},
		"identity or address": {identity.EventFilter{IdentityID: id, Email: "ada@example.org"}, 4},
		"address":             {identity.EventFilter{Email: "bob@example.org"}, 2},
		"type":                {identity.EventFilter{Type: identity.EventLoginSucceeded}, 2},
		"since":               {identity.EventFilter{Since: t0.Add(3 * time.Minute)}, 3},
		"until":               {identity.EventFilter{Until: t0.Add(time.Minute)}, 1},
		"all":                 {identity.EventFilter{}, 6},
	} {
		if got := count(c.f); got != c.want {
			t.Errorf("%s: %d, want %d", name, got, c.want)
		}
	}

	var seen []identity.Event
	after := ""
	for range 10 {
		page, next, err := r.List(ctx, identity.EventFilter{Limit: 4, After: after})
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, page...)
		if next == "" {
			break
		}
		after = next
	}
	if len(seen) != 6 {
		t.Fatalf("paged through %d events", len(seen))
	}
	for i := 1; i < len(seen); i++ {
		a, b := seen[i-1], seen[i]
		if a.OccurredAt.Before(b.OccurredAt) || a.OccurredAt.Equal(b.OccurredAt) && a.ID < b.ID {
			t.Fatalf("not newest first at %d: %+v then %+v", i, a, b)
		}
	}
}

func TestEventLogBadRequests(t *testing.T) {
	t.Parallel()
	_, r := newLog(t)
	ctx := context.Background()
	for _, cursor := range []string{"!!", "bm9jb2xvbg", "MTox"[:3]} {
		if _, _, err := r.List(ctx, identity.EventFilter{Limit: 5, After: cursor}); !errors.Is(err, identity.ErrBadCursor) {
			t.Errorf("cursor %q: %v", cursor, err)
		}
	}
	for _, limit := range []int{0, MaxEventPage + 1} {
		if _, _, err := r.List(ctx, identity.EventFilter{Limit: limit}); err == nil {
			t.Errorf("limit %d accepted", limit)
		}
	}
}
