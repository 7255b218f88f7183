// Package privatefile writes the files migrate-legacy produces (backups,
// reports) so that only their owner can read them: a backup holds every
// password hash.
package privatefile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Write writes a whole file the tool produces (a backup, a report): write
// fills a new temporary file next to path, created with
// O_CREATE|O_EXCL and mode 0600 under a name no file had, which is then
// synced and renamed over path. So the result is readable by its owner
// only whatever path or a stale temporary file was before (a backup holds
// every password hash), a file or symlink planted under the temporary name
// is never written through, and a failed write leaves path as it was.
func Write(path string, write func(w io.Writer) error) (err error) {
	f, err := createTemp(path)
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := write(f); err != nil {
		return err
	}
	// The mode asked of OpenFile is narrowed by the umask, never widened;
	// Chmod makes it exactly 0600 all the same.
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// createTemp creates ".<name>.<random>.tmp" next to path, exclusively.
func createTemp(path string) (*os.File, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	for range 10 {
		b := make([]byte, 8)
		rand.Read(b)
		name := filepath.Join(dir, "."+base+"."+hex.EncodeToString(b)+".tmp")
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		return f, err
	}
	return nil, fmt.Errorf("cannot create a temporary file next to %s", path)
}
