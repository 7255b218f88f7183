package pgtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Main is a test binary's TestMain for store packages: it starts a cluster,
// stores it in *c, runs the tests and stops it. Without PostgreSQL the
// binary fails (exit 1) with the reason.
func Main(m *testing.M, c **Cluster) {
	cl, err := Start(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*c = cl
	code := m.Run()
	cl.Stop()
	os.Exit(code)
}

var dbSeq atomic.Int64

// NewDatabase creates a fresh database and applies the Up section of each
// goose migration file (paths as the test sees them, e.g.
// "../../migrations/sql/00010_tutor.sql"), in order: the tables tests use
// are the ones the real migrations make. It returns the database's URL.
func (c *Cluster) NewDatabase(t testing.TB, migrations ...string) string {
	t.Helper()
	ctx := context.Background()
	dsn, err := c.CreateDatabase(ctx, fmt.Sprintf("test_%d", dbSeq.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	if len(migrations) == 0 {
		return dsn
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, f := range migrations {
		sql, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		up, _, _ := strings.Cut(string(sql), "-- +goose Down")
		if _, err := conn.Exec(ctx, up); err != nil {
			t.Fatalf("migration %s: %v", filepath.Base(f), err)
		}
	}
	return dsn
}
