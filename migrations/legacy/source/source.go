// Package source reads the legacy auth database, in one read-only
// snapshot, for the migration commands (and the backup); it never writes
// there.
package source

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/learnplatform/platform/migrations/legacy"
)

// Snapshot reads the legacy database. Everything it reads comes from one
// REPEATABLE READ, READ ONLY transaction, so counts, users and login
// attempts agree with each other even if something still writes there.
// It never writes.
type Snapshot struct {
	conn *pgx.Conn
	tx   pgx.Tx
	// Empty is true when the database has none of the legacy tables.
	Empty bool
	// Name identifies the database (cluster and database name); the
	// platform remembers it so one platform is never fed from two sources.
	Name string
}

// requiredColumns are the legacy columns the migration reads.
var requiredColumns = map[string][]string{
	"users":          {"id", "email", "password_hash", "full_name", "email_verified", "is_active", "created_at", "updated_at"},
	"user_roles":     {"user_id", "role"},
	"oauth_accounts": {"id", "user_id", "provider", "provider_user_id", "provider_email", "created_at"},
	"sessions":       {"id", "user_id", "expires_at"},
	"login_attempts": {"id", "email", "user_id", "success", "ip", "user_agent", "attempted_at"},
}

// Open connects to the legacy database at dsn, starts the snapshot and
// checks the schema.
// A database with none of the legacy tables opens with Empty set; one with
// some of them, or lacking a column, is an error that names what is missing.
func Open(ctx context.Context, dsn string) (*Snapshot, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("legacy database: %w", err)
	}
	cfg.RuntimeParams["timezone"] = "UTC"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("legacy database: %w", err)
	}
	s := &Snapshot{conn: conn}
	if err := s.open(ctx); err != nil {
		conn.Close(ctx)
		return nil, err
	}
	return s, nil
}

