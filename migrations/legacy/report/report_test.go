package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/learnplatform/platform/migrations/legacy"
	"github.com/learnplatform/platform/migrations/legacy/plan"
)

func TestSummaryAndJSON(t *testing.T) {
	r := New("run")
	c := legacy.Counts{Users: 3, Sessions: 7, ActiveSessions: 2}
	r.Legacy = &c
	r.Sessions = NewSessionsNote(c)
	r.Run = &RunCounts{RowsRewritten: map[string]int64{}}
	for i := 0; i < 7; i++ {
		r.Conflicts = append(r.Conflicts, legacy.Conflict{Kind: legacy.ConflictInvalidEmail, LegacyIDs: []string{string(rune('a' + i))}, Detail: "bad", Resolution: "not imported"})
	}
	r.Conflicts = append(r.Conflicts, legacy.Conflict{Kind: legacy.ConflictDuplicateEmail, LegacyIDs: []string{"z"}, Detail: "dup", Resolution: "merged"})
	r.Finish("ok")
	if r.Conflicts[0].Kind != legacy.ConflictDuplicateEmail || r.ConflictCounts[legacy.ConflictInvalidEmail] != 7 {
		t.Fatalf("conflicts not ordered and counted: %+v %v", r.Conflicts[0], r.ConflictCounts)
	}
	var buf bytes.Buffer
	r.WriteSummary(&buf)
	out := buf.String()
	for _, want := range []string{
		"sessions: 7 legacy sessions (2 still active) not imported. Kratos cannot import sessions",
		"every user signs in once more",
		"invalid_email: 7", "… and 2 more", "→ merged",
		"nothing changed: everything was already migrated",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}

	path := filepath.Join(t.TempDir(), "r.json")
	if err := r.WriteJSON(path, nil); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	data, _ := os.ReadFile(path)
	if err := json.Unmarshal(data, &back); err != nil || back["outcome"] != "ok" || back["sessions"].(map[string]any)["total"] != 7.0 {
		t.Fatalf("report JSON: %v %s", err, data)
	}
	buf.Reset()
	if err := Failed("plan", errors.New("boom")).WriteJSON("-", &buf); err != nil || !strings.Contains(buf.String(), `"outcome": "failed"`) {
		t.Fatalf("failed report: %v %s", err, buf.String())
	}
	if err := CheckWritable(filepath.Join(t.TempDir(), "missing-dir", "r.json")); err == nil {
		t.Fatal("a report in a missing directory looks writable")
	}
}

// The report file is its owner's alone (privatefile.Write), whatever was
// there before.
func TestReportFileIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "migrate-legacy-plan.json")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o644)
	r := New("plan")
	r.Finish("ok")
	if err := r.WriteJSON(path, nil); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("report mode %v (%v), want 0600", st.Mode().Perm(), err)
	}
	if data, _ := os.ReadFile(path); !bytes.Contains(data, []byte(`"command": "plan"`)) {
		t.Fatalf("report not written: %s", data)
	}
}

