package backup

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/learnplatform/platform/migrations/legacy"
	"github.com/learnplatform/platform/migrations/legacy/migrate"
	"github.com/learnplatform/platform/migrations/legacy/report"
)

// restoreChunk is how many rows one INSERT loads.
const restoreChunk = 1000

// Restore loads a backup's legacy rows into the legacy database (-legacy-dsn),
// which must hold no legacy rows; it creates the tables when missing. All
// in one transaction: a damaged file leaves nothing behind. Kratos is not
// touched: rollback puts Kratos back by deleting what the migration made.
func Restore(ctx context.Context, m *migrate.Migrator, path string) (*report.Report, error) {
	r := report.New("restore")
	bf, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer bf.Close()
	cfg, err := pgx.ParseConfig(m.LegacyDSN)
	if err != nil {
		return nil, fmt.Errorf("legacy database: %w", err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("legacy database: %w", err)
	}
	defer conn.Close(ctx)
	var b *report.Backup
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, legacy.Schema); err != nil {
			return fmt.Errorf("legacy database: creating the legacy tables: %w", err)
		}
		for _, t := range legacy.Tables {
			var any bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+pgx.Identifier{t}.Sanitize()+`)`).Scan(&any); err != nil {
				return fmt.Errorf("legacy database: %w", err)
			}
			if any {
				return fmt.Errorf("legacy database: table %s is not empty; restore only into a database without legacy rows", t)
			}
		}
		var pending []json.RawMessage
		table := ""
		flush := func() error {
			if len(pending) == 0 {
				return nil
			}
			arr, _ := json.Marshal(pending)
			id := pgx.Identifier{table}.Sanitize()
			if _, err := tx.Exec(ctx, `INSERT INTO `+id+` SELECT * FROM json_populate_recordset(NULL::`+id+`, $1::json)`, string(arr)); err != nil {
				return fmt.Errorf("legacy database: loading %s: %w", table, err)
			}
			pending = pending[:0]
			return nil
		}
		b, err = bf.Each(func(t string, row json.RawMessage) error {
			if !slices.Contains(legacy.Tables, t) {
				return fmt.Errorf("backup file: unknown table %q", t)
			}
			if t != table || len(pending) == restoreChunk {
				if err := flush(); err != nil {
					return err
				}
				if t != table && table != "" {
					fmt.Fprintf(m.Output(), "restore: %s loaded\n", table)
				}
				table = t
			}
			pending = append(pending, row)
			return nil
		}, nil)
		if err != nil {
			return err
		}
		if err := flush(); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence('login_attempts', 'id'), coalesce((SELECT max(id) FROM login_attempts), 0) + 1, false)`)
		return err
	})
	if err != nil {
		return nil, err
	}
	b.Path = path
	b.Restored = true
	r.Backup = b
	r.Message = fmt.Sprintf("legacy rows restored into the legacy database; the file also holds %d Kratos identities, which restore does not touch", b.KratosIdentities)
	r.Finish("ok")
	return r, nil
}
