package migrations

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Kratos runs the Kratos binary's own SQL migrations against dsn.
func Kratos(ctx context.Context, binary, dsn string) error {
	return ory(ctx, binary, dsn, "migrate", "sql", "-e", "--yes")
}

// Hydra runs the Hydra binary's own SQL migrations against dsn.
func Hydra(ctx context.Context, binary, dsn string) error {
	return ory(ctx, binary, dsn, "migrate", "sql", "up", "-e", "--yes")
}

// ory runs an Ory binary's migrate command; the DSN travels in the
// environment so it never shows in a process listing.
func ory(ctx context.Context, binary, dsn string, args ...string) error {
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), "DSN="+dsn)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("migrations: %s %s: %w\n%s", binary, strings.Join(args, " "), err, tail(out.String(), 20))
	}
	return nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
