package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/learnplatform/platform/kit/pgtest"
	"github.com/learnplatform/platform/tutor/memstore/storetest"
	"github.com/learnplatform/platform/tutor/postgres"
)

var cluster *pgtest.Cluster

func TestMain(m *testing.M) { pgtest.Main(m, &cluster) }

// newDB creates a database with the tutor's tables, made by the real
// migration's Up section.
func newDB(t testing.TB) *postgres.DB {
	t.Helper()
	ctx := context.Background()
	dsn := cluster.NewDatabase(t, "../../migrations/sql/00010_tutor.sql")
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
	return postgres.New(pool)
}

// The PostgreSQL store keeps the ThreadStore promises, among them a retry
// counted like a message in the same step that deletes (the quota lock
// and one statement, as for a message), exact under concurrency. The
// in-memory store runs the same checks.
func TestThreadStore(t *testing.T) {
	storetest.Run(t, newDB(t))
}
