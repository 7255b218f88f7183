package postgres

import (
	"context"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/learnplatform/platform/identity/internal/edgetest"
	"github.com/learnplatform/platform/kit/pgtest"
)

var cluster *pgtest.Cluster

func TestMain(m *testing.M) { pgtest.Main(m, &cluster) }

var (
	dbOnce sync.Once
	dbURL  string // the package's one database; each test has a schema in it
)

// newDB is a pool on a fresh schema with the tables the edge keeps (auth
// event log, lockouts and throttles), made by the real migrations.
func newDB(t testing.TB) *pgxpool.Pool {
	t.Helper()
	dbOnce.Do(func() { dbURL = cluster.NewDatabase(t) })
	db, err := pgxpool.New(context.Background(), edgetest.NewSchema(t, dbURL,
		"../../migrations/sql/00001_auth_event_log.sql", "../../migrations/sql/00002_login_lockouts.sql"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}
