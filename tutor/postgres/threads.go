// Package postgres implements the tutor's stores on PostgreSQL with pgx:
// threads and items (keyset pagination by created_at, id), the rolling
// message quota, courses, lessons and their full-text Retriever,
// enrollments, usage, feedback and retention. The schema is in
// migrations/sql (00010_tutor.sql); this package never migrates.
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/learnplatform/platform/tutor"
)

// DB is the tutor's PostgreSQL store.
type DB struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

// New wraps a pool.
func New(pool *pgxpool.Pool) *DB {
	return &DB{pool: pool, now: time.Now}
}

// Pool is the underlying pool (benchmarks query it directly).
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

var (
	_ tutor.ThreadStore = (*DB)(nil)
	_ tutor.CourseStore = (*DB)(nil)
	_ tutor.ReportStore = (*DB)(nil)
	_ tutor.Retriever   = (*DB)(nil)
)

func notFound(what, id string) error {
	return tutor.Errorf(tutor.ENOTFOUND, "no %s %q", what, id)
}

const threadCols = `id, user_id, coalesce(title, ''), status, coalesce(status_reason, ''), coalesce(course, ''), coalesce(lesson, ''), coalesce(stage, 0), created_at, updated_at`

func scanThread(row pgx.Row) (tutor.Thread, error) {
	var t tutor.Thread
	err := row.Scan(&t.ID, &t.UserID, &t.Title, &t.Status, &t.StatusReason, &t.Course, &t.Lesson, &t.Stage, &t.CreatedAt, &t.UpdatedAt)
	return t, err
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func nullableInt(i int) *int {
	if i == 0 {
		return nil
	}
	return &i
}

// The message quota: a transaction-scoped advisory lock per user makes
// counting and inserting one step for concurrent requests on any
// connection. The lock is its own statement, so the statement after it
// takes its snapshot once earlier holders have committed (READ COMMITTED).
// Both run in one pipelined batch, one implicit transaction: one round
// trip per message. A limit below zero means exempt (nothing counted).
const lockQuota = `SELECT pg_advisory_xact_lock(hashtextextended('tutor-quota:' || $1, 0))`

// quotaCTEs count the window ($2 user, $4 limit, $5 window seconds) and
// insert the message's quota row when there is room.
const quotaCTEs = `
	w AS (
		SELECT count(*) AS used, min(sent_at) AS oldest FROM tutor_message_quota
		WHERE $4::int >= 0 AND user_id = $2::text AND sent_at > clock_timestamp() - $5::float8 * interval '1 second'
	), q AS (
		INSERT INTO tutor_message_quota (user_id, sent_at)
		SELECT $2::text, clock_timestamp() FROM w WHERE $4::int >= 0 AND w.used < $4 %s
		RETURNING sent_at
	)`

// itemRows unnests items given as arrays $6..$11 for thread $1.
const itemRows = `SELECT i.id, $1::text, i.type, i.status, i.created_at, i.sources, i.payload
	FROM unnest($6::text[], $7::text[], $8::text[], $9::timestamptz[], $10::jsonb[], $11::jsonb[])
	  AS i(id, type, status, created_at, sources, payload)`

var createThreadSQL = `WITH` + fmt.Sprintf(quotaCTEs, "") + `, th AS (
		INSERT INTO tutor_threads (id, user_id, title, status, course, lesson, stage, created_at, updated_at)
		SELECT $1::text, $2::text, $12::text, 'active', $13::text, $14::text, $15::int, $3::timestamptz, $3::timestamptz WHERE $4::int < 0 OR EXISTS (SELECT 1 FROM q)
		RETURNING id
	), ins AS (
		INSERT INTO tutor_items (id, thread_id, type, status, created_at, sources, payload)
		` + itemRows + ` WHERE EXISTS (SELECT 1 FROM th)
		RETURNING 1
	)
	SELECT true, w.used, coalesce(w.oldest, (SELECT sent_at FROM q)), EXISTS (SELECT 1 FROM q), (SELECT count(*) FROM ins) FROM w`

var addItemsSQL = `WITH owner AS (
		SELECT id FROM tutor_threads WHERE id = $1 AND user_id = $2
	),` + fmt.Sprintf(quotaCTEs, "AND EXISTS (SELECT 1 FROM owner)") + `, ins AS (
		INSERT INTO tutor_items (id, thread_id, type, status, created_at, sources, payload)
		` + itemRows + ` WHERE EXISTS (SELECT 1 FROM owner) AND ($4 < 0 OR EXISTS (SELECT 1 FROM q))
		RETURNING 1
	), upd AS (
		UPDATE tutor_threads SET updated_at = greatest(updated_at, $3::timestamptz) WHERE id = $1 AND EXISTS (SELECT 1 FROM ins)
	)
	SELECT EXISTS (SELECT 1 FROM owner), w.used, coalesce(w.oldest, (SELECT sent_at FROM q)), EXISTS (SELECT 1 FROM q), (SELECT count(*) FROM ins) FROM w`

// itemArrays turns items into the arrays of itemRows.
func itemArrays(items []tutor.Item) ([]any, error) {
	n := len(items)
	ids, types, statuses := make([]string, n), make([]string, n), make([]string, n)
	ats := make([]time.Time, n)
	sources, payloads := make([]string, n), make([]string, n)
	for i, it := range items {
		src, err := json.Marshal(nonNil(it.Sources))
		if err != nil {
			return nil, err
		}
		ids[i], types[i], ats[i], sources[i], payloads[i] = it.ID, it.Type, it.CreatedAt, string(src), string(it.Payload)
		statuses[i] = it.Status
		if statuses[i] == "" {
			statuses[i] = tutor.ItemDone
		}
	}
	return []any{ids, types, statuses, ats, sources, payloads}, nil
}

// countedInsert runs the lock (for a counted quota) and sql in one batch,
// and reads the quota outcome.
func (db *DB) countedInsert(ctx context.Context, sql string, userID string, quota *tutor.Quota, args []any) (owned bool, qs tutor.QuotaState, err error) {
	b := &pgx.Batch{}
	if quota != nil {
		b.Queue(lockQuota, userID)
	}
	b.Queue(sql, args...)
	br := db.pool.SendBatch(ctx, b)
	defer func() {
		if cerr := br.Close(); err == nil && cerr != nil {
			err = cerr
		}
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23503" { // the thread was deleted meanwhile
			err = tutor.Errorf(tutor.ENOTFOUND, "the thread was deleted")
		}
	}()
	if quota != nil {
		if _, err = br.Exec(); err != nil {
			return false, qs, err
		}
	}
	var used, inserted int
	var oldest *time.Time
	var counted bool
	if err = br.QueryRow().Scan(&owned, &used, &oldest, &counted, &inserted); err != nil {
		return false, qs, err
	}
	if quota == nil {
		return owned, tutor.QuotaState{Exempt: true}, nil
	}
	qs = tutor.QuotaState{Limit: quota.Limit}
	if oldest != nil {
		qs.ResetsAt = oldest.Add(quota.Window)
	}
	if owned && !counted {
		return owned, qs, &tutor.RateLimitError{Quota: qs}
	}
	qs.Remaining = max(quota.Limit-used-1, 0)
	return owned, qs, nil
}

