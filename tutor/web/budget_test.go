package web

import (
	"bytes"
	"compress/gzip"
	"io/fs"
	"strings"
	"testing"
)

// jsBudget is the limit for all JavaScript the app ships, gzipped.
const jsBudget = 60 << 10

// All JavaScript, gzipped, stays under 60 KB (the files as embedded, each
// compressed as the server sends it).
func TestJavaScriptBudget(t *testing.T) {
	total, raw := 0, 0
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".js") {
			return err
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		var gz bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		zw.Write(b)
		zw.Close()
		t.Logf("%s: %d bytes, %d gzipped", p, len(b), gz.Len())
		total += gz.Len()
		raw += len(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if total == 0 {
		t.Fatal("no JavaScript embedded")
	}
	t.Logf("all JavaScript: %d bytes, %d gzipped (budget %d)", raw, total, jsBudget)
	if total > jsBudget {
		t.Fatalf("JavaScript is %d bytes gzipped, over the %d budget", total, jsBudget)
	}
}
