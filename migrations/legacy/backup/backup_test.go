package backup

import (
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeBackup(t *testing.T, lines ...line) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "b.jsonl.gz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	enc := json.NewEncoder(zw)
	for _, l := range lines {
		if err := enc.Encode(l); err != nil {
			t.Fatal(err)
		}
	}
	zw.Close()
	f.Close()
	return path
}

func TestBackupFileIsCheckedWhole(t *testing.T) {
	header := line{Kind: "header", Format: Format, Source: "s/db"}
	row := line{Kind: "row", Table: "users", Row: json.RawMessage(`{"id":"u1"}`)}
	ident := line{Kind: "identity", Identity: json.RawMessage(`{"id":"k1"}`)}
	good := line{Kind: "footer", Rows: map[string]int64{"users": 1}, Identities: 1}

	path := writeBackup(t, header, row, ident, good)
	ids, err := IdentityIDs(path)
	if err != nil || !ids["k1"] || len(ids) != 1 {
		t.Fatalf("identities %v, %v", ids, err)
	}
	bf, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	b, err := bf.Each(func(table string, _ json.RawMessage) error { tables = append(tables, table); return nil }, nil)
	bf.Close()
	if err != nil || b.LegacyRows["users"] != 1 || b.Source != "s/db" || len(tables) != 1 {
		t.Fatalf("each: %+v %v", b, err)
	}

	for name, c := range map[string]struct {
		lines []line
		want  string
	}{
		"no footer":    {[]line{header, row}, "incomplete"},
		"wrong counts": {[]line{header, row, row, good}, "damaged"},
		"no header":    {[]line{row, good}, "header"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := IdentityIDs(writeBackup(t, c.lines...))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
	if _, err := Open(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Fatal("a missing file opened")
	}
}