// The report and the summary name a hash's format, never any part of it:
// legacy systems stored plaintext passwords in the hash column. Hashes
// imported (as they are or translated) are not shown either.
func TestReportShowsNoHashMaterial(t *testing.T) {
	cases := []struct{ hash, scheme string }{ // scheme: the part a format's name may repeat
		{"hunter2", ""}, // plaintext, short
		{"Tr0ub4dor&3-correct-horse-battery", ""},                                         // plaintext, long
		{"5f4dcc3b5aa765d61d8327deb882cf99", ""},                                          // md5 hex
		{"5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8", ""},                                  // sha1 hex
		{"$1$saltsaltsalt$qjYhYG7dN3ZkL3OHLE8Uw0", "$1$"},                                 // md5-crypt, salt too long
		{"$2x$10$" + strings.Repeat("Q", 22) + "ZXCVBNMasdfghjklqwertyuiop12345", "$2x$"}, // $2x$
		{"$2a$10$shortBodyXYZ9", "$2a$"},                                                  // truncated bcrypt
		{"$y$j9T$abcdefghijklmnop$mpbQndU1Pk/.M0HAYmHBOwr7xC8GG15Yre9W/U9TY35", "$y$"},    // yescrypt
		{"bcrypt_sha256$$2b$05$ponmlkjihgfedcbazyxwvuhT7LXMdD2UxqXeBWukEeBCX6YNyL5XG", "bcrypt_sha256$$2b$"},
		{"pbkdf2_sha256$260000$Xq3LrTz9a1sZ$Y3Ta+HPbM2ONsNwKdvLRVek3HnUj/mtjl8DEGJ!!!!!=", "pbkdf2_sha256$"}, // damaged
	}
	imported := []struct{ hash, scheme string }{
		{"pbkdf2_sha256$260000$Xq3LrTz9a1sZ$Y3Ta+HPbM2ONsNwKdvLRVek3HnUj/mtjl8DEGJsyFG0=", "pbkdf2_sha256$"},
		{"{SSHA}7sZfzYbgv6gczyQv81BowcJQHY+6Ey8eADnoAw==", "{SSHA}"},
		{"$6$mN4bV7cX1zAs9dFg$WhY8dtQgSjLZWJ6qxtJ19przKoMwbanxvmiYKIhzx8HoO9YMaHnQjrK47f0aHBi8Gk19KG7/I2zIkpb8ktALK/", "$6$"},
	}
	ds := &legacy.Dataset{}
	for i, c := range append(append([]struct{ hash, scheme string }{}, cases...), imported...) {
		id := string(rune('a' + i))
		ds.Users = append(ds.Users, legacy.User{ID: id, Email: id + "@e.org", PasswordHash: c.hash, EmailVerified: true, Active: true})
	}
	p := plan.Build(ds, plan.Options{})
	r := New("plan")
	tally := p.Tally()
	r.Plan = &tally
	r.Conflicts = append([]legacy.Conflict{}, p.Conflicts...)
	for _, id := range p.Identities {
		r.Users = append(r.Users, UserPlan{LegacyID: id.LegacyID, Email: id.Email, Action: "create", Password: id.Password, PasswordFormat: id.PasswordFormat})
	}
	r.Finish("ok")
	if r.ConflictCounts[legacy.ConflictUnsupportedHash] != len(cases) || tally.PasswordsImported != len(imported) {
		t.Fatalf("conflicts: %v, imported %d", r.ConflictCounts, tally.PasswordsImported)
	}
	var out bytes.Buffer
	r.WriteSummary(&out)
	if err := r.WriteJSON("-", &out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, c := range append(append([]struct{ hash, scheme string }{}, cases...), imported...) {
		body := strings.TrimPrefix(c.hash, c.scheme) // the scheme's name is the format
		for i := 0; i+5 <= len(body); i++ {
			if w := body[i : i+5]; strings.Contains(text, w) {
				t.Fatalf("the report shows %q of the hash %q:\n%s", w, c.hash, text)
			}
		}
	}
	for _, want := range []string{"no known hash format (possibly a plaintext password)", "32 hex digits (MD5-like)",
		"40 hex digits (SHA-1-like)", "a malformed MD5-crypt ($1$) hash", "bcrypt $2x$", "a malformed or truncated bcrypt hash",
		"yescrypt ($y$)", "Django bcrypt_sha256 (bcrypt_sha256$)", "a malformed Django PBKDF2-SHA256 (pbkdf2_sha256$) hash",
		"Django PBKDF2-SHA256 (pbkdf2_sha256$): 1 imported translated", "LDAP salted SHA-1 ({SSHA}): 1 imported as is",
		"SHA-512-crypt ($6$): 1 imported translated", `"password_format": "SHA-512-crypt ($6$)"`} {
		if !strings.Contains(text, want) {
			t.Errorf("the report does not name the format %q:\n%s", want, text)
		}
	}
	var back struct{ Conflicts []legacy.Conflict }
	var js bytes.Buffer
	r.WriteJSON("-", &js)
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Conflicts) != len(cases) {
		t.Fatalf("JSON: %v", err)
	}
}
