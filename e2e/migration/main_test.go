// Package migration tests the one-time migration from the legacy auth
// system (migrations/legacy, cmd/migrate-legacy) on the real stack: legacy
// fixture databases made in the stack's PostgreSQL cluster, the real
// command binary against the real Kratos, sign-ins through the identity
// edge, and Google/GitHub sign-in through a local OpenID Connect provider
// that Kratos knows under the provider ids the legacy data uses.
//
// The tests share one Kratos and one platform database, so they run one
// after another, and each ends with a rollback. They sign in as many users
// from one address, right and wrong: the edge runs with the platform's
// identity policy but a looser per-address throttle (migrationPolicy).
package migration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.yaml.in/yaml/v3"

	"github.com/learnplatform/platform/e2e/internal/e2etest"
	"github.com/learnplatform/platform/e2e/internal/oidcprovider"
	"github.com/learnplatform/platform/migrations/legacy"
	"github.com/learnplatform/platform/migrations/legacy/kratos"
	"github.com/learnplatform/platform/migrations/legacy/legacyfixture"
	"github.com/learnplatform/platform/stack"
	"github.com/learnplatform/platform/stack/oryconfig"
)

// idp stands in for Google and GitHub: Kratos knows it as providers
// "google" and "github", the names legacy oauth_accounts use.
var idp *oidcprovider.Provider

func TestMain(m *testing.M) {
	for _, k := range oryconfig.ProviderEnv() {
		os.Unsetenv(k)
	}
	var err error
	idp, err = oidcprovider.Start(oidcprovider.Config{ClientID: "learnplatform-kratos", ClientSecret: randomHex(12)})
	if err != nil {
		fmt.Fprintln(os.Stderr, "migration: starting the OpenID Connect provider:", err)
		os.Exit(1)
	}
	policy, err := migrationPolicy()
	if err != nil {
		fmt.Fprintln(os.Stderr, "migration: identity policy:", err)
		os.Exit(1)
	}
	e2etest.MainWith(m, func(o *stack.Options) {
		o.IdentityPolicy = policy
		var callbacks []string
		for id, mapper := range map[string]string{"google": "google.jsonnet", "github": "github.jsonnet"} {
			o.OIDCProviders = append(o.OIDCProviders, oryconfig.OIDCProvider{
				ID: id, Provider: "generic", Label: "Local " + id, IssuerURL: idp.Issuer(),
				ClientID: idp.ClientID(), ClientSecret: idp.ClientSecret(),
				Mapper: mapper, Scope: []string{"email", "profile"},
			})
			callbacks = append(callbacks, fmt.Sprintf("http://127.0.0.1:%d/self-service/methods/oidc/callback/%s", o.Ports.Identity, id))
		}
		idp.SetRedirectURIs(callbacks...)
	})
}

// migrationPolicy writes ory-config/identity.yml with a per-address
// throttle of 10,000 failures: the tests refuse wrong passwords for dozens
// of migrated users from 127.0.0.1, which the platform's 50 would block.
func migrationPolicy() (string, error) {
	root, err := stack.RepoRoot()
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile(filepath.Join(root, "ory-config", "identity.yml"))
	if err != nil {
		return "", err
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return "", err
	}
	lockout, _ := doc["lockout"].(map[string]any)
	throttle, _ := lockout["ip_throttle"].(map[string]any)
	if throttle == nil {
		return "", errors.New("ory-config/identity.yml has no lockout.ip_throttle")
	}
	throttle["max_failures"] = 10000
	out, err := yaml.Marshal(doc)
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "migration-policy-")
	if err != nil {
		return "", err
	}
	os.Chmod(dir, 0o755)
	path := filepath.Join(dir, "identity.yml")
	return path, os.WriteFile(path, out, 0o644)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds cmd/migrate-legacy once per test binary.
func binary(t testing.TB) string {
	t.Helper()
	s := e2etest.Need(t)
	buildOnce.Do(func() {
		binPath = filepath.Join(s.Dir, "migrate-legacy")
		cmd := exec.Command("go", "build", "-o", binPath, "./migrations/cmd/migrate-legacy")
		cmd.Dir = s.Root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// env is one fixture and the flags that point the command at it.
type env struct {
	t        testing.TB
	fx       *legacyfixture.Fixture
	domain   string
	platform string
	kratos   string
	dir      string
}

// newEnv makes a legacy database in the stack's cluster and fills it.
func newEnv(t testing.TB, spec legacyfixture.Spec) *env {
	t.Helper()
	s := e2etest.Need(t)
	ctx := context.Background()
	dsn, err := legacyfixture.Create(ctx, s.DSN("postgres"), "legacy")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = legacyfixture.Drop(context.Background(), s.DSN("postgres"), dsn) })
	rollbackIfFailed(t)
	if spec.Domain == "" {
		spec.Domain = "m" + randomHex(3) + ".example.org"
	}
	fx, err := legacyfixture.Generate(ctx, dsn, spec)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, fx: fx, domain: spec.Domain, platform: s.DSN("platform"), kratos: s.URL("kratos-admin"), dir: t.TempDir()}
}

