package stack

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Databases the private cluster holds: Kratos', Hydra's and the platform's.
var Databases = []string{"kratos", "hydra", "platform"}

// ErrNoPostgres means the PostgreSQL server binaries are not installed.
var ErrNoPostgres = errors.New("PostgreSQL server binaries (initdb, postgres) not found: " +
	"on Debian or Ubuntu run `apt-get install postgresql` (make run and make test do this as root); " +
	"on macOS `brew install postgresql@16`; or put a PostgreSQL 15+ bin directory on PATH")

// PostgresBinDir finds the directory holding initdb and postgres: Debian's
// /usr/lib/postgresql/<version>/bin (newest first), then PATH.
func PostgresBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) > pgMajor(dirs[j]) })
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		d := filepath.Dir(p)
		if isExecutable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", ErrNoPostgres
}

func pgMajor(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// postgresUser is who runs the cluster: the `postgres` system user when the
// launcher is root (PostgreSQL refuses to run as root), else ourselves.
func postgresUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, PostgreSQL must run as the `postgres` system user, which does not exist (Debian's postgresql package creates it): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// chownTree hands a directory to the cluster's user.
func chownTree(dir string, cred *syscall.Credential) error {
	if cred == nil {
		return nil
	}
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(cred.Uid), int(cred.Gid))
	})
}

// initCluster runs initdb once; a second start reuses the data directory.
func (s *Stack) initCluster(ctx context.Context, bin string, cred *syscall.Credential) error {
	dataDir := s.pgDataDir()
	if _, err := os.Stat(filepath.Join(dataDir, "PG_VERSION")); err == nil {
		return chownTree(dataDir, cred) // a copy made as root must still be the cluster user's
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return err
	}
	pwfile := filepath.Join(dataDir, "..", "initdb.pw")
	if err := os.WriteFile(pwfile, []byte(s.secrets.PostgresPassword+"\n"), 0o600); err != nil {
		return err
	}
	defer os.Remove(pwfile)
	if err := chownTree(dataDir, cred); err != nil {
		return err
	}
	if cred != nil {
		if err := os.Lchown(pwfile, int(cred.Uid), int(cred.Gid)); err != nil {
			return err
		}
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"),
		"-D", dataDir, "-U", "postgres", "--pwfile", pwfile,
		"--auth-local=scram-sha-256", "--auth-host=scram-sha-256",
		"-E", "UTF8", "--no-locale")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	if err != nil {
		os.RemoveAll(dataDir) // a half-made cluster would block the next start
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}
	return nil
}

func (s *Stack) pgDataDir() string   { return filepath.Join(s.opts.DataDir, "postgres", "data") }
func (s *Stack) pgSocketDir() string { return filepath.Join(s.opts.DataDir, "postgres", "socket") }

func (s *Stack) startPostgres(ctx context.Context) error {
	bin, err := PostgresBinDir()
	if err != nil {
		return err
	}
	cred, err := postgresUser()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(s.opts.DataDir, "postgres"), 0o755); err != nil {
		return err
	}
	if err := s.initCluster(ctx, bin, cred); err != nil {
		return err
	}
	sock := s.pgSocketDir()
	if err := os.MkdirAll(sock, 0o755); err != nil {
		return err
	}
	if err := chownTree(sock, cred); err != nil {
		return err
	}
	args := []string{"-D", s.pgDataDir(), "-p", strconv.Itoa(s.opts.Ports.Postgres),
		"-k", sock, "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=300"}
	if s.opts.FastPostgres {
		// Test clusters are thrown away: durability buys nothing there.
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	if err := s.start(procSpec{
		name: "postgres", path: filepath.Join(bin, "postgres"), args: args, dir: "/",
		env: []string{"PATH=" + bin + ":/usr/bin:/bin", "LANG=C.UTF-8"}, cred: cred,
		stopSignal: syscall.SIGINT, // "fast" shutdown; SIGTERM would wait for clients
	}); err != nil {
		return err
	}
	if err := s.waitFor(ctx, "postgres", func(ctx context.Context) error {
		c, err := pgx.Connect(ctx, s.DSN("postgres"))
		if err != nil {
			return err
		}
		return c.Close(ctx)
	}); err != nil {
		return err
	}
	return s.createDatabases(ctx)
}

func (s *Stack) createDatabases(ctx context.Context) error {
	c, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	for _, db := range Databases {
		var exists bool
		if err := c.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", db).Scan(&exists); err != nil {
			return err
		}
		if exists {
			continue
		}
		if _, err := c.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
			return fmt.Errorf("create database %s: %w", db, err)
		}
	}
	return nil
}

// DSN is the URL of one of the cluster's databases.
func (s *Stack) DSN(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword("postgres", s.secrets.PostgresPassword),
		Host:     "127.0.0.1:" + strconv.Itoa(s.opts.Ports.Postgres),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// oryDSN tunes the connection pool of Kratos and Hydra for a small machine.
func (s *Stack) oryDSN(db string) string {
	return s.DSN(db) + "&max_conns=20&max_idle_conns=4"
}

// waitFor polls probe until it succeeds, the named process dies or the
// ready timeout passes.
func (s *Stack) waitFor(ctx context.Context, name string, probe func(context.Context) error) error {
	p := s.proc(name)
	deadline := time.Now().Add(s.opts.ReadyTimeout)
	var last error
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		last = probe(pctx)
		cancel()
		if last == nil {
			return nil
		}
		if p != nil && !p.running() {
			return fmt.Errorf("%s %s while starting; its last output:\n%s", name, p.exitReason(), p.Tail(15))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %v", name, s.opts.ReadyTimeout, oneLine(last.Error()))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
