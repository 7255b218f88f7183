// Package migrate carries out migrate-legacy's commands plan (the dry run)
// and run (the migration itself); Migrator holds the settings every
// command shares, which the command line fills in. The other commands are
// packages of their own: backup (and restore), validate, rollback.
package migrate

import (
	"io"
	"net/http"

	"github.com/learnplatform/platform/migrations/legacy"
	"github.com/learnplatform/platform/migrations/legacy/kratos"
	"github.com/learnplatform/platform/migrations/legacy/plan"
)

// Migrator holds the settings of every command: it carries out plan and
// run, and backup, validate and rollback take it too. The command line
// fills it in.
type Migrator struct {
	LegacyDSN   string
	PlatformDSN string
	// Kratos is the admin API (nil when not configured: plan then skips
	// the look at Kratos).
	Kratos *kratos.Client
	// BatchSize is how many identities go into one batch import (1..kratos.MaxBatch).
	BatchSize int
	// Parallel is how many batch imports are in flight at once (at least 1).
	Parallel int
	// Providers maps legacy provider names to Kratos provider ids (nil:
	// plan.DefaultProviders).
	Providers map[string]string
	// Out gets progress and the summary; Terminal makes progress a bar.
	Out      io.Writer
	Terminal bool
	// RequireBackup makes run refuse to start until backup has been taken
	// of the same legacy database.
	RequireBackup bool
	// AfterKratosAnswer, when set, is called after Kratos answered the n-th
	// batch of this run (from 1) and before the answer is stored. The
	// crash tests stop the process there: the worst moment for a crash.
	AfterKratosAnswer func(n int)
	// Validate's sign-in checks: Kratos' public API (or the edge in front
	// of it) and a file of "email<TAB>password" lines.
	PublicURL     string
	PasswordsFile string
	// Workers is how many Kratos requests rollback and validate's sign-ins
	// run at once.
	Workers int
	// HTTP is the client for sign-ins (nil: a default one).
	HTTP *http.Client
}

// Output is where progress and summaries go (Out, or nowhere).
func (m *Migrator) Output() io.Writer {
	if m.Out == nil {
		return io.Discard
	}
	return m.Out
}

// BuildPlan decides what becomes of every user of ds, with the migrator's
// provider mapping.
func (m *Migrator) BuildPlan(ds *legacy.Dataset) *plan.Plan {
	return plan.Build(ds, plan.Options{Providers: m.Providers})
}
