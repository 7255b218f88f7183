package edgetest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
)

var schemaSeq atomic.Int64

// NewSchema creates a fresh schema in the database at dbURL (one of a
// kit/pgtest cluster's), makes in it the tables of the Up sections of the
// goose migration files given (paths as the test sees them), and returns
// dbURL with search_path set to the schema. Tests of one package share a
// database this way, each in its own schema: a schema takes milliseconds
// where a new database takes most of a second.
func NewSchema(t testing.TB, dbURL string, migrations ...string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	schema := fmt.Sprintf("test_%d", schemaSeq.Add(1))
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
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
	return u.String()
}
