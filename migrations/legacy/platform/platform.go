// Package platform keeps the legacy migration's state in the platform
// database (migrations/sql/00020_legacy_migration.sql): the mapping legacy
// id → identity id, the batch checkpoints, run-time conflicts, the runs,
// the login attempts copied into auth_event_log and the platform rows
// rewritten from legacy ids to identity ids (legacy.UserTables), with what
// rollback needs to undo each.
package platform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/learnplatform/platform/migrations/legacy"
)

// DB is the migration's state in the platform database: the mapping
// legacy id → identity id, the batch checkpoints, run-time conflicts, the
// copied login attempts and the rewritten platform rows.
type DB struct {
	pool *pgxpool.Pool
}

// stateTables are this package's tables (migrations/sql/00020_*.sql).
var stateTables = []string{
	"legacy_identity_map", "legacy_migration_batches", "legacy_migration_state",
	"legacy_migration_conflicts", "legacy_rewrite_journal", "legacy_migration_runs",
}

// Names in legacy_migration_state.
const (
	stateSource = "source"
	stateEvents = "events"
	stateBackup = "backup"
)

// Open connects to the platform database and checks its schema
// (checkSchema): every command needs the migration's tables.
func Open(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("platform database: %w", err)
	}
	// Timestamps turned into text (journal keys) must read the same in
	// every session.
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	cfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("platform database: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("platform database: %w", err)
	}
	p := &DB{pool: pool}
	if err := p.checkSchema(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return p, nil
}

// Close closes the connections.
func (p *DB) Close() { p.pool.Close() }

// checkSchema reports whether the migration's tables and every legacy.UserTables
// column exist.
func (p *DB) checkSchema(ctx context.Context) error {
	var missing []string
	for _, t := range stateTables {
		var ok bool
		if err := p.pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, t).Scan(&ok); err != nil {
			return fmt.Errorf("platform database: %w", err)
		}
		if !ok {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("platform database lacks %s: apply the platform migrations first (`migrate up`)", strings.Join(missing, ", "))
	}
	for _, ut := range legacy.UserTables {
		cols := append([]string{ut.Column}, ut.Key...)
		var n int
		if err := p.pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = $1 AND column_name = ANY($2)`, ut.Table, cols).Scan(&n); err != nil {
			return fmt.Errorf("platform database: %w", err)
		}
		if n != len(cols) {
			return fmt.Errorf("platform database: legacy.UserTables names %s(%s), which the schema lacks: update the list", ut.Table, strings.Join(cols, ", "))
		}
	}
	return nil
}

// UnlistedUserColumns lists platform columns that look like user
// references (user_id, *_user_id) but are not in legacy.UserTables.
func (p *DB) UnlistedUserColumns(ctx context.Context) ([]string, error) {
	rows, err := p.pool.Query(ctx, `SELECT table_name, column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND (column_name = 'user_id' OR column_name LIKE '%\_user\_id')
		AND table_name NOT LIKE 'legacy\_%' ORDER BY 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("platform database: %w", err)
	}
	defer rows.Close()
	listed := map[string]bool{}
	for _, ut := range legacy.UserTables {
		listed[ut.Table+"."+ut.Column] = true
	}
	var out []string
	for rows.Next() {
		var t, c string
		if err := rows.Scan(&t, &c); err != nil {
			return nil, err
		}
		if !listed[t+"."+c] {
			out = append(out, t+"."+c)
		}
	}
	return out, rows.Err()
}

// lockKey is the advisory lock that keeps two migrate-legacy processes
// from writing at the same time.
const lockKey int64 = 0x6c65676163790001 // "legacy" + 1

// Lock takes the migration's advisory lock for the life of the returned
// connection; a process that dies releases it with its session.
func (p *DB) Lock(ctx context.Context) (func(), error) {
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("platform database: %w", err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, lockKey).Scan(&ok); err != nil {
		conn.Release()
		return nil, fmt.Errorf("platform database: %w", err)
	}
	if !ok {
		conn.Release()
		return nil, errors.New("another migrate-legacy run, backup or rollback is writing to this platform database; wait for it to end")
	}
	return func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, lockKey)
		conn.Release()
	}, nil
}