func quotaArgs(quota *tutor.Quota) (limit int, window float64) {
	if quota == nil {
		return -1, 0
	}
	return quota.Limit, quota.Window.Seconds()
}

// CreateThread implements tutor.ThreadStore in one round trip.
func (db *DB) CreateThread(ctx context.Context, th tutor.Thread, items []tutor.Item, quota *tutor.Quota) (tutor.QuotaState, error) {
	arrays, err := itemArrays(items)
	if err != nil {
		return tutor.QuotaState{}, err
	}
	limit, window := quotaArgs(quota)
	args := append([]any{th.ID, th.UserID, th.CreatedAt, limit, window}, arrays...)
	args = append(args, nullable(th.Title), nullable(th.Course), nullable(th.Lesson), nullableInt(th.Stage))
	_, qs, err := db.countedInsert(ctx, createThreadSQL, th.UserID, quota, args)
	return qs, err
}

// AddItems implements tutor.ThreadStore in one round trip. Another user's
// thread is ENOTFOUND and costs no message.
func (db *DB) AddItems(ctx context.Context, userID, threadID string, items []tutor.Item, quota *tutor.Quota) (tutor.QuotaState, error) {
	arrays, err := itemArrays(items)
	if err != nil {
		return tutor.QuotaState{}, err
	}
	limit, window := quotaArgs(quota)
	args := append([]any{threadID, userID, db.now(), limit, window}, arrays...)
	owned, qs, err := db.countedInsert(ctx, addItemsSQL, userID, quota, args)
	if err == nil && !owned {
		return qs, notFound("thread", threadID)
	}
	return qs, err
}

// Uncount implements tutor.ThreadStore: the user's newest quota row goes.
func (db *DB) Uncount(ctx context.Context, userID string) error {
	_, err := db.pool.Exec(ctx, `DELETE FROM tutor_message_quota WHERE ctid = (
		SELECT ctid FROM tutor_message_quota WHERE user_id = $1 ORDER BY sent_at DESC LIMIT 1)`, userID)
	return err
}

