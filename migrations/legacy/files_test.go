package legacy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A file the tool writes ends mode 0600 even where a world-readable file,
// and a stale world-readable temporary file, were before.
func TestWrittenFilesArePrivate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "migrate-legacy-plan.json")
	for _, p := range []string{path, path + ".tmp"} {
		if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, 0o644)
	}
	r := newReport("plan")
	r.finish("ok")
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
	if data, _ := os.ReadFile(path + ".tmp"); string(data) != "old" {
		t.Fatalf("the stale %s.tmp was written through: %q", path, data)
	}

	// The backup's writer: same result, and a failed write leaves the old
	// file and no temporary file behind.
	backup := filepath.Join(dir, "legacy-backup.jsonl.gz")
	os.WriteFile(backup, []byte("previous"), 0o644)
	os.Chmod(backup, 0o644)
	boom := errors.New("boom")
	if err := writePrivate(backup, func(w io.Writer) error { w.Write([]byte("half")); return boom }); !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	if data, _ := os.ReadFile(backup); string(data) != "previous" {
		t.Fatalf("a failed write replaced the file: %q", data)
	}
	if err := writePrivate(backup, func(w io.Writer) error { _, err := w.Write([]byte("hashes")); return err }); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(backup); st.Mode().Perm() != 0o600 {
		t.Fatalf("backup mode %v, want 0600", st.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 3 {
		t.Fatalf("files left: %v", names)
	}

	// A symlink planted under the old fixed temporary name is not followed.
	target := filepath.Join(dir, "elsewhere")
	os.WriteFile(target, []byte("untouched"), 0o644)
	os.Remove(path + ".tmp")
	os.Symlink(target, path+".tmp")
	if err := r.WriteJSON(path, nil); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(target); string(data) != "untouched" {
		t.Fatalf("wrote through a planted symlink: %q", data)
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
	ds := &Dataset{}
	for i, c := range append(append([]struct{ hash, scheme string }{}, cases...), imported...) {
		ds.Users = append(ds.Users, user(string(rune('a'+i)), string(rune('a'+i))+"@e.org", func(u *User) { u.PasswordHash = c.hash }))
	}
	plan := BuildPlan(ds, PlanOptions{})
	r := newReport("plan")
	tally := plan.Tally()
	r.Plan = &tally
	r.Conflicts = append([]Conflict{}, plan.Conflicts...)
	for _, id := range plan.Identities {
		r.Users = append(r.Users, UserPlan{LegacyID: id.LegacyID, Email: id.Email, Action: "create", Password: id.Password, PasswordFormat: id.PasswordFormat})
	}
	r.finish("ok")
	if r.ConflictCounts[ConflictUnsupportedHash] != len(cases) || tally.PasswordsImported != len(imported) {
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
	var back struct{ Conflicts []Conflict }
	var js bytes.Buffer
	r.WriteJSON("-", &js)
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Conflicts) != len(cases) {
		t.Fatalf("JSON: %v", err)
	}
}

func TestHashFormat(t *testing.T) {
	for h, want := range map[string]string{
		hash("2a"): "bcrypt", "$2a$03$" + strings.Repeat("a", 53): "bcrypt with a cost outside 04-31",
		"$6$salt$abc": "a malformed SHA-512-crypt ($6$) hash", "$argon2id$v=19$m=65536": "a malformed Argon2id hash",
		"$pbkdf2-sha256$29000$x": "a malformed passlib PBKDF2-SHA256 ($pbkdf2-sha256$) hash",
		"$apr1$x$y":              "Apache MD5-crypt ($apr1$)", "$phpass$x$y": "another modular crypt format",
		strings.Repeat("ab", 32): "64 hex digits (SHA-256-like)",
		"abc123":                 "hex digits of no known digest length", "plain text": "no known hash format (possibly a plaintext password)",
	} {
		if got := HashFormat(h); got != want {
			t.Errorf("HashFormat(%q) = %q, want %q", h, got, want)
		}
	}
}
