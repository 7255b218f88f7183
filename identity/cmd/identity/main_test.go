package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/learnplatform/platform/identity/config"
	"github.com/learnplatform/platform/identity/internal/edgetest"
	kitconfig "github.com/learnplatform/platform/kit/config"
	fakeory "github.com/learnplatform/platform/kit/orytest"
	"github.com/learnplatform/platform/kit/pgtest"
	"github.com/learnplatform/platform/kit/server"
)

var cluster *pgtest.Cluster

func TestMain(m *testing.M) { pgtest.Main(m, &cluster) }

var (
	dbOnce sync.Once
	dbURL  string // the package's one database; each test has a schema in it
)

// platformDB makes a fresh schema with the platform tables the edge writes
// (auth event log, lockouts, token revocations), made by the real
// migrations, and returns its URL (search_path set) and a pool on it.
func platformDB(t *testing.T) (string, *pgxpool.Pool) {
	t.Helper()
	dbOnce.Do(func() { dbURL = cluster.NewDatabase(t) })
	var files []string
	for _, f := range []string{"00001_auth_event_log.sql", "00002_login_lockouts.sql", "00030_token_revocations.sql"} {
		files = append(files, filepath.Join("../../../migrations/sql", f))
	}
	dsn := edgetest.NewSchema(t, dbURL, files...)
	db, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return dsn, db
}

// fakes are Kratos, Hydra and the token issuer, and a config file for them.
type fakes struct {
	kratos *fakeory.Kratos
	hydra  *fakeory.Hydra
	issuer *fakeory.Issuer
	config string // path of identity.yml
}