// QuotaState implements tutor.ThreadStore.
func (db *DB) QuotaState(ctx context.Context, userID string, quota tutor.Quota) (tutor.QuotaState, error) {
	var used int
	var oldest *time.Time
	err := db.pool.QueryRow(ctx, `SELECT count(*), min(sent_at) FROM tutor_message_quota
		WHERE user_id = $1 AND sent_at > clock_timestamp() - $2::float8 * interval '1 second'`, userID, quota.Window.Seconds()).Scan(&used, &oldest)
	if err != nil {
		return tutor.QuotaState{}, err
	}
	qs := tutor.QuotaState{Limit: quota.Limit, Remaining: max(quota.Limit-used, 0)}
	if oldest != nil {
		qs.ResetsAt = oldest.Add(quota.Window)
	}
	return qs, nil
}

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func insertItem(ctx context.Context, q execer, it tutor.Item) error {
	sources, err := json.Marshal(nonNil(it.Sources))
	if err != nil {
		return err
	}
	status := it.Status
	if status == "" {
		status = tutor.ItemDone
	}
	_, err = q.Exec(ctx, `INSERT INTO tutor_items (id, thread_id, type, status, created_at, sources, payload)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		it.ID, it.ThreadID, it.Type, status, it.CreatedAt, sources, []byte(it.Payload))
	return err
}

func nonNil(s []tutor.SourceRef) []tutor.SourceRef {
	if s == nil {
		return []tutor.SourceRef{}
	}
	return s
}

// SaveItem implements tutor.ThreadStore. An item whose thread was deleted
// meanwhile (the learner deleted it while the answer was written) is
// dropped without error.
func (db *DB) SaveItem(ctx context.Context, it tutor.Item) error {
	err := insertItem(ctx, db.pool, it)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23503" { // foreign_key_violation
		return nil
	}
	return err
}

// Thread implements tutor.ThreadStore.
func (db *DB) Thread(ctx context.Context, userID, threadID string) (tutor.Thread, error) {
	t, err := scanThread(db.pool.QueryRow(ctx, `SELECT `+threadCols+` FROM tutor_threads WHERE id = $1 AND user_id = $2`, threadID, userID))
	if errors.Is(err, pgx.ErrNoRows) {
		return t, notFound("thread", threadID)
	}
	return t, err
}

// keyset returns the comparison and ORDER BY for a page in order o.
func keyset(o tutor.Order) (cmp, order string) {
	if o == tutor.Asc {
		return ">", "ASC"
	}
	return "<", "DESC"
}

// Threads implements tutor.ThreadStore.
func (db *DB) Threads(ctx context.Context, userID string, p tutor.PageRequest) (tutor.Page[tutor.Thread], error) {
	cmp, order := keyset(p.Order)
	args := []any{userID, p.Limit + 1}
	where := "user_id = $1"
	if p.After != "" {
		var at time.Time
		err := db.pool.QueryRow(ctx, `SELECT created_at FROM tutor_threads WHERE id = $1 AND user_id = $2`, p.After, userID).Scan(&at)
		if errors.Is(err, pgx.ErrNoRows) {
			return tutor.Page[tutor.Thread]{}, tutor.Errorf(tutor.EINVALID, "after: no thread %q to continue from", p.After)
		} else if err != nil {
			return tutor.Page[tutor.Thread]{}, err
		}
		where += fmt.Sprintf(" AND (created_at, id) %s ($3, $4)", cmp)
		args = append(args, at, p.After)
	}
	rows, err := db.pool.Query(ctx, `SELECT `+threadCols+` FROM tutor_threads WHERE `+where+
		` ORDER BY created_at `+order+`, id `+order+` LIMIT $2`, args...)
	if err != nil {
		return tutor.Page[tutor.Thread]{}, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (tutor.Thread, error) { return scanThread(r) })
	if err != nil {
		return tutor.Page[tutor.Thread]{}, err
	}
	return page(out, p.Limit), nil
}

func page[T any](rows []T, limit int) tutor.Page[T] {
	if len(rows) > limit {
		return tutor.Page[T]{Data: rows[:limit], HasMore: true}
	}
	return tutor.Page[T]{Data: rows}
}

const itemCols = `id, thread_id, type, status, created_at, sources, payload`

func scanItem(row pgx.Row) (tutor.Item, error) {
	var it tutor.Item
	var sources, payload []byte
	if err := row.Scan(&it.ID, &it.ThreadID, &it.Type, &it.Status, &it.CreatedAt, &sources, &payload); err != nil {
		return it, err
	}
	it.Payload = payload
	if len(sources) > 2 { // "[]"
		if err := json.Unmarshal(sources, &it.Sources); err != nil {
			return it, err
		}
	}
	return it, nil
}

// Items implements tutor.ThreadStore. The thread's ownership is part of
// the same query, so a page costs one round trip.
func (db *DB) Items(ctx context.Context, userID, threadID string, p tutor.PageRequest) (tutor.Page[tutor.Item], error) {
	cmp, order := keyset(p.Order)
	// The owner check joins the thread; a thread of another user gives no
	// owner row, told apart from an empty page by the (null) marker row.
	rows, err := db.pool.Query(ctx, `
		WITH t AS (SELECT id FROM tutor_threads WHERE id = $1 AND user_id = $2),
		c AS (SELECT i.created_at, i.id FROM tutor_items i JOIN t ON i.thread_id = t.id
		      WHERE i.id = $4 AND i.type <> 'hidden_context_item')
		SELECT 0 AS k, NULL, NULL, NULL, NULL, NULL, NULL, NULL, (SELECT count(*) FROM c) FROM t
		UNION ALL
		(SELECT 1, i.id, i.thread_id, i.type, i.status, i.created_at, i.sources, i.payload, 0
		 FROM tutor_items i JOIN t ON i.thread_id = t.id
		 WHERE i.type <> 'hidden_context_item'
		   AND ($4 = '' OR (i.created_at, i.id) `+cmp+` (SELECT created_at, id FROM c))
		 ORDER BY i.created_at `+order+`, i.id `+order+` LIMIT $3)`,
		threadID, userID, p.Limit+1, p.After)
	if err != nil {
		return tutor.Page[tutor.Item]{}, err
	}
	defer rows.Close()
	owned, cursorFound := false, false
	items := make([]tutor.Item, 0, min(p.Limit+1, 256))
	for rows.Next() {
		var k int
		var id, tid, typ, status *string
		var at *time.Time
		var sources, payload []byte
		var cursors int64
		if err := rows.Scan(&k, &id, &tid, &typ, &status, &at, &sources, &payload, &cursors); err != nil {
			return tutor.Page[tutor.Item]{}, err
		}
		if k == 0 {
			owned, cursorFound = true, cursors > 0
			continue
		}
		it := tutor.Item{ID: *id, ThreadID: *tid, Type: *typ, Status: *status, CreatedAt: *at, Payload: payload}
		if len(sources) > 2 {
			if err := json.Unmarshal(sources, &it.Sources); err != nil {
				return tutor.Page[tutor.Item]{}, err
			}
		}
		items = append(items, it)
	}
	if err := rows.Err(); err != nil {
		return tutor.Page[tutor.Item]{}, err
	}
	if !owned {
		return tutor.Page[tutor.Item]{}, notFound("thread", threadID)
	}
	if p.After != "" && !cursorFound {
		return tutor.Page[tutor.Item]{}, tutor.Errorf(tutor.EINVALID, "after: no item %q in this thread to continue from", p.After)
	}
	return page(items, p.Limit), nil
}

// Item implements tutor.ThreadStore.
func (db *DB) Item(ctx context.Context, userID, threadID, itemID string) (tutor.Item, error) {
	it, err := scanItem(db.pool.QueryRow(ctx, `SELECT i.id, i.thread_id, i.type, i.status, i.created_at, i.sources, i.payload
		FROM tutor_items i JOIN tutor_threads t ON t.id = i.thread_id
		WHERE i.id = $1 AND i.thread_id = $2 AND t.user_id = $3`, itemID, threadID, userID))
	if errors.Is(err, pgx.ErrNoRows) {
		return it, notFound("item", itemID)
	}
	return it, err
}

// History implements tutor.ThreadStore.
func (db *DB) History(ctx context.Context, threadID string, n int) ([]tutor.Item, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+itemCols+` FROM tutor_items WHERE thread_id = $1
		ORDER BY created_at DESC, id DESC LIMIT $2`, threadID, n)
	if err != nil {
		return nil, err
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (tutor.Item, error) { return scanItem(r) })
	if err != nil {
		return nil, err
	}
	for i, j := 0, len(items)-1; i < j; i, j = i+1, j-1 {
		items[i], items[j] = items[j], items[i]
	}
	return items, nil
}

// UpdateTitle implements tutor.ThreadStore.
func (db *DB) UpdateTitle(ctx context.Context, userID, threadID, title string) (tutor.Thread, error) {
	t, err := scanThread(db.pool.QueryRow(ctx, `UPDATE tutor_threads SET title = $3 WHERE id = $1 AND user_id = $2 RETURNING `+threadCols,
		threadID, userID, nullable(title)))
	if errors.Is(err, pgx.ErrNoRows) {
		return t, notFound("thread", threadID)
	}
	return t, err
}

// DeleteThread implements tutor.ThreadStore.
func (db *DB) DeleteThread(ctx context.Context, userID, threadID string) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM tutor_threads WHERE id = $1 AND user_id = $2`, threadID, userID)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return notFound("thread", threadID)
	}
	return nil
}