// state returns a named value ("" when unset).
func (p *DB) state(ctx context.Context, name string) (string, error) {
	var v string
	err := p.pool.QueryRow(ctx, `SELECT value FROM legacy_migration_state WHERE name = $1`, name).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("platform database: %w", err)
	}
	return v, nil
}

func setState(ctx context.Context, tx pgx.Tx, name, value string) error {
	_, err := tx.Exec(ctx, `INSERT INTO legacy_migration_state (name, value) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = now()`, name, value)
	return err
}

// putState sets a named value.
func (p *DB) putState(ctx context.Context, name, value string) error {
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error { return setState(ctx, tx, name, value) })
}

// ClaimSource records source as the legacy database this platform is
// migrated from, or refuses when another one is.
func (p *DB) ClaimSource(ctx context.Context, source string) error {
	cur, err := p.state(ctx, stateSource)
	if err != nil {
		return err
	}
	if cur != "" && cur != source {
		return fmt.Errorf("this platform database holds a migration from legacy database %s, not %s: roll that one back first", cur, source)
	}
	if cur == "" {
		return p.putState(ctx, stateSource, source)
	}
	return nil
}

// ClaimedSource is the legacy database this platform is migrated from
// (its Snapshot.Name), "" when none.
func (p *DB) ClaimedSource(ctx context.Context) (string, error) {
	return p.state(ctx, stateSource)
}

// BackupRecord says which backup was taken last: legacy_migration_state
// 'backup'. Run refuses to start without one of its legacy database.
type BackupRecord struct {
	Path   string    `json:"path"`
	Source string    `json:"source"`
	At     time.Time `json:"at"`
	SHA256 string    `json:"sha256"`
}

// RecordBackup records that b was taken.
func (p *DB) RecordBackup(ctx context.Context, b BackupRecord) error {
	rec, _ := json.Marshal(b)
	return p.putState(ctx, stateBackup, string(rec))
}

// RecordedBackup returns the backup recorded last; ok is false when none
// is (or the record cannot be read).
func (p *DB) RecordedBackup(ctx context.Context) (b BackupRecord, ok bool, err error) {
	rec, err := p.state(ctx, stateBackup)
	if err != nil {
		return BackupRecord{}, false, err
	}
	if rec == "" || json.Unmarshal([]byte(rec), &b) != nil {
		return BackupRecord{}, false, nil
	}
	return b, true, nil
}

// Mapping is one legacy_identity_map row.
type Mapping struct {
	LegacyID   string
	IdentityID string
	Primary    string
	Email      string
	Batch      int
}

// Mappings returns the mapping, by legacy id.
func (p *DB) Mappings(ctx context.Context) (map[string]Mapping, error) {
	rows, err := p.pool.Query(ctx, `SELECT legacy_id::text, identity_id::text, primary_legacy_id::text, email, batch FROM legacy_identity_map`)
	if err != nil {
		return nil, fmt.Errorf("platform database: %w", err)
	}
	defer rows.Close()
	out := map[string]Mapping{}
	for rows.Next() {
		var m Mapping
		if err := rows.Scan(&m.LegacyID, &m.IdentityID, &m.Primary, &m.Email, &m.Batch); err != nil {
			return nil, fmt.Errorf("platform database: %w", err)
		}
		out[m.LegacyID] = m
	}
	return out, rows.Err()
}

// Batch is one legacy_migration_batches row.
type Batch struct {
	No             int
	FirstID        string
	LastID         string
	Users          int
	State          string
	Created, Found int
	Failed         int
}

