package postgres

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/learnplatform/platform/identity"
)

// EventLog implements identity.EventLog. Record hands events to a writer
// goroutine that inserts them in batches, so a sign-in never waits for the
// log; Close drains what is queued.
type EventLog struct {
	db     *pgxpool.Pool
	logger *slog.Logger
	queue  chan identity.Event
	wg     sync.WaitGroup
	now    func() time.Time
}

// eventQueue is how many events may wait for the writer; beyond it Record
// writes synchronously rather than drop one.
const eventQueue = 4096

// NewEventLog starts the writer.
func NewEventLog(db *pgxpool.Pool, logger *slog.Logger) *EventLog {
	l := &EventLog{db: db, logger: logger, queue: make(chan identity.Event, eventQueue), now: time.Now}
	l.wg.Add(1)
	go l.run()
	return l
}

var _ identity.EventLog = (*EventLog)(nil)

// Record implements identity.EventLog.
func (l *EventLog) Record(ctx context.Context, e identity.Event) {
	if e.OccurredAt.IsZero() {
		e.OccurredAt = l.now()
	}
	if e.Detail == nil {
		e.Detail = map[string]any{}
	}
	select {
	case l.queue <- e:
	default:
		if err := l.insert(context.WithoutCancel(ctx), []identity.Event{e}); err != nil {
			l.logger.Error("auth event lost", "type", e.Type, "error", err)
		}
	}
}

// Close stops accepting events and writes those queued.
func (l *EventLog) Close() {
	close(l.queue)
	l.wg.Wait()
}

func (l *EventLog) run() {
	defer l.wg.Done()
	batch := make([]identity.Event, 0, 256)
	for e := range l.queue {
		batch = append(batch[:0], e)
	fill:
		for len(batch) < cap(batch) {
			select {
			case e, ok := <-l.queue:
				if !ok {
					break fill
				}
				batch = append(batch, e)
			default:
				break fill
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := l.insert(ctx, batch)
		if err != nil { // one retry: a restarting database should not lose events
			time.Sleep(500 * time.Millisecond)
			err = l.insert(ctx, batch)
		}
		cancel()
		if err != nil {
			l.logger.Error("auth events lost", "count", len(batch), "error", err)
		}
	}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (l *EventLog) insert(ctx context.Context, events []identity.Event) error {
	rows := make([][]any, len(events))
	for i, e := range events {
		detail, err := json.Marshal(e.Detail)
		if err != nil {
			detail = []byte(`{}`)
		}
		rows[i] = []any{e.OccurredAt, e.Type, nullable(e.IdentityID), nullable(e.Email), nullable(e.IP),
			nullable(e.UserAgent), nullable(e.FlowID), detail}
	}
	_, err := l.db.CopyFrom(ctx, pgx.Identifier{"auth_event_log"},
		[]string{"occurred_at", "event_type", "identity_id", "email", "ip", "user_agent", "flow_id", "detail"},
		pgx.CopyFromRows(rows))
	return err
}

// MaxEventPage bounds one page of List.
const MaxEventPage = 500

// List implements identity.EventLog: newest first, keyset-paginated on
// (occurred_at, id).
func (l *EventLog) List(ctx context.Context, f identity.EventFilter) ([]identity.Event, string, error) {
	if f.Limit <= 0 || f.Limit > MaxEventPage {
		return nil, "", fmt.Errorf("limit must be between 1 and %d", MaxEventPage)
	}
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	switch {
	case f.IdentityID != "" && f.Email != "":
		where = append(where, "(identity_id = "+arg(f.IdentityID)+" OR email = "+arg(f.Email)+")")
	case f.IdentityID != "":
		where = append(where, "identity_id = "+arg(f.IdentityID))
	case f.Email != "":
		where = append(where, "email = "+arg(f.Email))
	}
	if f.Type != "" {
		where = append(where, "event_type = "+arg(f.Type))
	}
	if !f.Since.IsZero() {
		where = append(where, "occurred_at >= "+arg(f.Since))
	}
	if !f.Until.IsZero() {
		where = append(where, "occurred_at < "+arg(f.Until))
	}
	if f.After != "" {
		at, id, err := decodeCursor(f.After)
		if err != nil {
			return nil, "", err
		}
		where = append(where, "(occurred_at, id) < ("+arg(at)+", "+arg(id)+")")
	}
	q := `SELECT id, occurred_at, event_type, coalesce(identity_id::text, ''), coalesce(email, ''), coalesce(ip, ''),
	             coalesce(user_agent, ''), coalesce(flow_id::text, ''), detail
	      FROM auth_event_log`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY occurred_at DESC, id DESC LIMIT " + arg(f.Limit+1)
	rows, err := l.db.Query(ctx, q, args...)
	if err != nil {
		return nil, "", err
	}
	events, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (identity.Event, error) {
		var e identity.Event
		err := r.Scan(&e.ID, &e.OccurredAt, &e.Type, &e.IdentityID, &e.Email, &e.IP, &e.UserAgent, &e.FlowID, &e.Detail)
		return e, err
	})
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(events) > f.Limit {
		events = events[:f.Limit]
		last := events[len(events)-1]
		next = encodeCursor(last.OccurredAt, last.ID)
	}
	return events, next, nil
}

func encodeCursor(at time.Time, id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at.UnixMicro(), 10) + ":" + strconv.FormatInt(id, 10)))
}

func decodeCursor(s string) (time.Time, int64, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return time.Time{}, 0, identity.ErrBadCursor
	}
	a, b, ok := strings.Cut(string(raw), ":")
	us, err1 := strconv.ParseInt(a, 10, 64)
	id, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return time.Time{}, 0, identity.ErrBadCursor
	}
	return time.UnixMicro(us), id, nil
}
