package migrate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/learnplatform/platform/migrations/legacy"
	"github.com/learnplatform/platform/migrations/legacy/kratos"
	"github.com/learnplatform/platform/migrations/legacy/plan"
	"github.com/learnplatform/platform/migrations/legacy/platform"
	"github.com/learnplatform/platform/migrations/legacy/progress"
	"github.com/learnplatform/platform/migrations/legacy/report"
	"github.com/learnplatform/platform/migrations/legacy/source"
)

// Run migrates: identities through Kratos' batch import, login attempts
// into the auth event log, platform rows to identity ids. Running it again
// changes nothing; after a crash it goes on where the last one stopped.
func (m *Migrator) Run(ctx context.Context) (*report.Report, error) {
	r := report.New("run")
	if m.BatchSize < 1 || m.BatchSize > kratos.MaxBatch {
		return nil, fmt.Errorf("batch size %d: want 1 to %d", m.BatchSize, kratos.MaxBatch)
	}
	if m.Kratos == nil {
		return nil, errors.New("run needs the Kratos admin URL")
	}
	src, err := source.Open(ctx, m.LegacyDSN)
	if err != nil {
		return nil, err
	}
	defer src.Close(ctx)
	if src.Empty {
		return r.NothingToMigrate("the legacy database has none of the legacy tables: nothing to migrate"), nil
	}
	ds, err := src.Load(ctx)
	if err != nil {
		return nil, err
	}
	if len(ds.Users) == 0 && ds.Counts.LoginAttempts == 0 {
		r.Legacy = &ds.Counts
		return r.NothingToMigrate("the legacy database has no users: nothing to migrate"), nil
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
	if m.RequireBackup {
		b, ok, err := pf.RecordedBackup(ctx)
		if err != nil {
			return nil, err
		}
		if !ok || b.Source != src.Name {
			return nil, fmt.Errorf("no backup of legacy database %s is recorded: take one first (`migrate-legacy backup -backup FILE`), or pass -no-backup-check", src.Name)
		}
	}
	if err := m.Kratos.Ready(ctx); err != nil {
		return nil, err
	}
	if err := pf.ClaimSource(ctx, src.Name); err != nil {
		return nil, err
	}

	r.Legacy = &ds.Counts
	p := m.BuildPlan(ds)
	tally := p.Tally()
	r.Plan = &tally
	if o := ds.Counts.Orphans(); o != "" {
		r.Warnings = append(r.Warnings, o)
	}
	r.Sessions = report.NewSessionsNote(ds.Counts)

	_, interrupted, err := pf.Interrupted(ctx, "run")
	if err != nil {
		return nil, err
	}
	if err := pf.MarkAbandoned(ctx, "run"); err != nil {
		return nil, err
	}
	runID, err := pf.StartRun(ctx, "run")
	if err != nil {
		return nil, err
	}
	rc := &report.RunCounts{Resumed: interrupted, BatchSize: m.BatchSize, RowsRewritten: map[string]int64{}}
	r.Run = rc
	outcome := "failed"
	defer func() { _ = pf.FinishRun(ctx, runID, outcome, r) }()

	if err := m.migrateIdentities(ctx, pf, p, rc); err != nil {
		return nil, err
	}
	if err := m.copyEvents(ctx, src, pf, p, ds.Counts.MaxAttemptID, rc); err != nil {
		return nil, err
	}
	rw, err := pf.Rewrite(ctx)
	if err != nil {
		return nil, err
	}
	rc.RowsRewritten = rw.Moved

	stored, err := pf.Conflicts(ctx)
	if err != nil {
		return nil, err
	}
	r.Conflicts = append(append([]legacy.Conflict{}, p.Conflicts...), legacy.ExplainRunConflicts(stored)...)
	if cols, err := pf.UnlistedUserColumns(ctx); err == nil && len(cols) > 0 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("platform columns %v look like user ids but legacy.UserTables does not list them: they were not rewritten", cols))
	}
	outcome = "ok"
	r.Finish(outcome)
	return r, nil
}

// attemptChunk is how many login attempts go into one transaction.
const attemptChunk = 5000

// copyEvents copies login attempts not yet copied into auth_event_log.
func (m *Migrator) copyEvents(ctx context.Context, src *source.Snapshot, pf *platform.DB, p *plan.Plan, upTo int64, rc *report.RunCounts) error {
	done, err := pf.EventsCopied(ctx)
	if err != nil {
		return err
	}
	mapped, err := pf.Mappings(ctx)
	if err != nil {
		return err
	}
	if done < upTo {
		total, err := src.CountAttempts(ctx, done, upTo)
		if err != nil {
			return err
		}
		prog := progress.Start(m.Output(), m.Terminal, "login attempts", "attempts", total)
		err = src.Attempts(ctx, done, upTo, attemptChunk, func(as []legacy.LoginAttempt) error {
			events := make([]platform.Event, len(as))
			for i, a := range as {
				events[i] = attemptEvent(a, p, mapped)
			}
			last := as[len(as)-1].ID
			if len(as) < attemptChunk {
				last = upTo
			}
			if err := pf.CopyEvents(ctx, events, last); err != nil {
				return err
			}
			rc.EventsCopied += int64(len(events))
			prog.Step(len(as), "")
			return nil
		})
		if err != nil {
			return err
		}
		prog.Finish()
	}
	rc.EventsRelinked, err = pf.RelinkEvents(ctx)
	return err
}

// Event types of the auth event log (identity/events.go).
const (
	eventLoginSucceeded = "login.succeeded"
	eventLoginFailed    = "login.failed"
)

// attemptEvent turns a login attempt into an auth event at its original
// time, marked as copied from the legacy system (rollback removes exactly
// those).
func attemptEvent(a legacy.LoginAttempt, p *plan.Plan, mapped map[string]platform.Mapping) platform.Event {
	e := platform.Event{OccurredAt: a.AttemptedAt, Type: eventLoginFailed, IP: a.IP, UserAgent: a.UserAgent,
		Email:  legacy.NormalizeEmail(a.Email),
		Detail: map[string]any{"source": "legacy", "legacy_id": fmt.Sprint(a.ID)}}
	if a.Success {
		e.Type = eventLoginSucceeded
	}
	if a.SuccessUnknown {
		e.Detail["legacy_success"] = "unknown"
	}
	if e.Email != a.Email && a.Email != "" {
		e.Detail["legacy_email"] = a.Email
	}
	if a.AttemptedAt.IsZero() {
		e.OccurredAt = time.Unix(0, 0).UTC()
		e.Detail["legacy_time"] = "unknown"
	}
	var id *legacy.Identity
	if a.UserID != "" {
		e.Detail["legacy_user_id"] = a.UserID
		id, _ = p.Lookup(a.UserID)
	} else if e.Email != "" {
		id, _ = p.LookupEmail(e.Email)
	}
	if id != nil {
		if mp, ok := mapped[id.LegacyID]; ok {
			e.IdentityID = mp.IdentityID
		}
		if e.Email == "" {
			e.Email = id.Email
		}
	}
	return e
}
