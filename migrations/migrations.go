// Package migrations owns the platform's database schema: versioned SQL files
// embedded in the binary and applied with goose in library mode, plus the
// steps that run Kratos' and Hydra's own schema migrations. The launcher
// (stack) and cmd/migrate call it; services never migrate on their own.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed sql/*.sql
var files embed.FS

// Applied is one migration that Apply ran.
type Applied struct {
	Version int64
	Source  string
}

// Apply brings the platform database at dsn up to the newest migration. It
// holds a PostgreSQL advisory lock while it works, so concurrent callers
// (several replicas, several test stacks) apply each migration once.
func Apply(ctx context.Context, dsn string) ([]Applied, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("migrations: open database: %w", err)
	}
	defer db.Close()
	p, err := provider(db)
	if err != nil {
		return nil, err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	out := make([]Applied, 0, len(results))
	for _, r := range results {
		out = append(out, Applied{Version: r.Source.Version, Source: r.Source.Path})
	}
	return out, nil
}

// Pending lists migrations not yet applied to the database at dsn.
func Pending(ctx context.Context, dsn string) ([]int64, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("migrations: open database: %w", err)
	}
	defer db.Close()
	p, err := provider(db)
	if err != nil {
		return nil, err
	}
	status, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	var pending []int64
	for _, s := range status {
		if s.State == goose.StatePending {
			pending = append(pending, s.Source.Version)
		}
	}
	return pending, nil
}

func provider(db *sql.DB) (*goose.Provider, error) {
	sub, err := fs.Sub(files, "sql")
	if err != nil {
		return nil, err
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub,
		goose.WithSessionLocker(locker),
		goose.WithTableName("platform_schema_migrations"))
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}
