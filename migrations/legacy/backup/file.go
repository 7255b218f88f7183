package backup

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/learnplatform/platform/migrations/legacy"
	"github.com/learnplatform/platform/migrations/legacy/report"
)

// Format names the backup file format: gzip-compressed JSON lines, a
// header, every legacy row (row_to_json) table by table, every Kratos
// identity as the admin API lists it with credentials, and a footer with
// the counts. A file without its footer is incomplete and is refused.
const Format = "learnplatform/legacy-backup/v1"

// line is one line of a backup file.
type line struct {
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

// File is an opened backup file, read line by line.
type File struct {
	f      *os.File
	zr     *gzip.Reader
	dec    *json.Decoder
	header line
}

// Open opens a backup file and reads its header.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("backup file: %w", err)
	}
	zr, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("backup file %s: not a backup (%v)", path, err)
	}
	bf := &File{f: f, zr: zr, dec: json.NewDecoder(zr)}
	if err := bf.dec.Decode(&bf.header); err != nil || bf.header.Kind != "header" || bf.header.Format != Format {
		bf.Close()
		return nil, fmt.Errorf("backup file %s: no %s header", path, Format)
	}
	return bf, nil
}

// Close closes the file.
func (bf *File) Close() {
	bf.zr.Close()
	bf.f.Close()
}

// Each calls row for every legacy row and identity for every Kratos
// identity, in file order, and checks the footer's counts at the end.
func (bf *File) Each(row func(table string, data json.RawMessage) error, identity func(data json.RawMessage) error) (*report.Backup, error) {
	b := &report.Backup{Source: bf.header.Source, CreatedAt: bf.header.CreatedAt, LegacyRows: map[string]int64{}}
	for {
		var l line
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
			for _, t := range legacy.Tables {
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

// IdentityIDs reads the ids of the Kratos identities in a backup (rollback
// compares Kratos with them).
func IdentityIDs(path string) (map[string]bool, error) {
	bf, err := Open(path)
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
