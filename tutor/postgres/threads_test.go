package postgres_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/learnplatform/platform/kit/pgtest"
	"github.com/learnplatform/platform/tutor/memstore/storetest"
	"github.com/learnplatform/platform/tutor/postgres"
)

var cluster *pgtest.Cluster

func TestMain(m *testing.M) {
	c, err := pgtest.Start(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cluster = c
	code := m.Run()
	c.Stop()
	os.Exit(code)
}

var dbSeq int

// newDB creates a database with the tutor's tables, made by the real
// migration's Up section.
func newDB(t testing.TB) *postgres.DB {
	t.Helper()
	ctx := context.Background()
	dbSeq++
	dsn, err := cluster.CreateDatabase(ctx, fmt.Sprintf("tutor_%d", dbSeq))
	if err != nil {
		t.Fatal(err)
	}
	sql, err := os.ReadFile("../../migrations/sql/00010_tutor.sql")
	if err != nil {
		t.Fatal(err)
	}
	up, _, _ := strings.Cut(string(sql), "-- +goose Down")
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 16 // the tutor's default pool
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, up); err != nil {
		t.Fatal(err)
	}
	return postgres.New(pool)
}

// The PostgreSQL store keeps the ThreadStore promises, among them a retry
// counted like a message in the same step that deletes (the quota lock
// and one statement, as for a message), exact under concurrency. The
// in-memory store runs the same checks.
func TestThreadStore(t *testing.T) {
	storetest.Run(t, newDB(t))
}
