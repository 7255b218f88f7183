package migration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/learnplatform/platform/e2e/internal/e2etest"
	lf "github.com/learnplatform/platform/migrations/legacy/legacyfixture"
)

// BenchmarkLegacyMigration migrates a legacy database of 100,000 users
// (MIGRATE_LEGACY_BENCH_USERS changes the number) on the real stack with
// the real command, in Kratos batches of 1,000: backup, run, validate
// (with 200 sign-ins through the edge), rollback. Password hashes are
// mostly bcrypt; a tenth of the users with a password have one of the
// other formats of legacyfixture.HashVectors (Django, passlib, crypt,
// LDAP, Kratos' own forms), and every vector has a user of its own. It reports users per
// second of the run's identity phase and of the whole run, and each
// command's seconds. `make bench` runs it once (-benchtime 1x); the goal
// is the whole run in under 10 minutes on 2 cores.
func BenchmarkLegacyMigration(b *testing.B) {
	users := 100000
	if v := os.Getenv("MIGRATE_LEGACY_BENCH_USERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("MIGRATE_LEGACY_BENCH_USERS=%q", v)
		}
		users = n
	}
	start := time.Now()
	e := newEnv(b, lf.Spec{Users: users, EdgeCases: true, HashFormats: true, OtherFormats: 10, HashPool: 256,
		AttemptsPerUser: 3, SessionsPerUser: 1, Seed: 42})
	conn := db(b)
	// A tenth of the learners already have tutor rows under legacy ids.
	var ids []string
	for email, id := range e.fx.IDs {
		if strings.HasPrefix(email, "user-") && len(ids) < users/10 {
			ids = append(ids, id)
		}
	}
	if _, err := conn.Exec(context.Background(), `
		INSERT INTO tutor_enrollments (user_id, course, unlocked_stage) SELECT u, 'go-101', 2 FROM unnest($1::text[]) u;
	`, ids); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.Exec(context.Background(), `
		INSERT INTO tutor_threads (id, user_id, title, created_at, updated_at) SELECT 'thr_bench_' || u, u, 'old', now(), now() FROM unnest($1::text[]) u`, ids); err != nil {
		b.Fatal(err)
	}
	// 200 known passwords to sign in with.
	var emails []string
	for email := range e.fx.Passwords {
		emails = append(emails, email)
	}
	sort.Strings(emails)
	var sample strings.Builder
	for i := 0; i < len(emails) && i < 200; i++ {
		k := emails[i*len(emails)/min(200, len(emails))]
		fmt.Fprintf(&sample, "%s\t%s\n", k, e.fx.Passwords[k])
	}
	passwords := filepath.Join(e.dir, "sample.tsv")
	if err := os.WriteFile(passwords, []byte(sample.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	b.Logf("fixture: %d legacy users, %d platform users with tutor rows, made in %s", e.fx.Users, len(ids), time.Since(start).Round(time.Second))

	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		backup := e.must("backup", "-backup", filepath.Join(e.dir, fmt.Sprintf("bench-%d.jsonl.gz", i)), "-force")
		run := e.must("run")
		validate := e.must("validate", "-public-url", e2etest.Need(b).URL("identity"), "-passwords", passwords)
		if validate.report["outcome"] != "valid" {
			b.Fatalf("validate: %v", validate.report["validate"])
		}
		b.StopTimer()
		rollback := e.must("rollback", "-yes")
		b.StartTimer()

		secs := func(r result) float64 { f, _ := get(r.report, "duration_seconds").(float64); return f }
		perSec, _ := get(run.report, "run.users_per_second").(float64)
		b.ReportMetric(perSec, "users/s")
		b.ReportMetric(float64(e.fx.Users)/secs(run), "users/s-whole-run")
		b.ReportMetric(secs(run), "run-s")
		b.ReportMetric(secs(validate), "validate-s")
		b.ReportMetric(secs(backup), "backup-s")
		b.ReportMetric(secs(rollback), "rollback-s")
		b.Logf("run: %d identities in %d batches, %.0f users/s (identity phase), %.1fs in all (events %v, rows %v)",
			num(run.report, "run.identities_created"), num(run.report, "run.batches"), perSec, secs(run),
			num(run.report, "run.events_copied"), get(run.report, "run.platform_rows_rewritten"))
		b.Logf("passwords imported: %d, %d of them translated; %d formats",
			num(run.report, "plan.passwords_imported"), num(run.report, "plan.passwords_translated"), len(get(run.report, "plan.password_formats").(map[string]any)))
		b.Logf("validate %.1fs (Kratos listed in %.1fs, %d sign-ins in %.1fs); backup %.1fs; rollback %.1fs",
			secs(validate), get(validate.report, "validate.kratos_list_seconds"), num(validate.report, "validate.sign_ins.succeeded"),
			get(validate.report, "validate.sign_ins.seconds"), secs(backup), secs(rollback))
	}
}
