package postgres

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/learnplatform/platform/kit/pgtest"
)

var cluster *pgtest.Cluster

func TestMain(m *testing.M) { pgtest.Main(m, &cluster) }

// newDB is a fresh database with the tables the edge keeps (auth event
// log, lockouts and throttles), made by the real migrations.
func newDB(t testing.TB) *pgxpool.Pool {
	t.Helper()
	dsn := cluster.NewDatabase(t, "../../migrations/sql/00001_auth_event_log.sql", "../../migrations/sql/00002_login_lockouts.sql")
	db, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}
