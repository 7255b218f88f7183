package legacy

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

	"github.com/jackc/pgx/v5"
)

// BackupFormat names the backup file format: gzip-compressed JSON lines, a
// header, every legacy row (row_to_json) table by table, every Kratos
// identity as the admin API lists it with credentials, and a footer with
// the counts. A file without its footer is incomplete and is refused.
const BackupFormat = "learnplatform/legacy-backup/v1"

// backupLine is one line of a backup file.
type backupLine struct {
	Kind string `json:"kind"` // header, row, identity, footer
	// header
	Format    string    `json:"format,omitempty"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	Source    string    `json:"source,omitempty"`
	// row
	Table string          `json:"table,omitempty"`
	Row   json.RawMessage `json:"row,omitempty"`
	// identity
	Identity json.RawMessage `json:"identity,omitempty"`
	// footer
	Rows       map[string]int64 `json:"rows,omitempty"`
	Identities int              `json:"identities,omitempty"`
}

// BackupReport describes a backup file.
type BackupReport struct {
	Path             string           `json:"path"`
	Bytes            int64            `json:"bytes"`
	SHA256           string           `json:"sha256"`
	Source           string           `json:"source"`
	CreatedAt        time.Time        `json:"created_at"`
	LegacyRows       map[string]int64 `json:"legacy_rows"`
	KratosIdentities int              `json:"kratos_identities"`
	// Restored is set by restore: rows loaded into the legacy database.
	Restored bool `json:"restored,omitempty"`
}

// Backup writes the legacy tables and every Kratos identity to path (which
// must not exist unless force) and records it in the platform database, so
// that run knows a backup was taken.
func (m *Migrator) Backup(ctx context.Context, path string, force bool) (*Report, error) {
	r := newReport("backup")
	if path == "" {
		return nil, errors.New("backup needs -backup FILE")
	}
	if m.Kratos == nil {
		return nil, errors.New("backup needs the Kratos admin URL (it exports the current identities too)")
	}
	if _, err := os.Stat(path); err == nil && !force {
		return nil, fmt.Errorf("backup file %s exists: choose another name or pass -force", path)
	}
	src, err := OpenSource(ctx, m.LegacyDSN)
	if err != nil {
		return nil, err
	}
	defer src.Close(ctx)
	pf, err := OpenPlatform(ctx, m.PlatformDSN)
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
	r.Sessions = sessionsNote(ds.Counts)

	// The file holds every password hash: writePrivate makes it mode 0600
	// through a new temporary file, whatever was at path before.
	hash := sha256.New()
	counted := &countingWriter{}
	b := &BackupReport{Path: path, Source: src.Name, CreatedAt: time.Now().UTC(), LegacyRows: map[string]int64{}}
	err = writePrivate(path, func(f io.Writer) error {
		counted.w = io.MultiWriter(f, hash)
		zw := gzip.NewWriter(counted)
		bw := bufio.NewWriterSize(zw, 1<<20)
		enc := json.NewEncoder(bw)
		write := func(l backupLine) error { return enc.Encode(l) }
		if err := write(backupLine{Kind: "header", Format: BackupFormat, CreatedAt: b.CreatedAt, Source: src.Name}); err != nil {
			return err
		}
		total := ds.Counts.Users + ds.Counts.UserRoles + ds.Counts.OAuthAccounts + ds.Counts.Sessions + ds.Counts.LoginAttempts
		prog := NewProgress(m.out(), m.Terminal, "backup", "rows", total)
		for _, t := range Tables {
			err := src.Dump(ctx, t, func(row []byte) error {
				b.LegacyRows[t]++
				if b.LegacyRows[t]%10000 == 0 {
					prog.Step(10000, "")
				}
				return write(backupLine{Kind: "row", Table: t, Row: row})
			})
			if err != nil {
				return err
			}
			prog.Step(int(b.LegacyRows[t]%10000), t)
		}
		prog.Finish()
		err := m.Kratos.List(ctx, true, func(page []KratosIdentity) error {
			for _, k := range page {
				b.KratosIdentities++
				if err := write(backupLine{Kind: "identity", Identity: k.Raw}); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil {
			err = write(backupLine{Kind: "footer", Rows: b.LegacyRows, Identities: b.KratosIdentities})
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
	rec, _ := json.Marshal(backupRecord{Path: path, Source: src.Name, At: b.CreatedAt, SHA256: b.SHA256})
	if err := pf.SetState(ctx, stateBackup, string(rec)); err != nil {
		return nil, err
	}
	r.finish("ok")
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

// BackupFile is an opened backup file, read line by line.
type BackupFile struct {
	f      *os.File
	zr     *gzip.Reader
	dec    *json.Decoder
	Header backupLine
}

// OpenBackup opens a backup file and reads its header.
func OpenBackup(path string) (*BackupFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("backup file: %w", err)
	}
	zr, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("backup file %s: not a backup (%v)", path, err)
	}
	bf := &BackupFile{f: f, zr: zr, dec: json.NewDecoder(zr)}
	if err := bf.dec.Decode(&bf.Header); err != nil || bf.Header.Kind != "header" || bf.Header.Format != BackupFormat {
		bf.Close()
		return nil, fmt.Errorf("backup file %s: no %s header", path, BackupFormat)
	}
	return bf, nil
}

// Close closes the file.
func (bf *BackupFile) Close() {
	bf.zr.Close()
	bf.f.Close()
}

// Each calls row for every legacy row and identity for every Kratos
// identity, in file order, and checks the footer's counts at the end.
func (bf *BackupFile) Each(row func(table string, data json.RawMessage) error, identity func(data json.RawMessage) error) (*BackupReport, error) {
	b := &BackupReport{Source: bf.Header.Source, CreatedAt: bf.Header.CreatedAt, LegacyRows: map[string]int64{}}
	for {
		var l backupLine
		if err := bf.dec.Decode(&l); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, errors.New("backup file is incomplete: it ends before its footer")
			}
			return nil, fmt.Errorf("backup file: %w", err)
		}
		switch l.Kind {
		case "row":
			b.LegacyRows[l.Table]++
			if row != nil {
				if err := row(l.Table, l.Row); err != nil {
					return nil, err
				}
			}
		case "identity":
			b.KratosIdentities++
			if identity != nil {
				if err := identity(l.Identity); err != nil {
					return nil, err
				}
			}
		case "footer":
			for _, t := range Tables {
				if l.Rows[t] != b.LegacyRows[t] {
					return nil, fmt.Errorf("backup file is damaged: footer counts %d %s rows, the file holds %d", l.Rows[t], t, b.LegacyRows[t])
				}
			}
			if l.Identities != b.KratosIdentities {
				return nil, fmt.Errorf("backup file is damaged: footer counts %d identities, the file holds %d", l.Identities, b.KratosIdentities)
			}
			return b, nil
		default:
			return nil, fmt.Errorf("backup file: unknown line kind %q", l.Kind)
		}
	}
}

// restoreChunk is how many rows one INSERT loads.
const restoreChunk = 1000

// Restore loads a backup's legacy rows into the legacy database (-legacy-dsn),
// which must hold no legacy rows; it creates the tables when missing. All
// in one transaction: a damaged file leaves nothing behind. Kratos is not
// touched: rollback puts Kratos back by deleting what the migration made.
func (m *Migrator) Restore(ctx context.Context, path string) (*Report, error) {
	r := newReport("restore")
	bf, err := OpenBackup(path)
	if err != nil {
		return nil, err
	}
	defer bf.Close()
	cfg, err := pgx.ParseConfig(m.LegacyDSN)
	if err != nil {
		return nil, fmt.Errorf("legacy database: %w", err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("legacy database: %w", err)
	}
	defer conn.Close(ctx)
	var b *BackupReport
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, Schema); err != nil {
			return fmt.Errorf("legacy database: creating the legacy tables: %w", err)
		}
		for _, t := range Tables {
			var any bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+pgx.Identifier{t}.Sanitize()+`)`).Scan(&any); err != nil {
				return fmt.Errorf("legacy database: %w", err)
			}
			if any {
				return fmt.Errorf("legacy database: table %s is not empty; restore only into a database without legacy rows", t)
			}
		}
		var pending []json.RawMessage
		table := ""
		flush := func() error {
			if len(pending) == 0 {
				return nil
			}
			arr, _ := json.Marshal(pending)
			id := pgx.Identifier{table}.Sanitize()
			if _, err := tx.Exec(ctx, `INSERT INTO `+id+` SELECT * FROM json_populate_recordset(NULL::`+id+`, $1::json)`, string(arr)); err != nil {
				return fmt.Errorf("legacy database: loading %s: %w", table, err)
			}
			pending = pending[:0]
			return nil
		}
		b, err = bf.Each(func(t string, row json.RawMessage) error {
			if _, ok := dumpOrder[t]; !ok {
				return fmt.Errorf("backup file: unknown table %q", t)
			}
			if t != table || len(pending) == restoreChunk {
				if err := flush(); err != nil {
					return err
				}
				if t != table && table != "" {
					fmt.Fprintf(m.out(), "restore: %s loaded\n", table)
				}
				table = t
			}
			pending = append(pending, row)
			return nil
		}, nil)
		if err != nil {
			return err
		}
		if err := flush(); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence('login_attempts', 'id'), coalesce((SELECT max(id) FROM login_attempts), 0) + 1, false)`)
		return err
	})
	if err != nil {
		return nil, err
	}
	b.Path = path
	b.Restored = true
	r.Backup = b
	r.Message = fmt.Sprintf("legacy rows restored into the legacy database; the file also holds %d Kratos identities, which restore does not touch", b.KratosIdentities)
	r.finish("ok")
	return r, nil
}

// backupIdentityIDs reads the ids of the Kratos identities in a backup.
func backupIdentityIDs(path string) (map[string]bool, error) {
	bf, err := OpenBackup(path)
	if err != nil {
		return nil, err
	}
	defer bf.Close()
	ids := map[string]bool{}
	_, err = bf.Each(nil, func(data json.RawMessage) error {
		var k struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(data, &k); err != nil {
			return fmt.Errorf("backup file: identity: %w", err)
		}
		ids[k.ID] = true
		return nil
	})
	return ids, err
}
