package privatefile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func writeString(path, s string) error {
	return Write(path, func(w io.Writer) error { _, err := w.Write([]byte(s)); return err })
}

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
	if err := writeString(path, "report"); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v (%v), want 0600", st.Mode().Perm(), err)
	}
	if data, _ := os.ReadFile(path); string(data) != "report" {
		t.Fatalf("not written: %q", data)
	}
	if data, _ := os.ReadFile(path + ".tmp"); string(data) != "old" {
		t.Fatalf("the stale %s.tmp was written through: %q", path, data)
	}
}

// A failed write leaves the old file and no temporary file behind.
func TestFailedWriteLeavesTheFile(t *testing.T) {
	dir := t.TempDir()
	backup := filepath.Join(dir, "legacy-backup.jsonl.gz")
	os.WriteFile(backup, []byte("previous"), 0o644)
	os.Chmod(backup, 0o644)
	boom := errors.New("boom")
	if err := Write(backup, func(w io.Writer) error { w.Write([]byte("half")); return boom }); !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	if data, _ := os.ReadFile(backup); string(data) != "previous" {
		t.Fatalf("a failed write replaced the file: %q", data)
	}
	if err := writeString(backup, "hashes"); err != nil {
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
	if len(names) != 1 {
		t.Fatalf("files left: %v", names)
	}
}

// A symlink planted under the old fixed temporary name is not followed.
func TestPlantedSymlinkIsNotFollowed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "migrate-legacy-plan.json")
	target := filepath.Join(dir, "elsewhere")
	os.WriteFile(target, []byte("untouched"), 0o644)
	os.Symlink(target, path+".tmp")
	if err := writeString(path, "report"); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(target); string(data) != "untouched" {
		t.Fatalf("wrote through a planted symlink: %q", data)
	}
}
