package migration

import (
	"context"
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	lf "github.com/learnplatform/platform/migrations/legacy/legacyfixture"
)

// state is everything a run leaves behind, with Kratos' generated ids and
// times replaced by the legacy ids they stand for, so two runs compare.
type state struct {
	Identities map[string]string // legacy id → identity without ids and times
	Mapping    map[string]string // legacy id → legacy id of its identity
	Events     []string
	Rows       []string
}

// scrub drops what Kratos generates anew for every identity.
func scrub(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, val := range x {
			switch k {
			case "id", "created_at", "updated_at", "verified_at", "state_changed_at":
				continue
			}
			out[k] = scrub(val)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			out[i] = scrub(val)
		}
		return out
	}
	return v
}

func snapshot(t *testing.T, e *env, conn *pgx.Conn, seeded []string) state {
	t.Helper()
	fixture := map[string]bool{}
	for _, id := range e.fx.IDs {
		fixture[id] = true
	}
	s := state{Identities: map[string]string{}, Mapping: map[string]string{}}
	legacyOf := map[string]string{} // identity id → legacy id
	for _, i := range identities(t) {
		l, _ := get(i, "metadata_admin.legacy_id").(string)
		if !fixture[l] {
			continue
		}
		if _, twice := s.Identities[l]; twice {
			t.Fatalf("legacy user %s has two identities", l)
		}
		b, _ := json.Marshal(scrub(i))
		s.Identities[l] = string(b)
		legacyOf[i["id"].(string)] = l
	}
	rows, err := conn.Query(context.Background(), `SELECT legacy_id::text, identity_id::text FROM legacy_identity_map`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var l, id string
		if err := rows.Scan(&l, &id); err != nil {
			t.Fatal(err)
		}
		if legacyOf[id] == "" {
			t.Fatalf("mapping %s → %s: no such identity in Kratos", l, id)
		}
		s.Mapping[l] = legacyOf[id]
	}
	rows.Close()
	for _, ev := range legacyEvents(t, conn) {
		if ev[2] != "" {
			ev[2] = "identity of " + legacyOf[ev[2]]
		}
		s.Events = append(s.Events, strings.Join(ev[:], "|"))
	}
	ids := append([]string(nil), seeded...)
	for id := range legacyOf {
		ids = append(ids, id)
	}
	for _, r := range platformRows(t, conn, ids) {
		parts := strings.SplitN(r, "|", 3)
		if l := legacyOf[parts[1]]; l != "" {
			parts[1] = "identity of " + l
		}
		s.Rows = append(s.Rows, strings.Join(parts, "|"))
	}
	sort.Strings(s.Rows)
	return s
}

// A run killed at the worst moment (Kratos has created a batch, the
// platform has not stored it) and again at a random one, then run to the
// end, leaves exactly what one uninterrupted run leaves.
func TestKilledRunEndsLikeAnUninterruptedOne(t *testing.T) {
	e := newEnv(t, lf.Spec{Users: 150, EdgeCases: true, HashPool: 25, AttemptsPerUser: 2, SessionsPerUser: 1, Seed: 11})
	conn := db(t)
	id := func(name string) string { return e.fx.IDs[name] }
	seeded := map[string][]string{
		id(lf.EdgeBcrypt2a): {"go-101"}, id(lf.EdgeDupPrimary): {"go-101"}, id(lf.EdgeDupSecondary): {"go-101", "sql-201"},
		id(lf.EdgeSocialGoogle): {"go-101"}, id(lf.EdgeInvalid1): {"go-101"},
	}
	seedPlatformRows(t, conn, seeded)
	var seededIDs []string
	for uid := range seeded {
		seededIDs = append(seededIDs, uid)
	}
	mapped := func() int { return count(t, conn, `SELECT count(DISTINCT identity_id) FROM legacy_identity_map`) }
	inKratos := func() int {
		n := 0
		for l := range byLegacyID(identities(t)) {
			for _, id := range e.fx.IDs {
				if id == l {
					n++
				}
			}
		}
		return n
	}

	// 1. The process kills itself right after Kratos answered batch 3.
	c, out, _ := e.startKillable([]string{"MIGRATE_LEGACY_CRASH_AFTER_BATCH=3"}, "run", "-batch-size", "5", "-no-backup-check")
	var lines []string
	for out.Scan() {
		lines = append(lines, out.Text())
	}
	if err := c.Wait(); !killedBySIGKILL(err) {
		t.Fatalf("the run was to kill itself after batch 3: %v\n%s", err, strings.Join(lines, "\n"))
	}
	// With two batches in flight, batch 4 may have been created, or even
	// stored, too; batch 3's five are in Kratos without a mapping.
	if m, k := mapped(), inKratos(); k-m < 5 {
		t.Fatalf("after the crash: %d identities mapped, %d in Kratos; want batch 3's 5 created, not stored", m, k)
	}

	// 2. Killed from outside after a few more batches.
	c, out, _ = e.startKillable(nil, "run", "-batch-size", "5", "-no-backup-check")
	done := 0
	for done < 4 && out.Scan() {
		if strings.Contains(out.Text(), "batch") && strings.Contains(out.Text(), "done") {
			done++
		}
	}
	_ = c.Process.Kill() // SIGKILL
	_ = c.Wait()
	if m := mapped(); m <= 10 {
		t.Fatalf("the second run stored no batch before it was killed (%d mapped)", m)
	}

	// 3. Run to the end. Batch 3's identities were found by lookup (by
	// the second run), not made twice.
	r := e.must("run", "-batch-size", "5", "-no-backup-check")
	if get(r.report, "run.resumed") != true {
		t.Fatalf("the last run did not notice the interruption: %v\n%s", r.report["run"], r.stdout)
	}
	if found := count(t, conn, `SELECT coalesce(sum(found), 0) FROM legacy_migration_batches`); found < 5 {
		t.Fatalf("%d identities found from the crashed batches, want at least batch 3's 5", found)
	}
	interrupted := snapshot(t, e, conn, seededIDs)
	if v := e.must("validate"); v.report["outcome"] != "valid" {
		t.Fatalf("validate after the crashes: %v", v.report["validate"])
	}
	if again := e.must("run", "-no-backup-check"); num(again.report, "run.identities_created")+num(again.report, "run.mapping_rows_added")+num(again.report, "run.events_copied") != 0 {
		t.Fatalf("a run after the resumed one changed something: %v", again.report["run"])
	}

	// The same legacy data, migrated in one go.
	e.must("rollback", "-yes")
	if n := inKratos(); n != 0 {
		t.Fatalf("rollback left %d identities (found by legacy id, made by the crashed run too)", n)
	}
	e.must("run", "-no-backup-check")
	straight := snapshot(t, e, conn, seededIDs)
	if len(straight.Identities) == 0 || len(straight.Events) == 0 || len(straight.Rows) == 0 {
		t.Fatal("the uninterrupted run left nothing to compare")
	}
	for name, pair := range map[string][2]any{
		"identities": {interrupted.Identities, straight.Identities}, "mapping": {interrupted.Mapping, straight.Mapping},
		"events": {interrupted.Events, straight.Events}, "platform rows": {interrupted.Rows, straight.Rows},
	} {
		if !reflect.DeepEqual(pair[0], pair[1]) {
			t.Errorf("%s differ between the interrupted and the uninterrupted run", name)
		}
	}
	e.must("rollback", "-yes")
}
