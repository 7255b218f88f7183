// Package report is what a migrate-legacy command did: the JSON report
// (-report) and the summary for people. Every command fills in the
// sections it has something for.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/learnplatform/platform/kit/account"
	"github.com/learnplatform/platform/migrations/legacy"
	"github.com/learnplatform/platform/migrations/legacy/plan"
	"github.com/learnplatform/platform/migrations/legacy/privatefile"
)

// Report is what a command did: written as JSON (-report) and summed up for
// people (WriteSummary). Sections a command has nothing for stay empty.
type Report struct {
	Command         string    `json:"command"`
	StartedAt       time.Time `json:"started_at"`
	FinishedAt      time.Time `json:"finished_at"`
	DurationSeconds float64   `json:"duration_seconds"`
	// Outcome: "ok", "nothing to migrate", "valid", "invalid", "dry run".
	Outcome string `json:"outcome"`
	// Message says in one line why, when there is nothing more to say.
	Message  string         `json:"message,omitempty"`
	Legacy   *legacy.Counts `json:"legacy,omitempty"`
	Plan     *plan.Counts   `json:"plan,omitempty"`
	Sessions *SessionsNote  `json:"sessions,omitempty"`
	Run      *RunCounts     `json:"run,omitempty"`
	Validate *Validation    `json:"validate,omitempty"`
	Rollback *Rollback      `json:"rollback,omitempty"`
	Backup   *Backup        `json:"backup,omitempty"`
	// Conflicts are every conflict met, plan-time and run-time, in
	// legacy.ConflictKinds order; ConflictCounts counts them by kind.
	Conflicts      []legacy.Conflict `json:"conflicts"`
	ConflictCounts map[string]int    `json:"conflict_counts"`
	Warnings       []string          `json:"warnings,omitempty"`
	// Users is plan's per-user account of what would happen.
	Users []UserPlan `json:"users,omitempty"`
}

// SessionsNote reports the legacy sessions, which cannot move.
type SessionsNote struct {
	Total  int    `json:"total"`
	Active int    `json:"active"`
	Note   string `json:"note"`
}

// NewSessionsNote reports the legacy sessions counted in c.
func NewSessionsNote(c legacy.Counts) *SessionsNote {
	return &SessionsNote{Total: c.Sessions, Active: c.ActiveSessions,
		Note: "Kratos cannot import sessions: every legacy session ends with the migration and every user signs in once more " +
			"(with the same password or social sign-in)."}
}

// RunCounts is what a run did.
type RunCounts struct {
	// Resumed is true when an earlier run had been interrupted.
	Resumed bool `json:"resumed"`
	// IdentitiesCreated were created by this run; IdentitiesFound had been
	// created by an interrupted run and were found by lookup;
	// AlreadyMigrated were mapped before this run.
	IdentitiesCreated int `json:"identities_created"`
	IdentitiesFound   int `json:"identities_found"`
	AlreadyMigrated   int `json:"already_migrated"`
	// NotMigrated are planned identities Kratos did not take (conflicts
	// exists_in_kratos and rejected_by_kratos).
	NotMigrated      int     `json:"not_migrated"`
	MappingRowsAdded int     `json:"mapping_rows_added"`
	Batches          int     `json:"batches"`
	BatchSize        int     `json:"batch_size"`
	IdentitySeconds  float64 `json:"identity_seconds"`
	UsersPerSecond   float64 `json:"users_per_second"`
	// EventsCopied login attempts became auth events in this run;
	// EventsRelinked older copies got their identity now.
	EventsCopied   int64            `json:"events_copied"`
	EventsRelinked int64            `json:"events_relinked"`
	RowsRewritten  map[string]int64 `json:"platform_rows_rewritten"`
}

// Changed reports whether the run changed anything.
func (r *RunCounts) Changed() bool {
	n := int64(r.IdentitiesCreated + r.IdentitiesFound + r.MappingRowsAdded)
	n += r.EventsCopied + r.EventsRelinked
	for _, v := range r.RowsRewritten {
		n += v
	}
	return n > 0
}

