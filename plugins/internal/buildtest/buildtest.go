// Package buildtest builds plugin binaries for tests (plugintest.Build,
// the host's tests, the docs walk-through).
//
// Linking a plugin takes a second or more, so a binary is built into a
// directory of its own under os.TempDir, named after the package and the
// module it is built in, and reused: `go build -o` leaves an up-to-date
// binary alone (it compares the build ID in the file with the one it
// would link, so any change to the package, its dependencies, the Go
// version or the build flags links again). The test binaries of several
// packages, and later runs, share it; within one test binary each package
// is built once. go build replaces a binary by renaming a new file over
// it, so a running copy is never changed under its process. Callers must
// not move or change the binary: copy it first (plugintest.Build does).
package buildtest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	mu    sync.Mutex
	built = map[string]string{} // package (as resolved by key) → binary
)

// Build compiles the main package pkg (an import path, or a directory
// like "." or "./cmd/x", relative to the test's working directory) and
// returns the shared binary's path.
func Build(tb testing.TB, pkg string) string {
	tb.Helper()
	src, err := source(pkg)
	if err != nil {
		tb.Fatalf("build %s: %v", pkg, err)
	}
	key := src + "\n" + pkg
	mu.Lock()
	defer mu.Unlock()
	if bin, ok := built[key]; ok {
		return bin
	}
	root := filepath.Join(os.TempDir(), fmt.Sprintf("plugin-test-bins-%d", os.Getuid()))
	prune(root)
	sum := sha256.Sum256([]byte(key))
	dir := filepath.Join(root, hex.EncodeToString(sum[:8]))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".source"), []byte(src), 0o600); err != nil {
		tb.Fatal(err)
	}
	name := path.Base(pkg)
	if strings.HasPrefix(pkg, ".") {
		name = filepath.Base(src)
	}
	bin := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	built[key] = bin
	return bin
}

// source is the directory a build of pkg depends on: the package's own
// for a relative path, else the module the working directory is in.
func source(pkg string) (string, error) {
	if strings.HasPrefix(pkg, ".") {
		return filepath.Abs(pkg)
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return dir, nil
		}
	}
}

// prune removes the binaries of sources that are gone (a plugin written
// into a temporary directory by a test), so they do not pile up.
func prune(root string) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range entries {
		dir := filepath.Join(root, e.Name())
		src, err := os.ReadFile(filepath.Join(dir, ".source"))
		if err != nil || len(src) == 0 {
			continue // being set up, or not ours
		}
		if _, err := os.Stat(string(src)); errors.Is(err, os.ErrNotExist) {
			os.RemoveAll(dir)
		}
	}
}
