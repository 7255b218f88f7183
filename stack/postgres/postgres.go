// Package postgres is the launcher's private PostgreSQL cluster: it finds
// the server binaries, makes the cluster on the first start (initdb), says
// how to run its server (as the `postgres` user when the launcher is root),
// creates the databases and names their URLs. The stack package supervises
// the server it describes.
package postgres

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
	"syscall"

	"github.com/jackc/pgx/v5"

	"github.com/learnplatform/platform/stack/supervise"
)

// Databases the private cluster holds: Kratos', Hydra's and the platform's.
var Databases = []string{"kratos", "hydra", "platform"}

// ErrNotInstalled means the PostgreSQL server binaries are not installed.
var ErrNotInstalled = errors.New("PostgreSQL server binaries (initdb, postgres) not found: " +
	"on Debian or Ubuntu run `apt-get install postgresql` (make run and make test do this as root); " +
	"on macOS `brew install postgresql@16`; or put a PostgreSQL 15+ bin directory on PATH")

// BinDir finds the directory holding initdb and postgres: Debian's
// /usr/lib/postgresql/<version>/bin (newest first), then PATH.
func BinDir() (string, error) {
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
	return "", ErrNotInstalled
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

// Cluster is one private cluster on 127.0.0.1.
type Cluster struct {
	// Dir holds the cluster: its data directory data/ and its socket
	// directory socket/.
	Dir string
	// Port the server listens on.
	Port int
	// Password of the postgres superuser, set by initdb on the first start.
	Password string
	// Fast turns off durability, for throw-away test clusters.
	Fast bool
}

func (c Cluster) dataDir() string   { return filepath.Join(c.Dir, "data") }
func (c Cluster) socketDir() string { return filepath.Join(c.Dir, "socket") }

// Server makes the cluster on the first start (a later one reuses it),
// hands its directories to the user the server runs as, and returns how to
// run the server.
func (c Cluster) Server(ctx context.Context) (supervise.Spec, error) {
	bin, err := BinDir()
	if err != nil {
		return supervise.Spec{}, err
	}
	cred, err := postgresUser()
	if err != nil {
		return supervise.Spec{}, err
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return supervise.Spec{}, err
	}
	if err := c.initCluster(ctx, bin, cred); err != nil {
		return supervise.Spec{}, err
	}
	sock := c.socketDir()
	if err := os.MkdirAll(sock, 0o755); err != nil {
		return supervise.Spec{}, err
	}
	if err := chownTree(sock, cred); err != nil {
		return supervise.Spec{}, err
	}
	args := []string{"-D", c.dataDir(), "-p", strconv.Itoa(c.Port),
		"-k", sock, "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=300"}
	if c.Fast {
		// Test clusters are thrown away: durability buys nothing there.
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	return supervise.Spec{
		Name: "postgres", Path: filepath.Join(bin, "postgres"), Args: args, Dir: "/",
		Env: []string{"PATH=" + bin + ":/usr/bin:/bin", "LANG=C.UTF-8"}, Cred: cred,
		StopSignal: syscall.SIGINT, // "fast" shutdown; SIGTERM would wait for clients
	}, nil
}

// initCluster runs initdb once; a second start reuses the data directory.
func (c Cluster) initCluster(ctx context.Context, bin string, cred *syscall.Credential) error {
	dataDir := c.dataDir()
	if _, err := os.Stat(filepath.Join(dataDir, "PG_VERSION")); err == nil {
		return chownTree(dataDir, cred) // a copy made as root must still be the cluster user's
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return err
	}
	pwfile := filepath.Join(c.Dir, "initdb.pw")
	if err := os.WriteFile(pwfile, []byte(c.Password+"\n"), 0o600); err != nil {
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

// Ping connects to the server once: it is ready when this succeeds.
func (c Cluster) Ping(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// CreateDatabases creates those of Databases the cluster lacks.
func (c Cluster) CreateDatabases(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, db := range Databases {
		var exists bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", db).Scan(&exists); err != nil {
			return err
		}
		if exists {
			continue
		}
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
			return fmt.Errorf("create database %s: %w", db, err)
		}
	}
	return nil
}

// DSN is the URL of one of the cluster's databases, as the superuser.
func (c Cluster) DSN(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword("postgres", c.Password),
		Host:     "127.0.0.1:" + strconv.Itoa(c.Port),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}
