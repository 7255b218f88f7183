package migration

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/learnplatform/platform/e2e/internal/e2etest"
	"github.com/learnplatform/platform/e2e/internal/oidcprovider"
	lf "github.com/learnplatform/platform/migrations/legacy/legacyfixture"
)

// adminJSON calls Kratos' admin API.
func adminJSON(t *testing.T, method, path string, body any) *e2etest.Response {
	t.Helper()
	c := e2etest.NewClient(t)
	return c.Do(method, strings.TrimSuffix(e2etest.Need(t).URL("kratos-admin"), "/")+path, body)
}

// The whole life of a migration: a legacy database with every awkward
// case → plan → backup → run → validate → sign in with the original
// passwords and through Google/GitHub → run again (nothing changes) →
// rollback (Kratos and the platform back to where the backup found them).
func TestLifecycle(t *testing.T) {
	e := newEnv(t, lf.Spec{Users: 20, EdgeCases: true, AttemptsPerUser: 2, SessionsPerUser: 1, Seed: 7})
	conn := db(t)
	ctx := context.Background()
	id := func(name string) string { return e.fx.IDs[name] }

	// The platform already holds rows under legacy ids.
	seeded := map[string][]string{
		id(lf.EdgeBcrypt2a):     {"go-101"},
		id(lf.EdgeDupPrimary):   {"go-101"},
		id(lf.EdgeDupSecondary): {"go-101", "sql-201"}, // go-101 and its first usage day clash with eve's
		id(lf.EdgeInvalid1):     {"go-101"},            // never migrated: stays
	}
	seedPlatformRows(t, conn, seeded)
	var seededIDs []string
	for uid := range seeded {
		seededIDs = append(seededIDs, uid)
	}

	// Kratos already has two identities of its own: one with wes's email,
	// one holding xan's Google link.
	var foreign []string
	for _, body := range []map[string]any{
		{"schema_id": "default", "traits": map[string]any{"email": e.email(lf.EdgeTakenEmail)}},
		{"schema_id": "default", "traits": map[string]any{"email": "other-xan@" + e.domain},
			"credentials": map[string]any{"oidc": map[string]any{"config": map[string]any{"providers": []map[string]string{{"provider": "google", "subject": "xan-sub"}}}}}},
	} {
		res := adminJSON(t, "POST", "/admin/identities", body)
		if res.Status != http.StatusCreated {
			t.Fatalf("creating a foreign identity: %d %s", res.Status, res.Body)
		}
		var out struct{ ID string }
		res.JSON(t, &out)
		foreign = append(foreign, out.ID)
	}
	t.Cleanup(func() {
		for _, f := range foreign {
			adminJSON(t, "DELETE", "/admin/identities/"+f, nil)
		}
	})

	kratosBefore := kratosIDs(t)
	rowsBefore := platformRows(t, conn, seededIDs)
	eventsBefore := count(t, conn, `SELECT count(*) FROM auth_event_log`)
	mappedBefore := count(t, conn, `SELECT count(*) FROM legacy_identity_map`)

	// plan: counts, conflicts, what would happen; nothing written.
	plan := e.must("plan")
	if got := num(plan.report, "plan.identities"); got != 40 {
		t.Fatalf("plan: %d identities, want 40 (25 edge users - 3 invalid - 2 merged + 20)", got)
	}
	for kind, want := range map[string]int{
		"duplicate_email": 1, "invalid_email": 3, "no_credentials": 1, "unsupported_hash": 2, "unknown_role": 2,
		"duplicate_social_link": 1, "unknown_provider": 1, "name_too_long": 1, "exists_in_kratos": 1, "social_link_taken": 1,
	} {
		if got := num(plan.report, "conflict_counts."+kind); got != want {
			t.Errorf("plan: %d %s conflicts, want %d", got, kind, want)
		}
	}
	actions := map[string]string{}
	for _, u := range get(plan.report, "users").([]any) {
		actions[get(u, "legacy_id").(string)] = get(u, "action").(string)
	}
	for name, want := range map[string]string{lf.EdgeBcrypt2a: "create", lf.EdgeDupSecondary: "merge", lf.EdgeInvalid2: "skip", lf.EdgeTakenEmail: "blocked"} {
		if actions[id(name)] != want {
			t.Errorf("plan: %s would %q, want %q", name, actions[id(name)], want)
		}
	}
	if !strings.Contains(plan.stdout, "Kratos cannot import sessions") || !strings.Contains(plan.stdout, "signs in once more") {
		t.Errorf("plan's summary does not say sessions end:\n%s", plan.stdout)
	}
	if !strings.Contains(plan.stdout, "1 user_roles, 0 oauth_accounts and 1 sessions rows have no user") {
		t.Errorf("plan's summary does not report the rows that belong to nobody:\n%s", plan.stdout)
	}
	if !reflect.DeepEqual(kratosIDs(t), kratosBefore) || count(t, conn, `SELECT count(*) FROM legacy_identity_map`) != mappedBefore ||
		count(t, conn, `SELECT count(*) FROM auth_event_log`) != eventsBefore {
		t.Fatal("plan wrote something")
	}

	// run refuses without a backup; backup writes one.
	if r := e.cmd("run"); r.code != 1 || !strings.Contains(r.stderr, "no backup") {
		t.Fatalf("run without a backup: exit %d %s", r.code, r.stderr)
	}
	backupFile := filepath.Join(e.dir, "legacy-backup.jsonl.gz")
	b := e.must("backup", "-backup", backupFile)
	if num(b.report, "backup.kratos_identities") != len(kratosBefore) || num(b.report, "backup.legacy_rows.users") != e.fx.Users {
		t.Fatalf("backup report: %v", b.report["backup"])
	}
	if r := e.cmd("backup", "-backup", backupFile); r.code != 1 || !strings.Contains(r.stderr, "exists") {
		t.Fatalf("a second backup over the first: exit %d %s", r.code, r.stderr)
	}

	// run, in batches of 7.
	run := e.must("run", "-batch-size", "7")
	if got := num(run.report, "run.identities_created"); got != 39 {
		t.Fatalf("run created %d identities, want 39 (wes is blocked)\n%s", got, run.stdout)
	}
	if num(run.report, "run.not_migrated") != 1 || num(run.report, "run.batches") != 6 {
		t.Fatalf("run report: %v", run.report["run"])
	}
	attempts := 25*3 + 20*2 + 3
	if num(run.report, "run.events_copied") != attempts {
		t.Fatalf("run copied %d login attempts, want %d", num(run.report, "run.events_copied"), attempts)
	}
	if !strings.Contains(run.stdout, "batch 1 done") || strings.Contains(run.stdout, "\r") {
		t.Fatalf("progress into a pipe should be plain lines:\n%s", run.stdout)
	}
	for kind, want := range map[string]int{"exists_in_kratos": 1, "social_link_taken": 1, "platform_row_collision": 2} {
		if got := num(run.report, "conflict_counts."+kind); got != want {
			t.Errorf("run: %d %s conflicts, want %d", got, kind, want)
		}
	}

	// validate, signing in as everyone with a known password (through the
	// edge) but wes, whose email belongs to the foreign identity.
	delete(e.fx.Passwords, e.email(lf.EdgeTakenEmail))
	v := e.must("validate", "-public-url", e2etest.Need(t).URL("identity"), "-passwords", e.passwordsFile())
	if v.report["outcome"] != "valid" || num(v.report, "validate.correct_identities") != 39 || num(v.report, "validate.not_migrated_as_reported") != 1 ||
		num(v.report, "validate.sign_ins.succeeded") != len(e.fx.Passwords) {
		t.Fatalf("validate: %v\n%s", v.report["validate"], v.stdout)
	}

	// The identities, as Kratos has them.
	all := byLegacyID(identities(t))
	ident := func(name string) map[string]any {
		i := all[id(name)]
		if i == nil {
			t.Fatalf("no identity for %s", name)
		}
		return i
	}
	check := func(name, path string, want any) {
		t.Helper()
		if got := get(ident(name), path); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %s = %#v, want %#v", name, path, got, want)
		}
	}
	check(lf.EdgeBcrypt2a, "metadata_public.role", "student")
	check(lf.EdgeBcrypt2b, "metadata_public.role", "instructor")
	check(lf.EdgeBcrypt2y, "metadata_public.role", "admin")
	check(lf.EdgeUnknownRole, "metadata_public.role", "instructor")
	check(lf.EdgeUnknownRole, "metadata_admin.legacy_roles", []any{"teacher"})
	check(lf.EdgeNullRole, "metadata_public.role", "student")
	check(lf.EdgeInactive, "state", "inactive")
	check(lf.EdgeBcrypt2a, "state", "active")
	check(lf.EdgeBcrypt2a, "traits.name", "Ada Legacy")
	check(lf.EdgeNoCredentials, "metadata_admin.recovery_required", true)
	check(lf.EdgeMD5, "metadata_admin.recovery_required", true)
	check(lf.EdgeSHA1, "credentials.oidc.identifiers", []any{"google:ned-sub"})
	check(lf.EdgeUnknownProv, "metadata_admin.legacy_social_links", []any{map[string]any{"provider": "facebook", "subject": "tom-sub"}})
	check(lf.EdgeSharedLinkOld, "credentials.oidc.identifiers", []any{"google:shared-sub"})
	check(lf.EdgeSharedLinkNew, "credentials.oidc", nil)
	check(lf.EdgeTakenLink, "credentials.oidc", nil)
	check(lf.EdgeDupPrimary, "traits.email", e.email("eve"))
	check(lf.EdgeDupPrimary, "credentials.oidc.identifiers", []any{"google:eve-sub"})
	check(lf.EdgeDupPrimary, "metadata_public.role", "student")
	for name, verified := range map[string]bool{lf.EdgeUnverified: false, lf.EdgeBcrypt2a: true, lf.EdgeSocialGitHub: false} {
		addr := get(ident(name), "verifiable_addresses").([]any)[0]
		if get(addr, "verified") != verified {
			t.Errorf("%s: address %v, want verified %v", name, addr, verified)
		}
	}
	if n := utf8.RuneCountInString(get(ident(lf.EdgeLongName), "traits.name").(string)); n != 200 {
		t.Errorf("uma's name has %d characters, want 200", n)
	}
	for name, prefix := range map[string]string{lf.EdgeBcrypt2a: "$2a$04$", lf.EdgeBcrypt2b: "$2b$04$", lf.EdgeBcrypt2y: "$2y$04$"} {
		if h, _ := get(ident(name), "credentials.password.config.hashed_password").(string); !strings.HasPrefix(h, prefix) {
			t.Errorf("%s: hash %q, want the legacy %s… hash as is", name, h, prefix)
		}
	}
	for _, name := range []string{lf.EdgeDupSecondary, lf.EdgeDupSocial, lf.EdgeInvalid1, lf.EdgeTakenEmail} {
		if all[id(name)] != nil {
			t.Errorf("%s has an identity of its own", name)
		}
	}

	// Original passwords sign in through the edge, whatever the bcrypt
	// prefix; the merged duplicate's other password and an inactive user
	// do not.
	for _, name := range []string{lf.EdgeBcrypt2a, lf.EdgeBcrypt2b, lf.EdgeBcrypt2y, lf.EdgeDupPrimary} {
		email := e.email(name)
		if token, res := e2etest.NewClient(t).Login(email, e.fx.Passwords[email]); token == "" {
			t.Errorf("sign-in as %s: %d %s", name, res.Status, res.Body)
		}
	}
	for _, name := range []string{"eve", lf.EdgeInactive} {
		email := e.email(name)
		if token, _ := e2etest.NewClient(t).Login(email, e.fx.Refused[email]); token != "" {
			t.Errorf("%s signed in with a password that should not work", name)
		}
	}
	// Google and GitHub sign-in land in the migrated identities; the merged
	// duplicate's Google link lands in the merged identity.
	for name, prov := range map[string]string{lf.EdgeSocialGoogle: "google", lf.EdgeSocialGitHub: "github", lf.EdgeDupSocial: "google"} {
		sub := lf.SocialSubjects[name][1]
		target := name
		if name == lf.EdgeDupSocial {
			target = lf.EdgeDupPrimary
		}
		got := signInWithProvider(t, prov, oidcprovider.User{Subject: sub, Email: e.email(target), EmailVerified: true, Name: "Social " + name})
		if want := ident(target)["id"]; got != want {
			t.Errorf("%s sign-in as %s: identity %s, want %s", prov, name, got, want)
		}
	}

	// Login attempts: every one, at its original time, with its identity.
	events := legacyEvents(t, conn)
	if len(events) != attempts {
		t.Fatalf("%d legacy events, want %d", len(events), attempts)
	}
	var adaEvents, anonymous int
	for _, ev := range events {
		if ev[2] == ident(lf.EdgeBcrypt2a)["id"] {
			adaEvents++
		}
		if ev[2] == "" {
			anonymous++
		}
	}
	// No identity: nobody@ three times, the three invalid emails' and
	// blocked wes's three attempts each.
	if adaEvents != 3 || anonymous != 3+3*3+3 {
		t.Errorf("ada has %d events, %d have no identity", adaEvents, anonymous)
	}
	var legacyAt, logAt string
	if err := pgxConnect(t, e.fx.DSN).QueryRow(ctx, `SELECT to_char(attempted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') FROM login_attempts ORDER BY id LIMIT 1`).Scan(&legacyAt); err != nil {
		t.Fatal(err)
	}
	logAt = events[0][1]
	if legacyAt != logAt {
		t.Errorf("first login attempt at %s became an event at %s", legacyAt, logAt)
	}

	// Platform rows moved to identity ids, except the clashing ones.
	eveID := ident(lf.EdgeDupPrimary)["id"].(string)
	rows := platformRows(t, conn, append(seededIDs, eveID, ident(lf.EdgeBcrypt2a)["id"].(string)))
	for _, want := range []string{
		"tutor_enrollments|" + eveID + "|go-101", "tutor_enrollments|" + eveID + "|sql-201",
		"tutor_enrollments|" + id(lf.EdgeDupSecondary) + "|go-101",
		"ai_usage_metric|" + id(lf.EdgeDupSecondary) + "|2024-05-01",
		"tutor_enrollments|" + id(lf.EdgeInvalid1) + "|go-101",
		"tutor_enrollments|" + ident(lf.EdgeBcrypt2a)["id"].(string) + "|go-101",
	} {
		if !contains(rows, want) {
			t.Errorf("platform rows lack %s:\n%s", want, strings.Join(rows, "\n"))
		}
	}

	// run again: nothing changes.
	kratosAfter := kratosIDs(t)
	rowsAfter := platformRows(t, conn, append(seededIDs, eveID))
	again := e.must("run")
	for _, k := range []string{"identities_created", "identities_found", "mapping_rows_added", "events_copied", "events_relinked", "batches"} {
		if num(again.report, "run."+k) != 0 {
			t.Errorf("second run: %s = %d", k, num(again.report, "run."+k))
		}
	}
	if !strings.Contains(again.stdout, "nothing changed") {
		t.Errorf("second run's summary:\n%s", again.stdout)
	}
	if !reflect.DeepEqual(kratosIDs(t), kratosAfter) || !reflect.DeepEqual(platformRows(t, conn, append(seededIDs, eveID)), rowsAfter) ||
		!reflect.DeepEqual(legacyEvents(t, conn), events) {
		t.Fatal("the second run changed something")
	}

	// rollback: a dry run first, then for real, compared with the backup.
	dry := e.must("rollback")
	if dry.report["outcome"] != "dry run" || num(dry.report, "rollback.identities") != 39 || !reflect.DeepEqual(kratosIDs(t), kratosAfter) {
		t.Fatalf("rollback without -yes: %v", dry.report["rollback"])
	}
	rb := e.must("rollback", "-yes", "-backup", backupFile)
	if get(rb.report, "rollback.backup.matches") != true || num(rb.report, "rollback.deleted") != 39 {
		t.Fatalf("rollback: %v\n%s", rb.report["rollback"], rb.stdout)
	}
	if got := kratosIDs(t); !reflect.DeepEqual(got, kratosBefore) {
		t.Fatalf("Kratos after rollback: %d identities, before the run %d", len(got), len(kratosBefore))
	}
	if got := platformRows(t, conn, seededIDs); !reflect.DeepEqual(got, rowsBefore) {
		t.Fatalf("platform rows after rollback:\n%s\nbefore:\n%s", strings.Join(got, "\n"), strings.Join(rowsBefore, "\n"))
	}
	if n := len(legacyEvents(t, conn)); n != 0 || count(t, conn, `SELECT count(*) FROM legacy_identity_map`) != 0 {
		t.Fatalf("after rollback: %d legacy events, mapping not empty", n)
	}
	if _, err := os.Stat(backupFile); err != nil {
		t.Fatal(err)
	}
	if r := e.cmd("validate"); r.code != 1 || r.report["outcome"] != "invalid" {
		t.Fatalf("validate after rollback: exit %d, %v", r.code, r.report["outcome"])
	}
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}