// rollbackIfFailed rolls the platform back when t fails: every test ends
// with a rollback, and one that stops halfway must not hand the next test
// (whichever runs next) a half-migrated Kratos and platform database.
func rollbackIfFailed(t testing.TB) {
	t.Helper()
	s := e2etest.Need(t)
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		c := exec.Command(binary(t), "rollback", "-yes", "-platform-dsn", s.DSN("platform"), "-kratos-admin", s.URL("kratos-admin"))
		c.Env = cleanEnv()
		if out, err := c.CombinedOutput(); err != nil {
			t.Logf("rolling back after the failure: %v\n%s", err, out)
		}
	})
}

func (e *env) flags(cmd string) []string {
	f := []string{cmd}
	switch cmd {
	case "plan", "backup", "run", "validate":
		f = append(f, "-legacy-dsn", e.fx.DSN, "-platform-dsn", e.platform, "-kratos-admin", e.kratos)
	case "rollback":
		f = append(f, "-platform-dsn", e.platform, "-kratos-admin", e.kratos)
	case "restore":
		f = append(f, "-legacy-dsn", e.fx.DSN)
	}
	return f
}

// result is one run of the command.
type result struct {
	code   int
	stdout string
	stderr string
	report map[string]any
}

// cmd runs the command with the environment's flags and extra ones; the
// JSON report is read back.
func (e *env) cmd(command string, extra ...string) result {
	e.t.Helper()
	report := filepath.Join(e.dir, fmt.Sprintf("%s-%s.json", command, randomHex(3)))
	args := append(e.flags(command), extra...)
	args = append(args, "-report", report)
	c := exec.Command(binary(e.t), args...)
	c.Env = cleanEnv()
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		e.t.Fatal(err)
	}
	if data, err := os.ReadFile(report); err == nil {
		if err := json.Unmarshal(data, &r.report); err != nil {
			e.t.Fatalf("report %s: %v", report, err)
		}
	}
	return r
}

// must runs the command and fails the test unless it exits 0.
func (e *env) must(command string, extra ...string) result {
	e.t.Helper()
	r := e.cmd(command, extra...)
	if r.code != 0 {
		e.t.Fatalf("migrate-legacy %s: exit %d\nstdout:\n%s\nstderr:\n%s", command, r.code, r.stdout, r.stderr)
	}
	return r
}

func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		switch strings.SplitN(kv, "=", 2)[0] {
		case "LEGACY_DATABASE_URL", "PLATFORM_DATABASE_URL", "KRATOS_ADMIN_URL", "KRATOS_PUBLIC_URL", "MIGRATE_LEGACY_CRASH_AFTER_BATCH":
			continue
		}
		out = append(out, kv)
	}
	return out
}