// UserPlan is one legacy user in plan's report.
type UserPlan struct {
	LegacyID string `json:"legacy_id"`
	Email    string `json:"email"`
	// Action: "create", "merge" (into the identity of MergeInto), "skip",
	// "migrated" (already done), "blocked" (a Kratos identity the migration
	// did not create holds the email).
	Action    string `json:"action"`
	MergeInto string `json:"merge_into,omitempty"`
	Role      string `json:"role,omitempty"`
	State     string `json:"state,omitempty"`
	Verified  bool   `json:"verified,omitempty"`
	Password  string `json:"password,omitempty"`
	// PasswordFormat names the legacy hash's format (hashes.Info.Format);
	// never any part of the hash.
	PasswordFormat string        `json:"password_format,omitempty"`
	Social         []legacy.Link `json:"social,omitempty"`
}

// New starts the report of command.
func New(command string) *Report {
	return &Report{Command: command, StartedAt: time.Now().UTC(), ConflictCounts: map[string]int{}}
}

// Failed is the report of a command that failed with err.
func Failed(command string, err error) *Report {
	r := New(command)
	r.Message = err.Error()
	r.Finish("failed")
	return r
}

// NothingToMigrate finishes r with why there is nothing to do.
func (r *Report) NothingToMigrate(why string) *Report {
	r.Message = why
	r.Finish("nothing to migrate")
	return r
}

// Finish ends r with its outcome, and counts and orders its conflicts.
func (r *Report) Finish(outcome string) {
	r.FinishedAt = time.Now().UTC()
	r.DurationSeconds = r.FinishedAt.Sub(r.StartedAt).Seconds()
	r.Outcome = outcome
	r.ConflictCounts = map[string]int{}
	for _, c := range r.Conflicts {
		r.ConflictCounts[c.Kind]++
	}
	legacy.SortConflicts(r.Conflicts)
	if r.Conflicts == nil {
		r.Conflicts = []legacy.Conflict{}
	}
}

// WriteJSON writes the report to path ("-" is standard output) through a
// new temporary file of mode 0600 (privatefile.Write), so a half-written report
// never replaces a whole one and the report is its owner's alone.
func (r *Report) WriteJSON(path string, stdout io.Writer) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if path == "-" {
		_, err := stdout.Write(data)
		return err
	}
	err = privatefile.Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// CheckWritable fails early when the report could not be written at the end.
