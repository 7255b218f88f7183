package legacy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
)

// RollbackReport is what rollback did (or, as a dry run, would do).
type RollbackReport struct {
	DryRun bool `json:"dry_run"`
	// Identities the migration created: from the mapping, and those found
	// in Kratos by metadata_admin.legacy_id (made by a run that crashed
	// before storing their mapping); Deleted were deleted.
	Identities  int             `json:"identities"`
	FromMapping int             `json:"from_mapping"`
	FromKratos  int             `json:"found_in_kratos_only"`
	Deleted     int             `json:"deleted"`
	Platform    *RollbackResult `json:"platform,omitempty"`
	// Backup compares Kratos afterwards with the backup's identities.
	Backup *BackupComparison `json:"backup,omitempty"`
}

// BackupComparison compares the identities in Kratos with a backup's.
type BackupComparison struct {
	Path string `json:"path"`
	// InBackup and InKratos count identities; Missing are in the backup but
	// no longer in Kratos, Added in Kratos but not in the backup (made
	// after it by someone else, e.g. a new sign-up).
	InBackup int      `json:"in_backup"`
	InKratos int      `json:"in_kratos"`
	Missing  []string `json:"missing"`
	Added    []string `json:"added"`
	Matches  bool     `json:"matches"`
}

func (rb *RollbackReport) writeSummary(p func(string, ...any)) {
	if rb.DryRun {
		p("rollback (dry run, nothing changed): would delete %d identities (%d from the mapping, %d found in Kratos by legacy id); pass -yes to do it",
			rb.Identities, rb.FromMapping, rb.FromKratos)
		return
	}
	p("rollback: deleted %d identities the migration created (%d from the mapping, %d found in Kratos by legacy id)",
		rb.Deleted, rb.FromMapping, rb.FromKratos)
	if pr := rb.Platform; pr != nil {
		var parts []string
		for _, ut := range UserTables {
			parts = append(parts, fmt.Sprintf("%s %d", ut.Table, pr.RowsRestored[ut.Table]))
		}
		p("  platform rows put back on legacy ids: %v; copied login attempts deleted: %d; mapping rows deleted: %d",
			parts, pr.EventsDeleted, pr.Mappings)
		for t, n := range pr.RowsLeft {
			p("  %s: %d rows made after the migration refer to deleted identities; left as they are", t, n)
		}
	}
	if b := rb.Backup; b != nil {
		if b.Matches {
			p("  Kratos matches the backup %s: the same %d identities", b.Path, b.InBackup)
		} else {
			p("  Kratos differs from the backup %s: %d identities then, %d now; missing %v; added since %v", b.Path, b.InBackup, b.InKratos, b.Missing, b.Added)
		}
	}
}

// Rollback deletes exactly the identities this migration created and undoes
// the platform side (rewritten rows, copied login attempts, mapping and
// checkpoints). Without yes it only says what it would do. With a backup
// file it then compares Kratos with the identities the backup holds.
func (m *Migrator) Rollback(ctx context.Context, yes bool, backupPath string) (*Report, error) {
	r := newReport("rollback")
	if m.Kratos == nil {
		return nil, errors.New("rollback needs the Kratos admin URL")
	}
	var backupIDs map[string]bool
	if backupPath != "" {
		var err error
		if backupIDs, err = backupIdentityIDs(backupPath); err != nil {
			return nil, err
		}
	}
	pf, err := OpenPlatform(ctx, m.PlatformDSN)
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
	rb := &RollbackReport{DryRun: !yes}
	r.Rollback = rb
	targets := map[string]bool{}
	for _, mp := range mapped {
		targets[mp.IdentityID] = true
	}
	rb.FromMapping = len(targets)
	err = m.Kratos.List(ctx, false, func(page []KratosIdentity) error {
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
		r.finish("dry run")
		return r, nil
	}

	runID, err := pf.StartRun(ctx, "rollback")
	if err != nil {
		return nil, err
	}
	outcome := "failed"
	defer func() { _ = pf.FinishRun(ctx, runID, outcome, r) }()

	prog := NewProgress(m.out(), m.Terminal, "deleting identities", "identities", len(ids))
	if err := m.deleteAll(ctx, ids, prog); err != nil {
		return nil, fmt.Errorf("%w; run rollback again to finish", err)
	}
	prog.Finish()
	rb.Deleted = len(ids)
	if rb.Platform, err = pf.Rollback(ctx, ids); err != nil {
		return nil, err
	}
	if backupIDs != nil {
		cmp := &BackupComparison{Path: backupPath, InBackup: len(backupIDs), Missing: []string{}, Added: []string{}}
		now := map[string]bool{}
		err := m.Kratos.List(ctx, false, func(page []KratosIdentity) error {
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
	r.finish(outcome)
	return r, nil
}

// deleteAll deletes identities with Workers requests at a time.
func (m *Migrator) deleteAll(ctx context.Context, ids []string, prog *Progress) error {
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