func newFakes(t *testing.T) *fakes {
	f := &fakes{kratos: fakeory.NewKratos(t), hydra: fakeory.NewHydra(t), issuer: fakeory.NewIssuer(t)}
	f.config = filepath.Join(t.TempDir(), "identity.yml")
	policy, err := filepath.Abs(filepath.Join("..", "..", "..", "ory-config", "identity.yml"))
	if err != nil {
		t.Fatal(err)
	}
	yml := fmt.Sprintf(`public_url: http://127.0.0.1:4455/
policy_file: %s
token_issuer: %s
token_jwks_url: %s
kratos: {public_url: %s, admin_url: %s}
hydra: {admin_url: %s}
`, policy, f.issuer.URL(), f.issuer.JWKSURL(),
		f.kratos.Public.URL+"/", f.kratos.Admin.URL+"/", f.hydra.Admin.URL+"/")
	if err := os.WriteFile(f.config, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// revocations lists the records in the table as "subject|keep|session|reason".
func revocations(t *testing.T, db *pgxpool.Pool) []string {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT coalesce(subject, ''), coalesce(keep_session_id, ''), coalesce(session_id, ''), reason
		FROM token_revocations ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a, b, c, d string
		if err := rows.Scan(&a, &b, &c, &d); err != nil {
			t.Fatal(err)
		}
		out = append(out, a+"|"+b+"|"+c+"|"+d)
	}
	return out
}

func runUsers(env map[string]string, args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := users(args, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestUsersSetRoleRevokesTokens(t *testing.T) {
	f := newFakes(t)
	dsn, db := platformDB(t)
	id := f.kratos.AddIdentity(fakeory.Identity{Email: "ada@example.org", Role: "admin"})
	env := map[string]string{"IDENTITY_DATABASE_URL": dsn}

	code, out, errOut := runUsers(env, "set-role", "-config", f.config, "Ada@Example.org", "student")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := "ada@example.org (" + id + "): role admin -> student; tokens issued before were revoked; the new role shows in the user's next token\n"
	if out != want {
		t.Fatalf("output %q, want %q", out, want)
	}
	if i, _ := f.kratos.Identity(id); i.Role != "student" {
		t.Fatalf("role %q", i.Role)
	}
	if got := revocations(t, db); len(got) != 1 || got[0] != id+"|||role_changed" {
		t.Fatalf("revocations: %q", got)
	}
	var n int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM auth_event_log WHERE event_type = 'role.changed' AND identity_id = $1`, id).Scan(&n); err != nil || n != 1 {
		t.Fatalf("event log: %d %v", n, err)
	}
}

func TestUsersSetStateDeactivates(t *testing.T) {
	f := newFakes(t)
	dsn, db := platformDB(t)
	id := f.kratos.AddIdentity(fakeory.Identity{Email: "bob@example.org"})
	s := f.kratos.AddSession(id)
	env := map[string]string{"IDENTITY_DATABASE_URL": dsn}

	code, out, errOut := runUsers(env, "set-state", "-config", f.config, "bob@example.org", "inactive")
	if code != 0 || !strings.HasSuffix(out, "state active -> inactive; the user's sessions were ended and their tokens revoked\n") {
		t.Fatalf("exit %d: %q %s", code, out, errOut)
	}
	if i, _ := f.kratos.Identity(id); !i.Inactive {
		t.Fatal("still active")
	}
	if f.kratos.Active(s.ID) {
		t.Fatal("the session survived")
	}
	if logins, consents := f.hydra.Ended(); len(logins) != 1 || len(consents) != 1 {
		t.Fatalf("hydra: %v %v", logins, consents)
	}
	if got := revocations(t, db); len(got) != 1 || got[0] != id+"|||deactivated" {
		t.Fatalf("revocations: %q", got)
	}
	code, out, _ = runUsers(env, "set-state", "-config", f.config, "bob@example.org", "active")
	if code != 0 || !strings.HasSuffix(out, "state inactive -> active; the user can sign in again\n") || len(revocations(t, db)) != 1 {
		t.Fatalf("activate: %d %q", code, out)
	}
}

// Without the database the command changes nothing: a role change whose
// tokens cannot be revoked leaves the old role working for hours.
func TestUsersRefuseWithoutTheDatabase(t *testing.T) {
	f := newFakes(t)
	id := f.kratos.AddIdentity(fakeory.Identity{Email: "ada@example.org", Role: "admin"})
	for name, c := range map[string]struct {
		env  map[string]string
		code int
		want string
	}{
		"IDENTITY_DATABASE_URL unset": {map[string]string{}, 2, "set IDENTITY_DATABASE_URL to the platform database"},
		"database unreachable": {map[string]string{"IDENTITY_DATABASE_URL": "postgres://u:p@127.0.0.1:1/platform?connect_timeout=2"}, 1,
			"cannot reach the platform database"},
	} {
		t.Run(name, func(t *testing.T) {
			code, out, errOut := runUsers(c.env, "set-role", "-config", f.config, "ada@example.org", "student")
			if code != c.code || out != "" || !strings.Contains(errOut, c.want) || !strings.Contains(errOut, "Nothing was changed.") || !strings.HasSuffix(errOut, "\n") {
				t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
			}
			if strings.Contains(errOut, "u:p@") {
				t.Fatal("the password is echoed")
			}
		})
	}
	if i, _ := f.kratos.Identity(id); i.Role != "admin" || f.kratos.Called("PATCH") != 0 {
		t.Fatal("the role was changed")
	}
}

// When the revocation cannot be written after the change, the command says
// so and exits 1; running it again completes it.
func TestUsersRevocationFailureIsLoud(t *testing.T) {
	f := newFakes(t)
	dsn, db := platformDB(t)
	id := f.kratos.AddIdentity(fakeory.Identity{Email: "ada@example.org", Role: "admin"})
	env := map[string]string{"IDENTITY_DATABASE_URL": dsn}
	ctx := context.Background()
	if _, err := db.Exec(ctx, `ALTER TABLE token_revocations RENAME TO token_revocations_away`); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runUsers(env, "set-role", "-config", f.config, "ada@example.org", "student")
	if code != 1 || out != "" || !strings.Contains(errOut, "role admin -> student, but not completely") ||
		!strings.Contains(errOut, "NOT revoked") || !strings.Contains(errOut, "run the same command again") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, err := db.Exec(ctx, `ALTER TABLE token_revocations_away RENAME TO token_revocations`); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runUsers(env, "set-role", "-config", f.config, "ada@example.org", "student"); code != 0 {
		t.Fatalf("again: %d %s", code, errOut)
	}
	if got := revocations(t, db); len(got) != 1 || got[0] != id+"|||role_changed" {
		t.Fatalf("revocations: %q", got)
	}
}

func TestUsersUsage(t *testing.T) {
	f := newFakes(t)
	dsn, _ := platformDB(t)
	env := map[string]string{"IDENTITY_DATABASE_URL": dsn}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "usage: identity users set-role"},
		{[]string{"delete", "x@example.org"}, 2, "usage:"},
		{[]string{"set-role", "-config", f.config, "x@example.org"}, 2, "usage:"},
		{[]string{"set-role", "-config", f.config, "x@example.org", "root"}, 2, "role must be one of student, instructor, admin"},
		{[]string{"set-state", "-config", f.config, "x@example.org", "deleted"}, 2, "state must be active or inactive"},
		{[]string{"set-state", "-config", f.config, "nobody@example.org", "inactive"}, 1, "no user with email nobody@example.org"},
		{[]string{"set-role", "-config", filepath.Join(t.TempDir(), "missing.yml"), "x@example.org", "admin"}, 2, "missing.yml"},
	} {
		code, _, errOut := runUsers(env, c.args...)
		if code != c.code || !strings.Contains(errOut, c.want) || !strings.HasSuffix(errOut, "\n") {
			t.Errorf("%q: exit %d, stderr %q", c.args, code, errOut)
		}
	}
}

// The served edge: revocations written by its admin API reach its own
// token checks through PostgreSQL (kit/revocation's Store and List), the
// admin API takes only tokens for token_audience, and /readyz names the
// revocation list.
func TestEdgeWiring(t *testing.T) {
	f := newFakes(t)
	dsn, _ := platformDB(t)
	raw, err := os.ReadFile(f.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	env := map[string]string{"IDENTITY_DATABASE_URL": dsn, "IDENTITY_HOOK_SECRET": "4d7a0c93e18b52f6a0c3e9d1b7f42a86", "IDENTITY_SMTP_URL": "smtp://127.0.0.1:1/"}
	if err := kitconfig.LoadBytes(f.config, raw, &cfg, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if err := cfg.LoadPolicy(f.config); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := server.New("identity", logger)
	wired, err := newEdge(ctx, cfg, db, srv, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer wired.close()
	ts := httptest.NewServer(srv.Router)
	defer ts.Close()

	call := func(method, path, body, tok string) int {
		req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	adminID := f.kratos.AddIdentity(fakeory.Identity{Email: "admin@example.org", Role: "admin"})
	admin := f.issuer.Sign(f.issuer.AccessToken(adminID, f.kratos.AddSession(adminID).ID, "admin", "identity-api"))
	victimID := f.kratos.AddIdentity(fakeory.Identity{Email: "victim@example.org", Role: "admin"})
	victim := f.issuer.Sign(f.issuer.AccessToken(victimID, f.kratos.AddSession(victimID).ID, "admin", "identity-api"))
	forTutor := f.issuer.Sign(f.issuer.AccessToken(adminID, "", "admin", "tutor-api"))

	if code := call("GET", "/admin/lockouts", "", forTutor); code != http.StatusUnauthorized {
		t.Fatalf("a token for the tutor: %d", code)
	}
	if code := call("GET", "/admin/lockouts", "", victim); code != http.StatusOK {
		t.Fatalf("the victim's token before: %d", code)
	}
	if code := call("PUT", "/admin/users/"+victimID+"/state", `{"state":"inactive"}`, admin); code != http.StatusOK {
		t.Fatalf("deactivate: %d", code)
	}
	deadline := time.Now().Add(5 * time.Second)
	for call("GET", "/admin/lockouts", "", victim) != http.StatusUnauthorized {
		if time.Now().After(deadline) {
			t.Fatal("the deactivated user's token still works after 5 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code := call("GET", "/admin/lockouts", "", admin); code != http.StatusOK {
		t.Fatalf("the admin's own token: %d", code)
	}
	res, err := http.Get(ts.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), `"revocations"`) {
		t.Fatalf("readyz: %d %s", res.StatusCode, body)
	}
}