// lockThread takes the thread's row lock for a retry: an answer still
// being stored into the thread (its insert holds a key-share lock on the
// row) finishes first, so the delete after it sees that answer.
const lockThread = `SELECT 1 FROM tutor_threads WHERE id = $1 AND user_id = $2 FOR UPDATE`

// retrySQL counts the retry against the quota (as addItemsSQL counts a
// message: the same CTEs, $2 user, $4 limit, $5 window) and deletes what
// follows the message only when it was counted (or the caller is exempt).
// Only a user message of the caller's own thread is counted or retried.
var retrySQL = `WITH msg AS (
		SELECT i.id, i.thread_id, i.type, i.status, i.created_at, i.sources, i.payload
		FROM tutor_items i JOIN tutor_threads t ON t.id = i.thread_id
		WHERE i.id = $3 AND i.thread_id = $1 AND t.user_id = $2
	), owner AS (
		SELECT created_at, id FROM msg WHERE type = 'user_message'
	),` + fmt.Sprintf(quotaCTEs, "AND EXISTS (SELECT 1 FROM owner)") + `, del AS (
		DELETE FROM tutor_items d USING owner
		WHERE d.thread_id = $1 AND (d.created_at, d.id) > (owner.created_at, owner.id)
		  AND ($4 < 0 OR EXISTS (SELECT 1 FROM q))
		RETURNING 1
	)
	SELECT msg.id, msg.thread_id, msg.type, msg.status, msg.created_at, msg.sources, msg.payload,
		w.used, coalesce(w.oldest, (SELECT sent_at FROM q)), EXISTS (SELECT 1 FROM q), (SELECT count(*) FROM del)
	FROM w LEFT JOIN msg ON true`

