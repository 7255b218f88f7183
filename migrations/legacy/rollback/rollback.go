// Package rollback undoes the legacy migration: it deletes exactly the
// Kratos identities the migration created and puts the platform database
// back (rewritten rows, copied login attempts, mapping, checkpoints).
package rollback

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/learnplatform/platform/migrations/legacy/backup"
	"github.com/learnplatform/platform/migrations/legacy/kratos"
	"github.com/learnplatform/platform/migrations/legacy/migrate"
	"github.com/learnplatform/platform/migrations/legacy/platform"
	"github.com/learnplatform/platform/migrations/legacy/progress"
	"github.com/learnplatform/platform/migrations/legacy/report"
)

// Run deletes exactly the identities the migration created and undoes the
// platform side (rewritten rows, copied login attempts, mapping and
// checkpoints). Without yes it only says what it would do. With a backup
// file it then compares Kratos with the identities the backup holds.
func Run(ctx context.Context, m *migrate.Migrator, yes bool, backupPath string) (*report.Report, error) {
	r := report.New("rollback")
	if m.Kratos == nil {
		return nil, errors.New("rollback needs the Kratos admin URL")
	}
	var backupIDs map[string]bool
	if backupPath != "" {
		var err error
		if backupIDs, err = backup.IdentityIDs(backupPath); err != nil {
			return nil, err
		}
	}
	pf, err := platform.Open(ctx, m.PlatformDSN)
	if err != nil {
		return nil, err
	}
	defer pf.Close()
	unlock, err := pf.Lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := m.Kratos.Ready(ctx); err != nil {
		return nil, err
	}

	mapped, err := pf.Mappings(ctx)
	if err != nil {
		return nil, err
	}
	rb := &report.Rollback{DryRun: !yes}
	r.Rollback = rb
	targets := map[string]bool{}
	for _, mp := range mapped {
		targets[mp.IdentityID] = true
	}
	rb.FromMapping = len(targets)
	err = m.Kratos.List(ctx, false, func(page []kratos.Identity) error {
		for _, k := range page {
			if k.LegacyID() != "" && !targets[k.ID] {
				targets[k.ID] = true
				rb.FromKratos++
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(targets))
	for id := range targets {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	rb.Identities = len(ids)
	if !yes {
		r.Finish("dry run")
		return r, nil
	}

	runID, err := pf.StartRun(ctx, "rollback")
	if err != nil {
		return nil, err
	}
	outcome := "failed"
	defer func() { _ = pf.FinishRun(ctx, runID, outcome, r) }()

	prog := progress.Start(m.Output(), m.Terminal, "deleting identities", "identities", len(ids))
	if err := deleteAll(ctx, m, ids, prog); err != nil {
		return nil, fmt.Errorf("%w; run rollback again to finish", err)
	}
	prog.Finish()
	rb.Deleted = len(ids)
	if rb.Platform, err = pf.Rollback(ctx, ids); err != nil {
		return nil, err
	}
	if backupIDs != nil {
		cmp := &report.BackupComparison{Path: backupPath, InBackup: len(backupIDs), Missing: []string{}, Added: []string{}}
		now := map[string]bool{}
		err := m.Kratos.List(ctx, false, func(page []kratos.Identity) error {
			for _, k := range page {
				now[k.ID] = true
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		cmp.InKratos = len(now)
		for id := range backupIDs {
			if !now[id] {
				cmp.Missing = append(cmp.Missing, id)
			}
		}
		for id := range now {
			if !backupIDs[id] {
				cmp.Added = append(cmp.Added, id)
			}
		}
		sort.Strings(cmp.Missing)
		sort.Strings(cmp.Added)
		cmp.Matches = len(cmp.Missing) == 0 && len(cmp.Added) == 0
		rb.Backup = cmp
		if !cmp.Matches {
			r.Warnings = append(r.Warnings, "Kratos does not match the backup's identities (see rollback.backup): they were changed by something other than this migration")
		}
	}
	outcome = "ok"
	r.Finish(outcome)
	return r, nil
}

// deleteAll deletes identities with m.Workers requests at a time.
func deleteAll(ctx context.Context, m *migrate.Migrator, ids []string, prog *progress.Meter) error {
	work := make(chan string)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for w := 0; w < max(1, m.Workers); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				if err := m.Kratos.Delete(ctx, id); err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("deleting identity %s: %w", id, err)
					}
					mu.Unlock()
					cancel()
					continue
				}
				prog.Step(1, "")
			}
		}()
	}
feed:
	for _, id := range ids {
		select {
		case work <- id:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}
