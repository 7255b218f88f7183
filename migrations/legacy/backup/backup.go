// Package backup writes the legacy tables and every Kratos identity to a
// backup file (Write), which run requires to have been taken, reads it back
// (Open) for rollback's comparison, and loads its legacy tables into an
// empty legacy database (Restore).
package backup

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/learnplatform/platform/migrations/legacy"
	"github.com/learnplatform/platform/migrations/legacy/kratos"
	"github.com/learnplatform/platform/migrations/legacy/migrate"
	"github.com/learnplatform/platform/migrations/legacy/platform"
	"github.com/learnplatform/platform/migrations/legacy/privatefile"
	"github.com/learnplatform/platform/migrations/legacy/progress"
	"github.com/learnplatform/platform/migrations/legacy/report"
	"github.com/learnplatform/platform/migrations/legacy/source"
)

// Write writes the legacy tables and every Kratos identity to path (which
// must not exist unless force) and records it in the platform database, so
// that run knows a backup was taken.
func Write(ctx context.Context, m *migrate.Migrator, path string, force bool) (*report.Report, error) {
	r := report.New("backup")
	if path == "" {
		return nil, errors.New("backup needs -backup FILE")
	}
	if m.Kratos == nil {
		return nil, errors.New("backup needs the Kratos admin URL (it exports the current identities too)")
	}
	if _, err := os.Stat(path); err == nil && !force {
		return nil, fmt.Errorf("backup file %s exists: choose another name or pass -force", path)
	}
	src, err := source.Open(ctx, m.LegacyDSN)
	if err != nil {
		return nil, err
	}
	defer src.Close(ctx)
	pf, err := platform.Open(ctx, m.PlatformDSN)
	if err != nil {
		return nil, err
	}
	defer pf.Close()
	if err := m.Kratos.Ready(ctx); err != nil {
		return nil, err
	}
	ds, err := src.Load(ctx)
	if err != nil {
		return nil, err
	}
	r.Legacy = &ds.Counts
	r.Sessions = report.NewSessionsNote(ds.Counts)

	// The file holds every password hash: privatefile.Write makes it mode 0600
	// through a new temporary file, whatever was at path before.
	hash := sha256.New()
	counted := &countingWriter{}
	b := &report.Backup{Path: path, Source: src.Name, CreatedAt: time.Now().UTC(), LegacyRows: map[string]int64{}}
	err = privatefile.Write(path, func(f io.Writer) error {
		counted.w = io.MultiWriter(f, hash)
		zw := gzip.NewWriter(counted)
		bw := bufio.NewWriterSize(zw, 1<<20)
		enc := json.NewEncoder(bw)
		write := func(l line) error { return enc.Encode(l) }
		if err := write(line{Kind: "header", Format: Format, CreatedAt: b.CreatedAt, Source: src.Name}); err != nil {
			return err
		}
		total := ds.Counts.Users + ds.Counts.UserRoles + ds.Counts.OAuthAccounts + ds.Counts.Sessions + ds.Counts.LoginAttempts
		prog := progress.Start(m.Output(), m.Terminal, "backup", "rows", total)
		for _, t := range legacy.Tables {
			err := src.Dump(ctx, t, func(row []byte) error {
				b.LegacyRows[t]++
				if b.LegacyRows[t]%10000 == 0 {
					prog.Step(10000, "")
				}
				return write(line{Kind: "row", Table: t, Row: row})
			})
			if err != nil {
				return err
			}
			prog.Step(int(b.LegacyRows[t]%10000), t)
		}
		prog.Finish()
		err := m.Kratos.List(ctx, true, func(page []kratos.Identity) error {
			for _, k := range page {
				b.KratosIdentities++
				if err := write(line{Kind: "identity", Identity: k.Raw}); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil {
			err = write(line{Kind: "footer", Rows: b.LegacyRows, Identities: b.KratosIdentities})
		}
		if err == nil {
			err = bw.Flush()
		}
		if err == nil {
			err = zw.Close()
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	b.Bytes = counted.n
	b.SHA256 = hex.EncodeToString(hash.Sum(nil))
	r.Backup = b
	if err := pf.RecordBackup(ctx, platform.BackupRecord{Path: path, Source: src.Name, At: b.CreatedAt, SHA256: b.SHA256}); err != nil {
		return nil, err
	}
	r.Finish("ok")
	return r, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
