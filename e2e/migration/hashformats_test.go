package migration

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/learnplatform/platform/e2e/internal/e2etest"
	"github.com/learnplatform/platform/migrations/legacy/hashes"
	lf "github.com/learnplatform/platform/migrations/legacy/legacyfixture"
)

// Every password hash format Kratos can verify keeps working: a legacy
// database with a user per format (hashes made by Python's hashlib,
// openssl passwd, libxcrypt and libargon2: legacyfixture.HashVectors) is
// planned (counts per format), migrated, and each user signs in through
// the edge with the original password, and not with a wrong one; the
// first sign-in re-hashes to the platform's algorithm; the formats Kratos
// cannot verify, and malformed hashes, end in forced recovery, named in
// the reports without any hash material; validate -passwords passes;
// rollback removes them.
func TestEveryHashFormat(t *testing.T) {
	e := newEnv(t, lf.Spec{HashFormats: true, Users: 2, Seed: 21})
	email := func(name string) string { return name + "@" + e.domain }

	// plan: counts per format; forced recovery only for the unsupported.
	plan := e.must("plan")
	want := map[string][2]int{} // format → imported, recovery
	for _, v := range lf.HashVectors {
		c := want[v.Format]
		c[0]++
		want[v.Format] = c
	}
	for _, v := range lf.UnsupportedHashVectors {
		c := want[v.Format]
		c[1]++
		want[v.Format] = c
	}
	want["bcrypt"] = [2]int{2, 0} // the two ordinary users
	formats, _ := get(plan.report, "plan.password_formats").(map[string]any)
	for f, c := range want {
		if got := [2]int{num(formats[f], "imported"), num(formats[f], "recovery")}; got != c {
			t.Errorf("plan: format %q: %d imported, %d to recovery; want %v", f, got[0], got[1], c)
		}
	}
	if len(formats) != len(want) {
		t.Errorf("plan: %d formats, want %d: %v", len(formats), len(want), formats)
	}
	if got := num(plan.report, "conflict_counts.unsupported_hash"); got != len(lf.UnsupportedHashVectors) {
		t.Errorf("plan: %d unsupported_hash conflicts, want %d", got, len(lf.UnsupportedHashVectors))
	}
	if got := num(plan.report, "plan.passwords_imported"); got != len(lf.HashVectors)+2 {
		t.Errorf("plan: %d passwords imported, want %d", got, len(lf.HashVectors)+2)
	}
	for _, v := range lf.UnsupportedHashVectors {
		if !strings.Contains(plan.stdout, v.Format) {
			t.Errorf("plan's summary does not name %q", v.Format)
		}
	}
	noHashMaterial(t, "plan", plan)

	e.must("backup", "-backup", e.dir+"/backup.jsonl.gz")
	run := e.must("run")
	if got := num(run.report, "run.identities_created"); got != len(lf.HashVectors)+len(lf.UnsupportedHashVectors)+2 {
		t.Fatalf("run created %d identities\n%s", got, run.stdout)
	}
	noHashMaterial(t, "run", run)

	// Kratos holds the translated hashes, and no password for the others
	// (a password credential without a hash: the email is its identifier).
	all := byLegacyID(identities(t))
	hashOf := func(name string) string {
		h, _ := get(all[e.fx.IDs[name]], "credentials.password.config.hashed_password").(string)
		return h
	}
	for _, v := range lf.HashVectors {
		if got := hashOf(v.Name); got != v.Kratos {
			t.Errorf("%s: Kratos holds %q, want %q", v.Name, got, v.Kratos)
		}
	}
	for _, v := range lf.UnsupportedHashVectors {
		i := all[e.fx.IDs[v.Name]]
		if hashOf(v.Name) != "" || get(i, "metadata_admin.recovery_required") != true {
			t.Errorf("%s: a password hash %t, metadata_admin %v; want none and recovery_required", v.Name,
				hashOf(v.Name) != "", get(i, "metadata_admin"))
		}
	}

	// Through the edge: a wrong password is refused, and changes nothing;
	// the original one signs in; a password that breaks the policy signs
	// in too and is asked to change.
	for _, v := range lf.HashVectors {
		if token, res := e2etest.NewClient(t).Login(email(v.Name), v.Password+"-wrong"); token != "" || res.Status != http.StatusBadRequest {
			t.Errorf("%s: a wrong password: %d (token %t)", v.Name, res.Status, token != "")
		}
	}
	all = byLegacyID(identities(t))
	for _, v := range lf.HashVectors {
		if got := hashOf(v.Name); got != v.Kratos {
			t.Errorf("%s: a refused sign-in changed the hash", v.Name)
		}
	}
	rehashed := 0
	for _, v := range lf.HashVectors {
		token, res := e2etest.NewClient(t).Login(email(v.Name), v.Password)
		if token == "" {
			t.Errorf("%s (%s): sign-in with the original password: %d %s", v.Name, v.Format, res.Status, res.Body)
			continue
		}
		var out map[string]any
		_ = json.Unmarshal([]byte(res.Body), &out)
		if weak := out["password_change_required"] == true; weak != (v.Name == "dj-weak") {
			t.Errorf("%s: password_change_required %v", v.Name, out["password_change_required"])
		}
		if !strings.HasPrefix(v.Kratos, "$2") {
			rehashed++
		}
	}
	for _, v := range lf.UnsupportedHashVectors {
		if token, _ := e2etest.NewClient(t).Login(email(v.Name), v.Password); token != "" {
			t.Errorf("%s (%s): signed in with a password the migration did not import", v.Name, v.Format)
		}
	}

	// The first sign-in re-hashed every non-bcrypt hash to the platform's
	// algorithm (bcrypt: cost 12 in kratos.yml, 10 in the dev overlay the
	// test stack runs with); the password still works.
	all = byLegacyID(identities(t))
	for _, v := range lf.HashVectors {
		got := hashOf(v.Name)
		switch {
		case strings.HasPrefix(v.Kratos, "$2"):
			if got != v.Kratos {
				t.Errorf("%s: the bcrypt hash was replaced", v.Name)
			}
		case !strings.HasPrefix(got, "$2a$") || !hashes.Rehashed(v.Kratos, got):
			t.Errorf("%s: after the first sign-in Kratos holds %.10q…, want a bcrypt re-hash", v.Name, got)
		}
	}
	for _, name := range []string{"dj-pbkdf2-sha256", "crypt-sha512", "ldap-ssha", "pl-argon2id"} {
		if token, res := e2etest.NewClient(t).Login(email(name), passwordOf(name)); token == "" {
			t.Errorf("%s: second sign-in: %d %s", name, res.Status, res.Body)
		}
	}

	// validate: every identity as planned (re-hashes included), and every
	// known password signs in through the edge.
	v := e.must("validate", "-public-url", e2etest.Need(t).URL("identity"), "-passwords", e.passwordsFile())
	if v.report["outcome"] != "valid" || num(v.report, "validate.sign_ins.succeeded") != len(e.fx.Passwords) ||
		num(v.report, "validate.rehashed_at_sign_in") != rehashed {
		t.Fatalf("validate: %v\n%s", v.report["validate"], v.stdout)
	}
	noHashMaterial(t, "validate", v)

	rb := e.must("rollback", "-yes")
	if got := num(rb.report, "rollback.deleted"); got != len(lf.HashVectors)+len(lf.UnsupportedHashVectors)+2 {
		t.Fatalf("rollback deleted %d identities", got)
	}
	if left := byLegacyID(identities(t)); len(left) != 0 {
		for _, id := range e.fx.IDs {
			if left[id] != nil {
				t.Fatalf("identity of legacy user %s left after rollback", id)
			}
		}
	}
	for _, name := range []string{"dj-pbkdf2-sha256", "crypt-md5"} {
		if token, _ := e2etest.NewClient(t).Login(email(name), passwordOf(name)); token != "" {
			t.Errorf("%s signs in after rollback", name)
		}
	}
}

func passwordOf(name string) string {
	for _, v := range lf.HashVectors {
		if v.Name == name {
			return v.Password
		}
	}
	panic("no vector " + name)
}

// noHashMaterial fails when a command's output or report shows any part of
// a vector's hash, as stored or translated.
func noHashMaterial(t *testing.T, command string, r result) {
	t.Helper()
	report, _ := json.Marshal(r.report)
	text := r.stdout + r.stderr + string(report)
	for _, v := range append(append([]lf.HashVector{}, lf.HashVectors...), lf.UnsupportedHashVectors...) {
		for _, h := range []string{v.Legacy, v.Kratos} {
			if len(h) < 12 {
				continue
			}
			if tail := h[len(h)-12:]; strings.Contains(text, tail) {
				t.Errorf("%s shows part of %s's hash (%q)", command, v.Name, tail)
			}
		}
	}
}