func CheckWritable(path string) error {
	if path == "-" || path == "" {
		return nil
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".migrate-legacy-check-*")
	if err != nil {
		return fmt.Errorf("report file %s cannot be written: %w", path, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// conflictsShown is how many conflicts of a kind the summary lists.
const conflictsShown = 5

// WriteSummary writes the report for people.
func (r *Report) WriteSummary(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("migrate-legacy %s: %s (%.1fs)", r.Command, r.Outcome, r.DurationSeconds)
	if r.Message != "" {
		p("  %s", r.Message)
	}
	if c := r.Legacy; c != nil {
		p("legacy database: %d users, %d role rows, %d social links, %d sessions (%d active), %d login attempts",
			c.Users, c.UserRoles, c.OAuthAccounts, c.Sessions, c.ActiveSessions, c.LoginAttempts)
	}
	if c := r.Plan; c != nil {
		p("plan: %d identities (%d users merged into them as duplicates, %d users not imported)", c.Identities, c.MergedUsers, c.SkippedUsers)
		p("  passwords imported: %d (%d of them translated into a form Kratos verifies); social sign-in only: %d; recovery required (no usable password): %d; social links: %d",
			c.PasswordsImported, c.PasswordsTranslated, c.SocialOnly, c.RecoveryRequired, c.SocialLinks)
		for _, line := range formatLines(c.PasswordFormats) {
			p("    %s", line)
		}
		p("  roles: %d student, %d instructor, %d admin; %d inactive; %d unverified",
			c.Roles[account.RoleStudent], c.Roles[account.RoleInstructor], c.Roles[account.RoleAdmin], c.Inactive, c.Unverified)
	}
	if rc := r.Run; rc != nil {
		if rc.Resumed {
			p("run: resumed after an interrupted run")
		}
		p("identities: %d created, %d found from an interrupted run, %d already migrated, %d not migrated (see conflicts)",
			rc.IdentitiesCreated, rc.IdentitiesFound, rc.AlreadyMigrated, rc.NotMigrated)
		if rc.Batches > 0 {
			p("  %d batches of up to %d in %.1fs: %.0f users/s", rc.Batches, rc.BatchSize, rc.IdentitySeconds, rc.UsersPerSecond)
		}
		p("mapping rows added: %d; login attempts copied to the auth event log: %d (%d relinked)", rc.MappingRowsAdded, rc.EventsCopied, rc.EventsRelinked)
		var parts []string
		for _, ut := range legacy.UserTables {
			parts = append(parts, fmt.Sprintf("%s %d", ut.Table, rc.RowsRewritten[ut.Table]))
		}
		p("platform rows rewritten to identity ids: %s", strings.Join(parts, ", "))
		if !rc.Changed() {
			p("nothing changed: everything was already migrated")
		}
	}
	if s := r.Sessions; s != nil {
		p("sessions: %d legacy sessions (%d still active) not imported. %s", s.Total, s.Active, s.Note)
	}
	if v := r.Validate; v != nil {
		v.writeSummary(p)
	}
	if b := r.Backup; b != nil {
		p("backup: %s (%d bytes, sha256 %s)", b.Path, b.Bytes, b.SHA256)
		p("  legacy rows: %s; Kratos identities: %d", formatCounts(b.LegacyRows), b.KratosIdentities)
	}
	if rb := r.Rollback; rb != nil {
		rb.writeSummary(p)
	}
	if len(r.Conflicts) > 0 {
		p("conflicts (%d), each handled as stated; all are in the JSON report:", len(r.Conflicts))
		shown := map[string]int{}
		for _, c := range r.Conflicts {
			if shown[c.Kind] == 0 {
				p("  %s: %d", c.Kind, r.ConflictCounts[c.Kind])
			}
			shown[c.Kind]++
			if shown[c.Kind] <= conflictsShown {
				p("    %s: %s\n      → %s", strings.Join(c.LegacyIDs, ", "), c.Detail, c.Resolution)
			} else if shown[c.Kind] == conflictsShown+1 {
				p("    … and %d more", r.ConflictCounts[c.Kind]-conflictsShown)
			}
		}
	}
	for _, w := range r.Warnings {
		p("warning: %s", w)
	}
}

// formatLines describe the password hash formats, most frequent first.
func formatLines(m map[string]*plan.FormatCount) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Slice(names, func(a, b int) bool {
		na, nb := m[names[a]].Imported+m[names[a]].Recovery, m[names[b]].Imported+m[names[b]].Recovery
		if na != nb {
			return na > nb
		}
		return names[a] < names[b]
	})
	out := make([]string, 0, len(names))
	for _, n := range names {
		f := m[n]
		var what []string
		if f.Imported > 0 {
			how := "imported as is"
			if f.Translated {
				how = "imported translated"
			}
			what = append(what, fmt.Sprintf("%d %s", f.Imported, how))
		}
		if f.Recovery > 0 {
			what = append(what, fmt.Sprintf("%d to forced recovery", f.Recovery))
		}
		out = append(out, fmt.Sprintf("%s: %s", n, strings.Join(what, ", ")))
	}
	return out
}

func formatCounts(m map[string]int64) string {
	var parts []string
	for _, t := range legacy.Tables {
		parts = append(parts, fmt.Sprintf("%s %d", t, m[t]))
	}
	return strings.Join(parts, ", ")
}
