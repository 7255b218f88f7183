package migration

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/learnplatform/platform/e2e/internal/e2etest"
	lf "github.com/learnplatform/platform/migrations/legacy/legacyfixture"
)

// emptyEnv is an environment on a new database with nothing in it.
func emptyEnv(t *testing.T) *env {
	t.Helper()
	s := e2etest.Need(t)
	dsn, err := lf.Create(context.Background(), s.DSN("postgres"), "legacy_empty")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lf.Drop(context.Background(), s.DSN("postgres"), dsn) })
	rollbackIfFailed(t)
	return &env{t: t, fx: &lf.Fixture{DSN: dsn}, domain: "empty.example.org", platform: s.DSN("platform"), kratos: s.URL("kratos-admin"), dir: t.TempDir()}
}

// plan on an empty legacy database says there is nothing to migrate and
// exits 0, whether the database has no tables or tables without rows.
func TestPlanOnEmptyLegacyDatabase(t *testing.T) {
	e := emptyEnv(t)
	conn := db(t)
	written := func() int {
		return count(t, conn, `SELECT count(*) FROM legacy_identity_map`) + count(t, conn, `SELECT count(*) FROM legacy_migration_state WHERE name = 'source'`)
	}
	before := written()
	for _, step := range []string{"no tables", "tables, no rows"} {
		if step == "tables, no rows" {
			if err := lf.CreateSchema(context.Background(), e.fx.DSN); err != nil {
				t.Fatal(err)
			}
		}
		p := e.must("plan")
		if p.report["outcome"] != "nothing to migrate" || !strings.Contains(p.stdout, "nothing to migrate") {
			t.Fatalf("%s: plan said\n%s", step, p.stdout)
		}
		r := e.must("run", "-no-backup-check")
		if r.report["outcome"] != "nothing to migrate" {
			t.Fatalf("%s: run said\n%s", step, r.stdout)
		}
	}
	if written() != before {
		t.Fatal("migrating nothing wrote to the platform database")
	}
}

// Bad input stops the command with a message that names the problem, and
// leaves nothing behind.
func TestBadInputLeavesNothing(t *testing.T) {
	conn := db(t)
	platformState := func() []int {
		return []int{
			count(t, conn, `SELECT count(*) FROM legacy_identity_map`),
			count(t, conn, `SELECT count(*) FROM legacy_migration_state WHERE name <> 'backup'`),
			count(t, conn, `SELECT count(*) FROM legacy_migration_batches`),
			count(t, conn, `SELECT count(*) FROM auth_event_log WHERE detail->>'source' = 'legacy'`),
		}
	}
	before := platformState()
	kratosBefore := kratosIDs(t)

	t.Run("not the legacy schema", func(t *testing.T) {
		e := emptyEnv(t)
		c := pgxConnect(t, e.fx.DSN)
		if _, err := c.Exec(context.Background(), `CREATE TABLE users (id uuid PRIMARY KEY, email text NOT NULL)`); err != nil {
			t.Fatal(err)
		}
		for _, cmd := range []string{"plan", "run"} {
			r := e.cmd(cmd, "-no-backup-check")
			if cmd == "plan" {
				r = e.cmd(cmd)
			}
			if r.code != 1 || !strings.Contains(r.stderr, "not the legacy auth schema: missing") || !strings.Contains(r.stderr, "table user_roles") || !strings.Contains(r.stderr, "users.password_hash") {
				t.Fatalf("%s: exit %d, %s", cmd, r.code, r.stderr)
			}
			if r.report["outcome"] != "failed" {
				t.Fatalf("%s: report %v", cmd, r.report)
			}
		}
	})

	t.Run("Kratos unreachable", func(t *testing.T) {
		e := newEnv(t, lf.Spec{Users: 5, Seed: 3})
		e.kratos = "http://127.0.0.1:1/"
		r := e.cmd("run", "-no-backup-check")
		if r.code != 1 || !strings.Contains(r.stderr, "Kratos admin API") || !strings.Contains(r.stderr, "not ready") {
			t.Fatalf("exit %d, %s", r.code, r.stderr)
		}
	})

	t.Run("damaged backup file", func(t *testing.T) {
		e := emptyEnv(t)
		bad := filepath.Join(e.dir, "bad.jsonl.gz")
		if err := os.WriteFile(bad, []byte("not a backup"), 0o600); err != nil {
			t.Fatal(err)
		}
		r := e.cmd("rollback", "-yes", "-backup", bad)
		if r.code != 1 || !strings.Contains(r.stderr, "not a backup") {
			t.Fatalf("rollback with a damaged backup: exit %d, %s", r.code, r.stderr)
		}
		r = e.cmd("restore", "-backup", bad)
		if r.code != 1 || !strings.Contains(r.stderr, "not a backup") {
			t.Fatalf("restore of a damaged backup: exit %d, %s", r.code, r.stderr)
		}
	})

	if after := platformState(); !reflect.DeepEqual(after, before) {
		t.Fatalf("platform state changed by failed commands: %v → %v", before, after)
	}
	if !reflect.DeepEqual(kratosIDs(t), kratosBefore) {
		t.Fatal("Kratos changed by failed commands")
	}
}

// A backup restores into an empty database as the same legacy data: plan
// on the copy says exactly what plan on the original says.
func TestBackupRestores(t *testing.T) {
	e := newEnv(t, lf.Spec{Users: 30, EdgeCases: true, AttemptsPerUser: 2, SessionsPerUser: 2, Seed: 5})
	file := filepath.Join(e.dir, "b.jsonl.gz")
	e.must("backup", "-backup", file)
	original := e.must("plan")

	copyEnv := emptyEnv(t)
	copyEnv.domain = e.domain
	rs := copyEnv.must("restore", "-backup", file)
	if num(rs.report, "backup.legacy_rows.users") != e.fx.Users {
		t.Fatalf("restore: %v", rs.report["backup"])
	}
	restored := copyEnv.must("plan")
	for _, k := range []string{"legacy", "plan", "users", "conflicts", "sessions"} {
		if !reflect.DeepEqual(original.report[k], restored.report[k]) {
			t.Errorf("plan's %s differs between the original and the restored database", k)
		}
	}
	if r := copyEnv.cmd("restore", "-backup", file); r.code != 1 || !strings.Contains(r.stderr, "not empty") {
		t.Fatalf("restore into a database with legacy rows: exit %d, %s", r.code, r.stderr)
	}
}