// SentBatches are batches whose answer was never stored: a run ended
// between sending them and storing their mapping.
func (p *DB) SentBatches(ctx context.Context) ([]Batch, error) {
	rows, err := p.pool.Query(ctx, `SELECT batch, first_id::text, last_id::text, users FROM legacy_migration_batches
		WHERE state = 'sent' ORDER BY batch`)
	if err != nil {
		return nil, fmt.Errorf("platform database: %w", err)
	}
	defer rows.Close()
	var out []Batch
	for rows.Next() {
		b := Batch{State: "sent"}
		if err := rows.Scan(&b.No, &b.FirstID, &b.LastID, &b.Users); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// NextBatchNo is one more than the highest batch number used.
func (p *DB) NextBatchNo(ctx context.Context) (int, error) {
	var n int
	err := p.pool.QueryRow(ctx, `SELECT coalesce(max(batch), 0) + 1 FROM legacy_migration_batches`).Scan(&n)
	return n, err
}

// MarkSent records that batch b is about to be sent.
func (p *DB) MarkSent(ctx context.Context, b Batch) error {
	_, err := p.pool.Exec(ctx, `INSERT INTO legacy_migration_batches (batch, first_id, last_id, users, state)
		VALUES ($1, $2::text::uuid, $3::text::uuid, $4, 'sent')`, b.No, b.FirstID, b.LastID, b.Users)
	if err != nil {
		return fmt.Errorf("platform database: checkpoint of batch %d: %w", b.No, err)
	}
	return nil
}

// CommitBatch stores a batch's answer in one transaction: its mapping
// rows, the conflicts it met (after clearing those in clears), and the
// batch marked done (b nil: no batch was recorded).
func (p *DB) CommitBatch(ctx context.Context, b *Batch, maps []Mapping, conflicts []legacy.RunConflict, clears []legacy.RunConflict) error {
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		if len(maps) > 0 {
			if b == nil {
				return errors.New("mapping rows without a batch")
			}
			rows := make([][]any, len(maps))
			for i, m := range maps {
				rows[i] = []any{uuidValue(m.LegacyID), uuidValue(m.IdentityID), uuidValue(m.Primary), m.Email, int32(b.No)}
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"legacy_identity_map"},
				[]string{"legacy_id", "identity_id", "primary_legacy_id", "email", "batch"}, pgx.CopyFromRows(rows)); err != nil {
				return fmt.Errorf("platform database: mapping of batch %d: %w", b.No, err)
			}
		}
		for _, c := range clears {
			if _, err := tx.Exec(ctx, `DELETE FROM legacy_migration_conflicts WHERE kind = $1 AND legacy_id = $2::text::uuid`, c.Kind, c.LegacyID); err != nil {
				return fmt.Errorf("platform database: %w", err)
			}
		}
		for _, c := range conflicts {
			detail, _ := json.Marshal(c.Detail)
			if _, err := tx.Exec(ctx, `INSERT INTO legacy_migration_conflicts (kind, legacy_id, subject, detail)
				VALUES ($1, $2::text::uuid, $3, $4) ON CONFLICT (kind, legacy_id, subject) DO UPDATE SET detail = excluded.detail`,
				c.Kind, c.LegacyID, c.Subject, detail); err != nil {
				return fmt.Errorf("platform database: %w", err)
			}
		}
		if b == nil {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE legacy_migration_batches SET state = 'done', created = $2, found = $3, failed = $4, done_at = now()
			WHERE batch = $1`, b.No, b.Created, b.Found, b.Failed); err != nil {
			return fmt.Errorf("platform database: checkpoint of batch %d: %w", b.No, err)
		}
		return nil
	})
}

// CloseSentBatches marks batches done whose users are all mapped or
// accounted for.
func (p *DB) CloseSentBatches(ctx context.Context, nos []int) error {
	if len(nos) == 0 {
		return nil
	}
	_, err := p.pool.Exec(ctx, `UPDATE legacy_migration_batches SET state = 'done', done_at = now() WHERE batch = ANY($1) AND state = 'sent'`, nos)
	return err
}

// Conflicts returns the stored run-time conflicts.
func (p *DB) Conflicts(ctx context.Context) ([]legacy.RunConflict, error) {
	rows, err := p.pool.Query(ctx, `SELECT kind, legacy_id::text, subject, detail FROM legacy_migration_conflicts ORDER BY kind, legacy_id, subject`)
	if err != nil {
		return nil, fmt.Errorf("platform database: %w", err)
	}
	defer rows.Close()
	var out []legacy.RunConflict
	for rows.Next() {
		var c legacy.RunConflict
		if err := rows.Scan(&c.Kind, &c.LegacyID, &c.Subject, &c.Detail); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Event is one row for auth_event_log.
type Event struct {
	OccurredAt time.Time
	Type       string
	IdentityID string
	Email      string
	IP         string
	UserAgent  string
	Detail     map[string]any
}

// CopyEvents appends events to auth_event_log and moves the events
// checkpoint to upTo, in one transaction.
func (p *DB) CopyEvents(ctx context.Context, events []Event, upTo int64) error {
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		rows := make([][]any, len(events))
		for i, e := range events {
			rows[i] = []any{e.OccurredAt, e.Type, uuidValue(e.IdentityID), nullText(e.Email), nullText(e.IP), nullText(e.UserAgent), e.Detail}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"auth_event_log"},
			[]string{"occurred_at", "event_type", "identity_id", "email", "ip", "user_agent", "detail"}, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("platform database: copying login attempts: %w", err)
		}
		return setState(ctx, tx, stateEvents, strconv.FormatInt(upTo, 10))
	})
}

// EventsCopied is the highest legacy login attempt id copied.
func (p *DB) EventsCopied(ctx context.Context) (int64, error) {
	v, err := p.state(ctx, stateEvents)
	if err != nil || v == "" {
		return 0, err
	}
	return strconv.ParseInt(v, 10, 64)
}

// RelinkEvents gives copied login attempts that were stored without an
// identity (their user had none yet) the identity their user now maps to.
func (p *DB) RelinkEvents(ctx context.Context) (int64, error) {
	tag, err := p.pool.Exec(ctx, `UPDATE auth_event_log e SET identity_id = m.identity_id
		FROM legacy_identity_map m
		WHERE e.identity_id IS NULL AND e.detail->>'source' = 'legacy'
		AND (e.detail->>'legacy_user_id' = m.legacy_id::text
		     OR (e.detail->>'legacy_user_id' IS NULL AND e.email = m.email))`)
	if err != nil {
		return 0, fmt.Errorf("platform database: %w", err)
	}
	return tag.RowsAffected(), nil
}

// LegacyEvents counts the auth events copied from the legacy system.
func (p *DB) LegacyEvents(ctx context.Context) (int64, error) {
	var n int64
	err := p.pool.QueryRow(ctx, `SELECT count(*) FROM auth_event_log WHERE detail->>'source' = 'legacy'`).Scan(&n)
	return n, err
}

// RewriteResult counts one run's rewrite of platform rows.
type RewriteResult struct {
	Moved      map[string]int64     `json:"moved"`
	Collisions []legacy.RunConflict `json:"collisions,omitempty"`
}

func keyText(alias string, ut legacy.UserTable) string {
	parts := make([]string, len(ut.Key))
	for i, k := range ut.Key {
		parts[i] = alias + "." + pgx.Identifier{k}.Sanitize() + "::text"
	}
	return "ARRAY[" + strings.Join(parts, ", ") + "]"
}

// Rewrite moves every legacy.UserTables row that holds a mapped legacy id to the
// identity id, journaling each, in one transaction. A merged duplicate's
// row whose key the identity already has stays where it is and is
// reported (and recorded as a conflict).
func (p *DB) Rewrite(ctx context.Context) (*RewriteResult, error) {
	res := &RewriteResult{Moved: map[string]int64{}}
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		// Primary first, then each merged member in legacy id order, so
		// that on a clash the primary's row is the one that moves.
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE legacy_rank ON COMMIT DROP AS
			SELECT legacy_id::text AS legacy_id, identity_id::text AS identity_id,
			       row_number() OVER (PARTITION BY identity_id ORDER BY legacy_id <> primary_legacy_id, legacy_id) AS rank
			FROM legacy_identity_map`); err != nil {
			return fmt.Errorf("platform database: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE INDEX ON legacy_rank (legacy_id)`); err != nil {
			return err
		}
		var maxRank int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(rank), 0) FROM legacy_rank`).Scan(&maxRank); err != nil {
			return err
		}
		for _, ut := range legacy.UserTables {
			t, c := pgx.Identifier{ut.Table}.Sanitize(), pgx.Identifier{ut.Column}.Sanitize()
			guard := ""
			if ut.Unique {
				conds := []string{"t2." + c + " = m.identity_id"}
				for _, k := range ut.Key {
					kk := pgx.Identifier{k}.Sanitize()
					conds = append(conds, "t2."+kk+" = t."+kk)
				}
				guard = " AND NOT EXISTS (SELECT 1 FROM " + t + " t2 WHERE " + strings.Join(conds, " AND ") + ")"
			}
			q := `WITH moved AS (
				UPDATE ` + t + ` t SET ` + c + ` = m.identity_id FROM legacy_rank m
				WHERE t.` + c + ` = m.legacy_id AND m.rank = $2` + guard + `
				RETURNING ` + keyText("t", ut) + ` AS row_key, m.legacy_id, m.identity_id)
			INSERT INTO legacy_rewrite_journal (table_name, column_name, row_key, legacy_id, identity_id)
			SELECT $1, $3, row_key, legacy_id, identity_id FROM moved`
			for rank := 1; rank <= maxRank; rank++ {
				tag, err := tx.Exec(ctx, q, ut.Table, rank, ut.Column)
				if err != nil {
					return fmt.Errorf("platform database: rewriting %s.%s: %w", ut.Table, ut.Column, err)
				}
				res.Moved[ut.Table] += tag.RowsAffected()
			}
			rows, err := tx.Query(ctx, `SELECT m.legacy_id, m.identity_id, `+keyText("t", ut)+` FROM `+t+` t
				JOIN legacy_rank m ON t.`+c+` = m.legacy_id ORDER BY 1, 3`)
			if err != nil {
				return fmt.Errorf("platform database: %w", err)
			}
			for rows.Next() {
				var legacyID, identityID string
				var key []string
				if err := rows.Scan(&legacyID, &identityID, &key); err != nil {
					rows.Close()
					return err
				}
				res.Collisions = append(res.Collisions, legacy.RunConflict{Kind: legacy.ConflictRowCollision, LegacyID: legacyID,
					Subject: ut.Table + ":" + strings.Join(key, ","),
					Detail:  map[string]any{"table": ut.Table, "column": ut.Column, "key": key, "identity_id": identityID}})
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		for _, c := range res.Collisions {
			detail, _ := json.Marshal(c.Detail)
			if _, err := tx.Exec(ctx, `INSERT INTO legacy_migration_conflicts (kind, legacy_id, subject, detail)
				VALUES ($1, $2::text::uuid, $3, $4) ON CONFLICT (kind, legacy_id, subject) DO UPDATE SET detail = excluded.detail`,
				c.Kind, c.LegacyID, c.Subject, detail); err != nil {
				return fmt.Errorf("platform database: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// LegacyRowsLeft counts, per table, rows still holding a mapped legacy id.
func (p *DB) LegacyRowsLeft(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	for _, ut := range legacy.UserTables {
		t, c := pgx.Identifier{ut.Table}.Sanitize(), pgx.Identifier{ut.Column}.Sanitize()
		var n int64
		if err := p.pool.QueryRow(ctx, `SELECT count(*) FROM `+t+` t JOIN legacy_identity_map m ON t.`+c+` = m.legacy_id::text`).Scan(&n); err != nil {
			return nil, fmt.Errorf("platform database: %w", err)
		}
		out[ut.Table] = n
	}
	return out, nil
}

// RollbackResult counts what rollback undid in the platform database.
type RollbackResult struct {
	RowsRestored map[string]int64 `json:"rows_restored"`
	// RowsLeft are rows that refer to a deleted identity and were not
	// rewritten by the migration (made after it): left as they are.
	RowsLeft      map[string]int64 `json:"rows_left_referring_to_deleted_identities"`
	EventsDeleted int64            `json:"events_deleted"`
	Mappings      int64            `json:"mappings_deleted"`
}

// Rollback undoes the rewrites (from the journal), deletes the copied
// login attempts and forgets the mapping, checkpoints and conflicts, in one
// transaction. Identities are deleted from Kratos before this.
func (p *DB) Rollback(ctx context.Context, deletedIdentities []string) (*RollbackResult, error) {
	res := &RollbackResult{RowsRestored: map[string]int64{}, RowsLeft: map[string]int64{}}
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		listed := map[string]bool{}
		for _, ut := range legacy.UserTables {
			listed[ut.Table] = true
			t, c := pgx.Identifier{ut.Table}.Sanitize(), pgx.Identifier{ut.Column}.Sanitize()
			// Rows are matched to journal entries by identity and key; when
			// several share both (merged duplicates' rows in a table without
			// a unique key), by their rank among them, so each legacy id gets
			// back exactly as many rows as it gave.
			tag, err := tx.Exec(ctx, `WITH r AS (
				SELECT t.ctid AS tid, t.`+c+` AS uid, `+keyText("t", ut)+` AS k,
				       row_number() OVER (PARTITION BY t.`+c+`, `+keyText("t", ut)+` ORDER BY t.ctid) AS n
				FROM `+t+` t WHERE t.`+c+` IN (SELECT identity_id FROM legacy_rewrite_journal WHERE table_name = $1 AND column_name = $2)
			), j AS (
				SELECT legacy_id, identity_id, row_key,
				       row_number() OVER (PARTITION BY identity_id, row_key ORDER BY legacy_id) AS n
				FROM legacy_rewrite_journal WHERE table_name = $1 AND column_name = $2
			)
			UPDATE `+t+` t SET `+c+` = j.legacy_id FROM r JOIN j ON j.identity_id = r.uid AND j.row_key = r.k AND j.n = r.n
			WHERE t.ctid = r.tid`, ut.Table, ut.Column)
			if err != nil {
				return fmt.Errorf("platform database: restoring %s: %w", ut.Table, err)
			}
			res.RowsRestored[ut.Table] = tag.RowsAffected()
			var left int64
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+t+` WHERE `+c+` = ANY($1)`, deletedIdentities).Scan(&left); err != nil {
				return fmt.Errorf("platform database: %w", err)
			}
			if left > 0 {
				res.RowsLeft[ut.Table] = left
			}
		}
		var unknown []string
		rows, err := tx.Query(ctx, `SELECT DISTINCT table_name FROM legacy_rewrite_journal`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var t string
			if err := rows.Scan(&t); err != nil {
				rows.Close()
				return err
			}
			if !listed[t] {
				unknown = append(unknown, t)
			}
		}
		rows.Close()
		if len(unknown) > 0 {
			return fmt.Errorf("the rewrite journal names tables legacy.UserTables no longer lists (%s): put them back in the list to roll back", strings.Join(unknown, ", "))
		}
		tag, err := tx.Exec(ctx, `DELETE FROM auth_event_log WHERE detail->>'source' = 'legacy'`)
		if err != nil {
			return fmt.Errorf("platform database: deleting copied login attempts: %w", err)
		}
		res.EventsDeleted = tag.RowsAffected()
		tag, err = tx.Exec(ctx, `DELETE FROM legacy_identity_map`)
		if err != nil {
			return err
		}
		res.Mappings = tag.RowsAffected()
		for _, q := range []string{
			`DELETE FROM legacy_rewrite_journal`, `DELETE FROM legacy_migration_batches`,
			`DELETE FROM legacy_migration_conflicts`, `DELETE FROM legacy_migration_state WHERE name IN ('source', 'events')`,
		} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("platform database: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// StartRun records that command started; FinishRun stores its outcome.
func (p *DB) StartRun(ctx context.Context, command string) (int64, error) {
	var id int64
	err := p.pool.QueryRow(ctx, `INSERT INTO legacy_migration_runs (command) VALUES ($1) RETURNING id`, command).Scan(&id)
	return id, err
}

// FinishRun stores a run's outcome and report.
func (p *DB) FinishRun(ctx context.Context, id int64, outcome string, report any) error {
	data, err := json.Marshal(report)
	if err != nil {
		return err
	}
	_, err = p.pool.Exec(context.WithoutCancel(ctx), `UPDATE legacy_migration_runs SET finished_at = now(), outcome = $2, report = $3 WHERE id = $1`, id, outcome, data)
	return err
}

// Interrupted returns the start time of the newest run that never finished.
func (p *DB) Interrupted(ctx context.Context, command string) (time.Time, bool, error) {
	var at time.Time
	err := p.pool.QueryRow(ctx, `SELECT started_at FROM legacy_migration_runs WHERE command = $1 AND finished_at IS NULL
		ORDER BY id DESC LIMIT 1`, command).Scan(&at)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, false, nil
	}
	return at, err == nil, err
}

// MarkAbandoned closes runs of command that never finished (a crash).
func (p *DB) MarkAbandoned(ctx context.Context, command string) error {
	_, err := p.pool.Exec(ctx, `UPDATE legacy_migration_runs SET outcome = 'interrupted', finished_at = now()
		WHERE command = $1 AND finished_at IS NULL`, command)
	return err
}

func uuidValue(s string) pgtype.UUID {
	var u pgtype.UUID
	if s != "" {
		_ = u.Scan(s)
	}
	return u
}

func nullText(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