func (s *Snapshot) open(ctx context.Context) error {
	var err error
	s.tx, err = s.conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("legacy database: %w", err)
	}
	var db string
	if err := s.tx.QueryRow(ctx, `SELECT current_database()`).Scan(&db); err != nil {
		return fmt.Errorf("legacy database: %w", err)
	}
	// The cluster's system identifier tells two clusters' databases of the
	// same name apart; only privileged roles may read it.
	cluster := s.conn.Config().Host
	sp, err := s.tx.Begin(ctx)
	if err == nil {
		var sysid int64
		if sp.QueryRow(ctx, `SELECT system_identifier FROM pg_control_system()`).Scan(&sysid) == nil {
			cluster = fmt.Sprint(sysid)
		}
		_ = sp.Rollback(ctx)
	}
	s.Name = cluster + "/" + db

	rows, err := s.tx.Query(ctx, `SELECT table_name, column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = ANY($1)`, legacy.Tables)
	if err != nil {
		return fmt.Errorf("legacy database: %w", err)
	}
	have := map[string]map[string]bool{}
	for rows.Next() {
		var t, c string
		if err := rows.Scan(&t, &c); err != nil {
			return fmt.Errorf("legacy database: %w", err)
		}
		if have[t] == nil {
			have[t] = map[string]bool{}
		}
		have[t][c] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("legacy database: %w", err)
	}
	if len(have) == 0 {
		s.Empty = true
		return nil
	}
	var missing []string
	for _, t := range legacy.Tables {
		if have[t] == nil {
			missing = append(missing, "table "+t)
			continue
		}
		for _, c := range requiredColumns[t] {
			if !have[t][c] {
				missing = append(missing, t+"."+c)
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("legacy database %s is not the legacy auth schema: missing %s", db, strings.Join(missing, ", "))
	}
	return nil
}

// Close ends the snapshot and the connection.
func (s *Snapshot) Close(ctx context.Context) {
	if s.tx != nil {
		_ = s.tx.Rollback(ctx)
	}
	s.conn.Close(ctx)
}

// Load reads every user with their roles, social accounts and session
// counts, and the tables' counts.
func (s *Snapshot) Load(ctx context.Context) (*legacy.Dataset, error) {
	ds := &legacy.Dataset{}
	if s.Empty {
		return ds, nil
	}
	c := &ds.Counts
	err := s.tx.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM users), (SELECT count(*) FROM user_roles), (SELECT count(*) FROM oauth_accounts),
		(SELECT count(*) FROM sessions), (SELECT count(*) FROM sessions WHERE expires_at > now()),
		(SELECT count(*) FROM login_attempts), (SELECT coalesce(max(id), 0) FROM login_attempts),
		(SELECT count(*) FROM user_roles r WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = r.user_id)),
		(SELECT count(*) FROM oauth_accounts a WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = a.user_id)),
		(SELECT count(*) FROM sessions s WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = s.user_id))`).
		Scan(&c.Users, &c.UserRoles, &c.OAuthAccounts, &c.Sessions, &c.ActiveSessions, &c.LoginAttempts, &c.MaxAttemptID,
			&c.OrphanRoles, &c.OrphanSocial, &c.OrphanSessions)
	if err != nil {
		return nil, fmt.Errorf("legacy database: counting rows: %w", err)
	}

	ds.Users = make([]legacy.User, 0, c.Users)
	index := make(map[string]int, c.Users)
	rows, err := s.tx.Query(ctx, `SELECT id::text, email, coalesce(password_hash, ''), full_name,
		email_verified, is_active, created_at, updated_at FROM users ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("legacy database: reading users: %w", err)
	}
	for rows.Next() {
		var u legacy.User
		var name *string
		if err := rows.Scan(&u.ID, &u.Email, &u.PasswordHash, &name, &u.EmailVerified, &u.Active, &u.CreatedAt, &u.UpdatedAt); err != nil {
			return nil, fmt.Errorf("legacy database: reading users: %w", err)
		}
		if name != nil {
			u.FullName, u.HasName = *name, true
		}
		index[u.ID] = len(ds.Users)
		ds.Users = append(ds.Users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("legacy database: reading users: %w", err)
	}

	rows, err = s.tx.Query(ctx, `SELECT user_id::text, coalesce(role, '') FROM user_roles
		WHERE user_id IS NOT NULL ORDER BY user_id, role`)
	if err != nil {
		return nil, fmt.Errorf("legacy database: reading user_roles: %w", err)
	}
	for rows.Next() {
		var id, role string
		if err := rows.Scan(&id, &role); err != nil {
			return nil, fmt.Errorf("legacy database: reading user_roles: %w", err)
		}
		if i, ok := index[id]; ok {
			ds.Users[i].Roles = append(ds.Users[i].Roles, role)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("legacy database: reading user_roles: %w", err)
	}

	rows, err = s.tx.Query(ctx, `SELECT id::text, user_id::text, coalesce(provider, ''), coalesce(provider_user_id, ''),
		coalesce(provider_email, ''), coalesce(created_at, 'epoch') FROM oauth_accounts
		WHERE user_id IS NOT NULL ORDER BY created_at NULLS FIRST, id`)
	if err != nil {
		return nil, fmt.Errorf("legacy database: reading oauth_accounts: %w", err)
	}
	for rows.Next() {
		var a legacy.SocialAccount
		var user string
		if err := rows.Scan(&a.ID, &user, &a.Provider, &a.Subject, &a.Email, &a.CreatedAt); err != nil {
			return nil, fmt.Errorf("legacy database: reading oauth_accounts: %w", err)
		}
		if i, ok := index[user]; ok {
			ds.Users[i].Social = append(ds.Users[i].Social, a)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("legacy database: reading oauth_accounts: %w", err)
	}

	rows, err = s.tx.Query(ctx, `SELECT user_id::text, count(*), count(*) FILTER (WHERE expires_at > now())
		FROM sessions WHERE user_id IS NOT NULL GROUP BY user_id`)
	if err != nil {
		return nil, fmt.Errorf("legacy database: counting sessions: %w", err)
	}
	for rows.Next() {
		var id string
		var n, active int
		if err := rows.Scan(&id, &n, &active); err != nil {
			return nil, fmt.Errorf("legacy database: counting sessions: %w", err)
		}
		if i, ok := index[id]; ok {
			ds.Users[i].Sessions, ds.Users[i].ActiveSessions = n, active
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("legacy database: counting sessions: %w", err)
	}
	return ds, nil
}

// Attempts calls fn with the login attempts whose id is above after (up to
// upTo), in id order, chunk at a time.
func (s *Snapshot) Attempts(ctx context.Context, after, upTo int64, chunk int, fn func([]legacy.LoginAttempt) error) error {
	if s.Empty {
		return nil
	}
	rows, err := s.tx.Query(ctx, `SELECT id, coalesce(email, ''), coalesce(user_id::text, ''), success,
		coalesce(ip, ''), coalesce(user_agent, ''), attempted_at
		FROM login_attempts WHERE id > $1 AND id <= $2 ORDER BY id`, after, upTo)
	if err != nil {
		return fmt.Errorf("legacy database: reading login_attempts: %w", err)
	}
	defer rows.Close()
	batch := make([]legacy.LoginAttempt, 0, chunk)
	for rows.Next() {
		var a legacy.LoginAttempt
		var success *bool
		var at *time.Time
		if err := rows.Scan(&a.ID, &a.Email, &a.UserID, &success, &a.IP, &a.UserAgent, &at); err != nil {
			return fmt.Errorf("legacy database: reading login_attempts: %w", err)
		}
		a.Success = success != nil && *success
		a.SuccessUnknown = success == nil
		if at != nil {
			a.AttemptedAt = *at
		}
		batch = append(batch, a)
		if len(batch) == chunk {
			if err := fn(batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("legacy database: reading login_attempts: %w", err)
	}
	if len(batch) > 0 {
		return fn(batch)
	}
	return nil
}

// CountAttempts counts the login attempts whose id is above after, up to
// upTo.
func (s *Snapshot) CountAttempts(ctx context.Context, after, upTo int64) (int, error) {
	if s.Empty {
		return 0, nil
	}
	var n int
	if err := s.tx.QueryRow(ctx, `SELECT count(*) FROM login_attempts WHERE id > $1 AND id <= $2`, after, upTo).Scan(&n); err != nil {
		return 0, fmt.Errorf("legacy database: %w", err)
	}
	return n, nil
}

// dumpOrder orders each table's rows in a backup.
var dumpOrder = map[string]string{
	"users": "id", "user_roles": "user_id, role", "oauth_accounts": "id", "sessions": "id", "login_attempts": "id",
}

// Dump calls fn with every row of table as JSON (row_to_json), in a fixed
// order; restore loads it back with json_populate_recordset.
func (s *Snapshot) Dump(ctx context.Context, table string, fn func(row []byte) error) error {
	order, ok := dumpOrder[table]
	if !ok {
		return fmt.Errorf("legacy database: no table %q", table)
	}
	if s.Empty {
		return nil
	}
	rows, err := s.tx.Query(ctx, `SELECT row_to_json(t)::text FROM `+pgx.Identifier{table}.Sanitize()+` t ORDER BY `+order)
	if err != nil {
		return fmt.Errorf("legacy database: reading %s: %w", table, err)
	}
	defer rows.Close()
	for rows.Next() {
		var row string
		if err := rows.Scan(&row); err != nil {
			return fmt.Errorf("legacy database: reading %s: %w", table, err)
		}
		if err := fn([]byte(row)); err != nil {
			return err
		}
	}
	return rows.Err()
}
