package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// RepoRoot walks up from the working directory to the checkout's go.work.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.work above the working directory: run from inside the checkout")
		}
		dir = parent
	}
}

// Services are the platform's own binaries, built from this checkout.
var Services = map[string]string{
	"identity": "./identity/cmd/identity",
	"consent":  "./consent/cmd/consent",
	"tutor":    "./tutor/cmd/tutor",
}

// Plugins are the shipped plugins the tutor runs, built from this checkout
// next to the services (the launcher declares them in the tutor's config).
var Plugins = map[string]string{
	"retriever-postgres": "./plugins/cmd/retriever-postgres",
	"guardrail-socratic": "./plugins/cmd/guardrail-socratic",
	"guardrail-safety":   "./plugins/cmd/guardrail-safety",
}

// thirdParty are the binaries `make ory` builds from pinned Go modules.
var thirdParty = []string{"kratos", "hydra", "mailpit"}

// PrepareBin fills dir with fresh builds of the platform's services and
// the shipped plugins and links the Ory and Mailpit binaries from oryBin,
// so a test never runs a stale service or plugin binary.
//
// The builds go to one directory shared by every test binary of the
// checkout (<root>/.data/test/bin), under a file lock: go build does not
// relink a binary that is already up to date there, so only the first test
// binary after a change pays for linking (about 1-2 s per binary on two
// cores); dir gets symbolic links to them. A rebuild replaces a binary with
// a new file, so stacks still running the old one are not disturbed.
func PrepareBin(ctx context.Context, root, oryBin, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, name := range thirdParty {
		src := filepath.Join(oryBin, name)
		if _, err := os.Stat(src); err != nil {
			return fmt.Errorf("%s is missing: run `make build` first (it builds Kratos, Hydra and Mailpit into bin/)", src)
		}
		if err := relink(src, filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	shared := filepath.Join(root, ".data", "test", "bin")
	if err := buildShared(ctx, root, shared); err != nil {
		return err
	}
	for _, names := range []map[string]string{Services, Plugins} {
		for name := range names {
			if err := relink(filepath.Join(shared, name), filepath.Join(dir, name)); err != nil {
				return err
			}
		}
	}
	return nil
}

// buildShared builds every service and plugin into shared, holding an
// exclusive lock on shared/.lock so two test binaries never build into it
// at once.
func buildShared(ctx context.Context, root, shared string) error {
	if err := os.MkdirAll(shared, 0o755); err != nil {
		return err
	}
	lock, err := os.OpenFile(filepath.Join(shared, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("locking %s: %w", shared, err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	args := []string{"build", "-o", shared + string(os.PathSeparator)}
	for _, pkg := range Services {
		args = append(args, pkg)
	}
	for _, pkg := range Plugins {
		args = append(args, pkg)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build of the services and plugins: %w\n%s", err, out)
	}
	return nil
}

// relink makes dst a symbolic link to src, replacing whatever dst was.
func relink(src, dst string) error {
	_ = os.Remove(dst)
	return os.Symlink(src, dst)
}

// TestStack is a stack on free ports in a throw-away directory, for one test
// binary. Its logs go to a file that Close prints the end of on failure.
type TestStack struct {
	*Stack
	Dir     string
	LogPath string
	Root    string
	BinDir  string
	logFile *os.File
}

// StartForTest starts a stack for a test binary's TestMain. STACK_BIN names
// the directory with the Ory binaries (default <root>/bin). Each of setup
// may change the Options (ports already chosen) before the stack starts.
func StartForTest(ctx context.Context, setup ...func(*Options)) (*TestStack, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	oryBin := os.Getenv("STACK_BIN")
	if oryBin == "" {
		oryBin = filepath.Join(root, "bin")
	} else if !filepath.IsAbs(oryBin) {
		oryBin = filepath.Join(root, oryBin) // relative to the checkout, not the test's package
	}
	base := filepath.Join(root, ".data", "test")
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(base, "stack-")
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil { // the cluster's user must reach data/
		return nil, err
	}
	ts := &TestStack{Dir: dir, Root: root, BinDir: filepath.Join(dir, "bin"), LogPath: filepath.Join(dir, "stack.log")}
	if err := PrepareBin(ctx, root, oryBin, ts.BinDir); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if ts.logFile, err = os.Create(ts.LogPath); err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		ports, err := FreePorts()
		if err != nil {
			return nil, err
		}
		opts := Options{
			Root: root, DataDir: filepath.Join(dir, "data"), BinDir: ts.BinDir,
			Ports: ports, Logs: ts.logFile, FastPostgres: true, ReadyTimeout: 2 * time.Minute,
		}
		for _, f := range setup {
			f(&opts)
		}
		ts.Stack, lastErr = Start(ctx, opts)
		// Another stack may grab a port between FreePorts and Start; try anew.
		if lastErr == nil || !strings.Contains(lastErr.Error(), "already in use") {
			break
		}
	}
	if lastErr != nil {
		ts.logFile.Close()
		return nil, fmt.Errorf("stack: %w (logs in %s)", lastErr, ts.LogPath)
	}
	return ts, nil
}

// Close stops the stack. After a failed run it prints the log's end and
// keeps the directory for a look; after a good one it removes it.
func (ts *TestStack) Close(failed bool) {
	if ts.Stack != nil {
		ts.Stop()
	}
	ts.logFile.Close()
	if failed {
		fmt.Fprintf(os.Stderr, "stack logs kept in %s; last lines:\n%s\n", ts.LogPath, tailFile(ts.LogPath, 60))
		return
	}
	os.RemoveAll(ts.Dir)
}

func tailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	data, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