// DeleteItemsAfter implements tutor.ThreadStore in one round trip, as
// AddItems: a pipelined batch (one implicit transaction) of the quota lock
// (when counted), the thread's row lock and one statement that counts the
// retry and deletes only if it was counted.
func (db *DB) DeleteItemsAfter(ctx context.Context, userID, threadID, itemID string, quota *tutor.Quota) (it tutor.Item, qs tutor.QuotaState, err error) {
	limit, window := quotaArgs(quota)
	b := &pgx.Batch{}
	if quota != nil {
		b.Queue(lockQuota, userID)
	}
	b.Queue(lockThread, threadID, userID)
	b.Queue(retrySQL, threadID, userID, itemID, limit, window)
	br := db.pool.SendBatch(ctx, b)
	defer func() {
		if cerr := br.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	if quota != nil {
		if _, err = br.Exec(); err != nil {
			return it, qs, err
		}
	}
	if _, err = br.Exec(); err != nil {
		return it, qs, err
	}
	var id, tid, typ, status *string
	var at *time.Time
	var sources, payload []byte
	var used int
	var oldest *time.Time
	var counted bool
	var deleted int64
	if err = br.QueryRow().Scan(&id, &tid, &typ, &status, &at, &sources, &payload, &used, &oldest, &counted, &deleted); err != nil {
		return it, qs, err
	}
	if id == nil {
		return it, qs, notFound("item", itemID)
	}
	if *typ != tutor.ItemUserMessage {
		return it, qs, tutor.Errorf(tutor.EINVALID, "item %q is not a user message; retry after the message you want answered again", itemID)
	}
	it = tutor.Item{ID: *id, ThreadID: *tid, Type: *typ, Status: *status, CreatedAt: *at, Payload: payload}
	if len(sources) > 2 {
		if err = json.Unmarshal(sources, &it.Sources); err != nil {
			return tutor.Item{}, qs, err
		}
	}
	if quota == nil {
		return it, tutor.QuotaState{Exempt: true}, nil
	}
	qs = tutor.QuotaState{Limit: quota.Limit}
	if oldest != nil {
		qs.ResetsAt = oldest.Add(quota.Window)
	}
	if !counted {
		return tutor.Item{}, qs, &tutor.RateLimitError{Quota: qs}
	}
	qs.Remaining = max(quota.Limit-used-1, 0)
	return it, qs, nil
}
