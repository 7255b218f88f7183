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
// legacy systems stored plaintext passwords in the hash column.
func TestReportShowsNoHashMaterial(t *testing.T) {
	hashes := []string{
		"hunter2",                                  // plaintext, short
		"Tr0ub4dor&3-correct-horse-battery",        // plaintext, long
		"5f4dcc3b5aa765d61d8327deb882cf99",         // md5 hex
		"5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8", // sha1 hex
		"$1$saltsalt$qjYhYG7dN3ZkL3OHLE8Uw0",       // md5-crypt
		"$2x$10$" + strings.Repeat("Q", 22) + "ZXCVBNMasdfghjklqwertyuiop12345", // $2x$
		"$2a$10$shortBodyXYZ9", // truncated bcrypt
	}
	ds := &Dataset{}
	for i, h := range hashes {
		ds.Users = append(ds.Users, user(string(rune('a'+i)), string(rune('a'+i))+"@e.org", func(u *User) { u.PasswordHash = h }))
	}
	plan := BuildPlan(ds, PlanOptions{})
	r := newReport("plan")
	tally := plan.Tally()
	r.Plan = &tally
	r.Conflicts = append([]Conflict{}, plan.Conflicts...)
	for _, id := range plan.Identities {
		r.Users = append(r.Users, UserPlan{LegacyID: id.LegacyID, Email: id.Email, Action: "create", Password: id.Password})
	}
	r.finish("ok")
	if r.ConflictCounts[ConflictUnsupportedHash] != len(hashes) {
		t.Fatalf("conflicts: %v", r.ConflictCounts)
	}
	var out bytes.Buffer
	r.WriteSummary(&out)
	if err := r.WriteJSON("-", &out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, h := range hashes {
		body := strings.TrimPrefix(strings.TrimPrefix(h, "$2x$"), "$1$") // the scheme's name is the format
		for i := 0; i+5 <= len(body); i++ {
			if w := body[i : i+5]; strings.Contains(text, w) {
				t.Fatalf("the report shows %q of the hash %q:\n%s", w, h, text)
			}
		}
	}
	for _, want := range []string{"no known hash format (possibly a plaintext password)", "32 hex digits (MD5-like)",
		"40 hex digits (SHA-1-like)", "MD5-crypt ($1$)", "bcrypt $2x$", "a malformed or truncated bcrypt hash"} {
		if !strings.Contains(text, want) {
			t.Errorf("the report does not name the format %q", want)
		}
	}
	var back struct{ Conflicts []Conflict }
	var js bytes.Buffer
	r.WriteJSON("-", &js)
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Conflicts) != len(hashes) {
		t.Fatalf("JSON: %v", err)
	}
}

func TestHashFormat(t *testing.T) {
	for h, want := range map[string]string{
		hash("2a"): "bcrypt", "$2a$03$" + strings.Repeat("a", 53): "bcrypt with a cost outside 04-31",
		"$6$salt$abc": "SHA-512-crypt ($6$)", "$argon2id$v=19$m=65536": "Argon2", "$pbkdf2-sha256$29000$x": "PBKDF2",
		"$apr1$x$y": "another modular crypt format", strings.Repeat("ab", 32): "64 hex digits (SHA-256-like)",
		"abc123": "hex digits of no known digest length", "plain text": "no known hash format (possibly a plaintext password)",
	} {
		if got := HashFormat(h); got != want {
			t.Errorf("HashFormat(%q) = %q, want %q", h, got, want)
		}
	}
}
