package report

import (
	"fmt"
	"time"

	"github.com/learnplatform/platform/migrations/legacy"
	"github.com/learnplatform/platform/migrations/legacy/platform"
)

// Validation is what validate checked and found.
type Validation struct {
	// Expected identities (the plan's), Correct those found exactly once
	// with the planned traits, role, credentials, state and metadata,
	// NotMigrated those a reported run-time conflict kept out (and that are
	// indeed absent).
	Expected    int `json:"expected_identities"`
	Correct     int `json:"correct_identities"`
	NotMigrated int `json:"not_migrated_as_reported"`
	// Rehashed counts correct identities whose imported hash Kratos has
	// since replaced with one of its own algorithm, as it does at the
	// first sign-in with a hash its hasher does not use (hashes.Rehashed).
	Rehashed int `json:"rehashed_at_sign_in"`
	// KratosIdentities is how many identities Kratos holds in all.
	KratosIdentities int              `json:"kratos_identities"`
	EventsExpected   int64            `json:"events_expected"`
	EventsFound      int64            `json:"events_found"`
	RowsLeft         map[string]int64 `json:"platform_rows_still_on_legacy_ids"`
	SignIns          *SignIns         `json:"sign_ins,omitempty"`
	ListSeconds      float64          `json:"kratos_list_seconds"`
	// Problems lists what is wrong (at most maxProblems; ProblemCount all).
	Problems     []string `json:"problems"`
	ProblemCount int      `json:"problem_count"`
}

// SignIns counts validate's sign-ins with known passwords.
type SignIns struct {
	Tried     int     `json:"tried"`
	Succeeded int     `json:"succeeded"`
	Seconds   float64 `json:"seconds"`
}

const maxProblems = 200

// Problem records something validate found wrong.
func (v *Validation) Problem(format string, args ...any) {
	v.ProblemCount++
	if len(v.Problems) < maxProblems {
		v.Problems = append(v.Problems, fmt.Sprintf(format, args...))
	}
}

func (v *Validation) writeSummary(p func(string, ...any)) {
	p("validate: %d of %d identities correct; %d not migrated as reported; Kratos holds %d identities (listed in %.1fs)",
		v.Correct, v.Expected, v.NotMigrated, v.KratosIdentities, v.ListSeconds)
	if v.Rehashed > 0 {
		p("  %d imported password hashes re-hashed by Kratos at the user's first sign-in", v.Rehashed)
	}
	p("  login attempts in the auth event log: %d of %d", v.EventsFound, v.EventsExpected)
	if s := v.SignIns; s != nil {
		p("  sign-ins with known passwords: %d of %d succeeded (%.1fs)", s.Succeeded, s.Tried, s.Seconds)
	}
	if v.ProblemCount == 0 {
		p("  no problems found")
		return
	}
	p("  %d problems:", v.ProblemCount)
	for _, pr := range v.Problems {
		p("    %s", pr)
	}
	if v.ProblemCount > len(v.Problems) {
		p("    … and %d more", v.ProblemCount-len(v.Problems))
	}
}

// Rollback is what rollback did (or, as a dry run, would do).
type Rollback struct {
	DryRun bool `json:"dry_run"`
	// Identities the migration created: from the mapping, and those found
	// in Kratos by metadata_admin.legacy_id (made by a run that crashed
	// before storing their mapping); Deleted were deleted.
	Identities  int                      `json:"identities"`
	FromMapping int                      `json:"from_mapping"`
	FromKratos  int                      `json:"found_in_kratos_only"`
	Deleted     int                      `json:"deleted"`
	Platform    *platform.RollbackResult `json:"platform,omitempty"`
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

func (rb *Rollback) writeSummary(p func(string, ...any)) {
	if rb.DryRun {
		p("rollback (dry run, nothing changed): would delete %d identities (%d from the mapping, %d found in Kratos by legacy id); pass -yes to do it",
			rb.Identities, rb.FromMapping, rb.FromKratos)
		return
	}
	p("rollback: deleted %d identities the migration created (%d from the mapping, %d found in Kratos by legacy id)",
		rb.Deleted, rb.FromMapping, rb.FromKratos)
	if pr := rb.Platform; pr != nil {
		var parts []string
		for _, ut := range legacy.UserTables {
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

// Backup describes a backup file.
type Backup struct {
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