// get reads a value from a decoded JSON report by a dotted path.
func get(v any, path string) any {
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func num(v any, path string) int {
	f, _ := get(v, path).(float64)
	return int(f)
}

// email is an edge case's normalized address.
func (e *env) email(name string) string { return name + "@" + e.domain }

// passwordsFile writes the fixture's known passwords for validate.
func (e *env) passwordsFile() string {
	e.t.Helper()
	var keys []string
	for k := range e.fx.Passwords {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s\t%s\n", k, e.fx.Passwords[k])
	}
	path := filepath.Join(e.dir, "passwords.tsv")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return path
}

// db connects to the platform database.
func db(t testing.TB) *pgx.Conn {
	t.Helper()
	return pgxConnect(t, e2etest.Need(t).DSN("platform"))
}

func count(t testing.TB, conn *pgx.Conn, q string, args ...any) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// identities lists every Kratos identity through the admin API, with
// credentials, as decoded JSON.
func identities(t testing.TB) []map[string]any {
	t.Helper()
	k, err := kratos.New(e2etest.Need(t).URL("kratos-admin"))
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	err = k.List(context.Background(), true, func(page []kratos.Identity) error {
		for _, i := range page {
			var m map[string]any
			if err := json.Unmarshal(i.Raw, &m); err != nil {
				return err
			}
			out = append(out, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// byLegacyID indexes identities made by the migration by their legacy id.
func byLegacyID(all []map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, i := range all {
		if l, _ := get(i, "metadata_admin.legacy_id").(string); l != "" {
			out[l] = i
		}
	}
	return out
}

// kratosIDs are the ids of all identities with their updated_at, to see
// that nothing changed.
func kratosIDs(t testing.TB) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, i := range identities(t) {
		out[i["id"].(string)] = fmt.Sprint(i["updated_at"])
	}
	return out
}

// seedPlatformRows gives some legacy users tutor rows under their legacy
// ids, as a platform that ran beside the legacy system would have.
func seedPlatformRows(t testing.TB, conn *pgx.Conn, users map[string][]string) {
	t.Helper()
	ctx := context.Background()
	for uid, courses := range users {
		for i, course := range courses {
			thread := "thr_" + randomHex(8)
			item := "msg_" + randomHex(8)
			day := time.Date(2024, 5, 1+i, 0, 0, 0, 0, time.UTC)
			for _, q := range []struct {
				sql  string
				args []any
			}{
				{`INSERT INTO tutor_enrollments (user_id, course, unlocked_stage) VALUES ($1, $2, 2)`, []any{uid, course}},
				{`INSERT INTO tutor_threads (id, user_id, title, course, created_at, updated_at) VALUES ($1, $2, 'old thread', $3, $4, $4)`, []any{thread, uid, course, day}},
				{`INSERT INTO tutor_message_quota (user_id, sent_at) VALUES ($1, $2)`, []any{uid, day.Add(time.Duration(i) * time.Minute)}},
				{`INSERT INTO ai_usage_metric (user_id, day, messages) VALUES ($1, $2, 3) ON CONFLICT DO NOTHING`, []any{uid, day}},
				{`INSERT INTO tutor_feedback (user_id, item_id, thread_id, kind, course) VALUES ($1, $2, $3, 'positive', $4)`, []any{uid, item, thread, course}},
			} {
				if _, err := conn.Exec(ctx, q.sql, q.args...); err != nil {
					t.Fatalf("%s: %v", q.sql, err)
				}
			}
		}
	}
}

// platformRows reads every UserTables row of the given user ids (legacy or
// identity ids), as "table|user|key" strings, sorted.
func platformRows(t testing.TB, conn *pgx.Conn, ids []string) []string {
	t.Helper()
	var out []string
	for _, ut := range legacy.UserTables {
		key := make([]string, len(ut.Key))
		for i, k := range ut.Key {
			key[i] = k + "::text"
		}
		rows, err := conn.Query(context.Background(), fmt.Sprintf(`SELECT %s, concat_ws(',', %s) FROM %s WHERE %s = ANY($1)`,
			ut.Column, strings.Join(key, ", "), ut.Table, ut.Column), ids)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var user, k string
			if err := rows.Scan(&user, &k); err != nil {
				t.Fatal(err)
			}
			out = append(out, ut.Table+"|"+user+"|"+k)
		}
		rows.Close()
	}
	sort.Strings(out)
	return out
}

// legacyEvents reads the auth events copied from the legacy system.
func legacyEvents(t testing.TB, conn *pgx.Conn) [][7]string {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT event_type, to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
		coalesce(identity_id::text, ''), coalesce(email, ''), coalesce(ip, ''), coalesce(user_agent, ''), detail::text
		FROM auth_event_log WHERE detail->>'source' = 'legacy' ORDER BY (detail->>'legacy_id')::bigint`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][7]string
	for rows.Next() {
		var e [7]string
		if err := rows.Scan(&e[0], &e[1], &e[2], &e[3], &e[4], &e[5], &e[6]); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// startKillable starts the command with its stdout piped, for tests that
// stop it midway.
func (e *env) startKillable(extraEnv []string, command string, extra ...string) (*exec.Cmd, *bufio.Scanner, *bytes.Buffer) {
	e.t.Helper()
	args := append(e.flags(command), extra...)
	args = append(args, "-report", filepath.Join(e.dir, "killed-"+randomHex(3)+".json"))
	c := exec.Command(binary(e.t), args...)
	c.Env = append(cleanEnv(), extraEnv...)
	var errb bytes.Buffer
	c.Stderr = &errb
	pipe, err := c.StdoutPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		e.t.Fatal(err)
	}
	return c, bufio.NewScanner(pipe), &errb
}

// killedBySIGKILL reports whether c ended by SIGKILL.
func killedBySIGKILL(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// signInWithProvider signs in through the local provider as provider
// ("google" or "github") and returns the session's identity id.
func signInWithProvider(t *testing.T, provider string, u oidcprovider.User) string {
	t.Helper()
	idp.SetUser(u)
	c := e2etest.NewClient(t)
	at, page := c.Follow(c.Base+"login", "")
	if page.Status != http.StatusOK || !strings.Contains(at, "/login?flow=") {
		t.Fatalf("login page: %d at %s", page.Status, at)
	}
	f := e2etest.PageForm(t, page, "oidc")
	if f == nil {
		t.Fatalf("the login page has no social sign-in form:\n%s", page.Body)
	}
	res := c.Press(f, "provider", provider, nil)
	if res.Status != http.StatusSeeOther {
		t.Fatalf("pressing %s: %d\n%s", provider, res.Status, res.Body)
	}
	at, page = c.FollowFrom(at, res)
	if !strings.Contains(at, "/welcome") {
		t.Fatalf("social sign-in as %s ended at %s (%d):\n%s", u.Email, at, page.Status, page.Body)
	}
	who := c.Do("GET", "/sessions/whoami", nil)
	var s struct {
		Identity struct {
			ID string `json:"id"`
		} `json:"identity"`
	}
	who.JSON(t, &s)
	return s.Identity.ID
}

// pgxConnect connects to dsn for the rest of the test.
func pgxConnect(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}
