package legacy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"time"
)

// Migrator carries out the commands. The command line fills it in.
type Migrator struct {
	LegacyDSN   string
	PlatformDSN string
	// Kratos is the admin API (nil when not configured: plan then skips
	// the look at Kratos).
	Kratos *Kratos
	// BatchSize is how many identities go into one batch import (1..MaxBatch).
	BatchSize int
	// Parallel is how many batch imports are in flight at once (at least 1).
	Parallel int
	// Providers maps legacy provider names to Kratos provider ids (nil:
	// DefaultProviders).
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

func (m *Migrator) out() io.Writer {
	if m.Out == nil {
		return io.Discard
	}
	return m.Out
}

func (m *Migrator) plan(ds *Dataset) *Plan {
	return BuildPlan(ds, PlanOptions{Providers: m.Providers})
}

// backupRecord is legacy_migration_state 'backup'.
type backupRecord struct {
	Path   string    `json:"path"`
	Source string    `json:"source"`
	At     time.Time `json:"at"`
	SHA256 string    `json:"sha256"`
}

// Run migrates: identities through Kratos' batch import, login attempts
// into the auth event log, platform rows to identity ids. Running it again
// changes nothing; after a crash it goes on where the last one stopped.
func (m *Migrator) Run(ctx context.Context) (*Report, error) {
	r := newReport("run")
	if m.BatchSize < 1 || m.BatchSize > MaxBatch {
		return nil, fmt.Errorf("batch size %d: want 1 to %d", m.BatchSize, MaxBatch)
	}
	if m.Kratos == nil {
		return nil, errors.New("run needs the Kratos admin URL")
	}
	src, err := OpenSource(ctx, m.LegacyDSN)
	if err != nil {
		return nil, err
	}
	defer src.Close(ctx)
	if src.Empty {
		return r.nothingToMigrate("the legacy database has none of the legacy tables: nothing to migrate"), nil
	}
	ds, err := src.Load(ctx)
	if err != nil {
		return nil, err
	}
	if len(ds.Users) == 0 && ds.Counts.LoginAttempts == 0 {
		r.Legacy = &ds.Counts
		return r.nothingToMigrate("the legacy database has no users: nothing to migrate"), nil
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
	if m.RequireBackup {
		rec, err := pf.State(ctx, stateBackup)
		if err != nil {
			return nil, err
		}
		var b backupRecord
		if rec == "" || json.Unmarshal([]byte(rec), &b) != nil || b.Source != src.Name {
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
	plan := m.plan(ds)
	tally := plan.Tally()
	r.Plan = &tally
	if o := ds.Counts.Orphans(); o != "" {
		r.Warnings = append(r.Warnings, o)
	}
	r.Sessions = sessionsNote(ds.Counts)

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
	rc := &RunCounts{Resumed: interrupted, BatchSize: m.BatchSize, RowsRewritten: map[string]int64{}}
	r.Run = rc
	outcome := "failed"
	defer func() { _ = pf.FinishRun(ctx, runID, outcome, r) }()

	if err := m.migrateIdentities(ctx, pf, plan, rc); err != nil {
		return nil, err
	}
	if err := m.copyEvents(ctx, src, pf, plan, ds.Counts.MaxAttemptID, rc); err != nil {
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
	r.Conflicts = append(append([]Conflict{}, plan.Conflicts...), runConflicts(stored)...)
	if cols, err := pf.UnlistedUserColumns(ctx); err == nil && len(cols) > 0 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("platform columns %v look like user ids but legacy.UserTables does not list them: they were not rewritten", cols))
	}
	outcome = "ok"
	r.finish(outcome)
	return r, nil
}

// migrateIdentities creates the planned identities that have no mapping
// yet, a batch at a time.
func (m *Migrator) migrateIdentities(ctx context.Context, pf *Platform, plan *Plan, rc *RunCounts) error {
	mapped, err := pf.Mappings(ctx)
	if err != nil {
		return err
	}
	sent, err := pf.SentBatches(ctx)
	if err != nil {
		return err
	}
	if len(sent) > 0 {
		rc.Resumed = true
	}
	stored, err := pf.Conflicts(ctx)
	if err != nil {
		return err
	}
	blocked := map[string]bool{} // primaries a foreign identity blocked last time
	for _, c := range stored {
		if c.Kind == ConflictExistsInKratos {
			blocked[c.LegacyID] = true
		}
	}

	// What needs doing: identities without a mapping; members of mapped
	// identities that lack one (the plan merged a user in later) get it
	// without asking Kratos.
	var pending []*Identity
	var adopt []Mapping
	for i := range plan.Identities {
		id := &plan.Identities[i]
		var have *Mapping
		for _, l := range id.Members() {
			if mp, ok := mapped[l]; ok {
				have = &mp
				break
			}
		}
		if have == nil {
			pending = append(pending, id)
			continue
		}
		rc.AlreadyMigrated++
		for _, l := range id.Members() {
			if _, ok := mapped[l]; !ok {
				adopt = append(adopt, Mapping{LegacyID: l, IdentityID: have.IdentityID, Primary: have.Primary, Email: id.Email})
			}
		}
	}
	if len(adopt) > 0 {
		no, err := pf.NextBatchNo(ctx)
		if err != nil {
			return err
		}
		b := Batch{No: no, FirstID: adopt[0].LegacyID, LastID: adopt[len(adopt)-1].LegacyID, Users: len(adopt)}
		if err := pf.MarkSent(ctx, b); err != nil {
			return err
		}
		if err := pf.CommitBatch(ctx, &b, adopt, nil, nil); err != nil {
			return err
		}
		rc.MappingRowsAdded += len(adopt)
	}
	if len(pending) == 0 {
		return pf.CloseSentBatches(ctx, batchNos(sent))
	}

	// An identity is suspect when a batch that held it was sent but its
	// answer never stored, or when a foreign identity blocked it last
	// time: look it up before creating it.
	suspect := func(id *Identity) bool {
		if blocked[id.LegacyID] {
			return true
		}
		for _, b := range sent {
			if id.LegacyID >= b.FirstID && id.LegacyID <= b.LastID {
				return true
			}
		}
		return false
	}

	users := 0
	for _, id := range pending {
		users += 1 + len(id.Merged)
	}
	prog := NewProgress(m.out(), m.Terminal, "identities", "users", users)
	started := time.Now()
	first, err := pf.NextBatchNo(ctx)
	if err != nil {
		return err
	}

	// Parallel batches are in flight at once (Kratos validates a batch on
	// one core; the machine has more). Each is checkpointed on its own.
	var mu sync.Mutex // guards rc and the first error
	var firstErr error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type job struct {
		n     int // from 1, in this run
		chunk []*Identity
	}
	jobs := make(chan job)
	var wg sync.WaitGroup
	for w := 0; w < max(1, m.Parallel); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				b := Batch{No: first + j.n - 1, FirstID: j.chunk[0].LegacyID, LastID: j.chunk[len(j.chunk)-1].LegacyID, Users: len(j.chunk)}
				if err := m.migrateBatch(ctx, pf, j.n, b, j.chunk, suspect, rc, &mu, prog); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
				}
			}
		}()
	}
feed:
	for start, n := 0, 1; start < len(pending); start, n = start+m.BatchSize, n+1 {
		select {
		case jobs <- job{n: n, chunk: pending[start:min(start+m.BatchSize, len(pending))]}:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	prog.Finish()
	rc.IdentitySeconds = time.Since(started).Seconds()
	if rc.IdentitySeconds > 0 {
		rc.UsersPerSecond = float64(users) / rc.IdentitySeconds
	}
	return pf.CloseSentBatches(ctx, batchNos(sent))
}

// migrateBatch creates one batch's identities and stores the answer: the
// batch is checkpointed 'sent' before the request leaves and 'done' in the
// transaction that stores its mapping.
func (m *Migrator) migrateBatch(ctx context.Context, pf *Platform, n int, b Batch, chunk []*Identity,
	suspect func(*Identity) bool, rc *RunCounts, mu *sync.Mutex, prog *Progress) error {
	var toCreate []*Identity
	var outcomes []outcome
	for _, id := range chunk {
		if !suspect(id) {
			toCreate = append(toCreate, id)
			continue
		}
		o, known, err := m.lookup(ctx, id)
		if err != nil {
			return err
		}
		if known {
			outcomes = append(outcomes, o)
		} else {
			toCreate = append(toCreate, id)
		}
	}
	marked := false
	if len(toCreate) > 0 {
		if err := pf.MarkSent(ctx, b); err != nil {
			return err
		}
		marked = true
		created, err := m.create(ctx, toCreate)
		if err != nil {
			return fmt.Errorf("batch %d (%d identities): %w; run again to resume", b.No, len(toCreate), err)
		}
		outcomes = append(outcomes, created...)
		if m.AfterKratosAnswer != nil {
			m.AfterKratosAnswer(n)
		}
	}

	var maps []Mapping
	var conflicts, clears []RunConflict
	var created, found, failed, usersDone int
	for _, o := range outcomes {
		usersDone += 1 + len(o.id.Merged)
		for _, kind := range []string{ConflictExistsInKratos, ConflictRejectedByKratos} {
			clears = append(clears, RunConflict{Kind: kind, LegacyID: o.id.LegacyID})
		}
		conflicts = append(conflicts, o.conflicts...)
		switch {
		case o.identityID == "":
			failed++
			continue
		case o.found:
			found++
		default:
			created++
		}
		for _, l := range o.id.Members() {
			maps = append(maps, Mapping{LegacyID: l, IdentityID: o.identityID, Primary: o.id.LegacyID, Email: o.id.Email})
		}
	}
	b.Created, b.Found, b.Failed = created, found, failed
	if !marked && len(maps) > 0 {
		if err := pf.MarkSent(ctx, b); err != nil {
			return err
		}
		marked = true
	}
	// Identities still blocked by a foreign one change nothing: no batch
	// is recorded for them, their conflicts are stored again.
	var cb *Batch
	if marked {
		cb = &b
	}
	if err := pf.CommitBatch(ctx, cb, maps, conflicts, clears); err != nil {
		return err
	}
	mu.Lock()
	rc.IdentitiesCreated += created
	rc.IdentitiesFound += found
	rc.NotMigrated += failed
	rc.MappingRowsAdded += len(maps)
	if marked {
		rc.Batches++
	}
	mu.Unlock()
	prog.Step(usersDone, fmt.Sprintf("batch %d done: %d created, %d found, %d not migrated", b.No, created, found, failed))
	return nil
}

func batchNos(bs []Batch) []int {
	out := make([]int, len(bs))
	for i, b := range bs {
		out[i] = b.No
	}
	return out
}

// outcome is what became of one planned identity in a run.
type outcome struct {
	id         *Identity
	identityID string // "" when not migrated
	found      bool   // it existed already (made by an interrupted run)
	conflicts  []RunConflict
}

// classify splits identities found in Kratos into the one this migration
// made for id (metadata_admin.legacy_id is one of its members) and a
// foreign one.
func classify(id *Identity, found []KratosIdentity) (ours, foreign *KratosIdentity) {
	members := map[string]bool{}
	for _, l := range id.Members() {
		members[l] = true
	}
	for i := range found {
		if members[found[i].LegacyID()] {
			if ours == nil {
				ours = &found[i]
			}
		} else if foreign == nil {
			foreign = &found[i]
		}
	}
	return ours, foreign
}

// lookup finds id in Kratos by its email: known is true when the answer
// is settled (made earlier by this migration, or blocked by a foreign
// identity).
func (m *Migrator) lookup(ctx context.Context, id *Identity) (outcome, bool, error) {
	found, err := m.Kratos.FindByIdentifier(ctx, id.Email)
	if err != nil {
		return outcome{}, false, err
	}
	ours, foreign := classify(id, found)
	switch {
	case ours != nil:
		return outcome{id: id, identityID: ours.ID, found: true}, true, nil
	case foreign != nil:
		return outcome{id: id, conflicts: []RunConflict{existsConflict(id, foreign)}}, true, nil
	}
	return outcome{}, false, nil
}

func existsConflict(id *Identity, foreign *KratosIdentity) RunConflict {
	return RunConflict{Kind: ConflictExistsInKratos, LegacyID: id.LegacyID,
		Detail: map[string]any{"email": id.Email, "identity_id": foreign.ID}}
}

// create imports ids in one batch request. When Kratos refuses the whole
// request (one bad identity spoils the batch) it halves the batch until the
// bad ones stand alone, and reports those.
func (m *Migrator) create(ctx context.Context, ids []*Identity) ([]outcome, error) {
	items := make([]BatchItem, len(ids))
	for i, id := range ids {
		items[i] = BatchItem{PatchID: id.LegacyID, Body: m.Kratos.CreateBody(id, nil)}
	}
	results, err := m.Kratos.BatchCreate(ctx, items)
	var ae *APIError
	if errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 {
		if len(ids) == 1 {
			return []outcome{rejected(ids[0], ae.Error())}, nil
		}
		half := len(ids) / 2
		a, err := m.create(ctx, ids[:half])
		if err != nil {
			return nil, err
		}
		b, err := m.create(ctx, ids[half:])
		if err != nil {
			return nil, err
		}
		return append(a, b...), nil
	}
	if err != nil {
		return nil, err
	}
	// Kratos v1.3.1 creates a batch in one transaction and, when an item
	// conflicts, rolls all of it back while still answering "create" with
	// an id for the others. So when any item failed, the others are sent
	// again: created now, or (a Kratos that kept them) found by lookup.
	failed := false
	for _, res := range results {
		failed = failed || res.IdentityID == ""
	}
	var out []outcome
	var again []*Identity
	for i, res := range results {
		id := ids[i]
		switch {
		case res.IdentityID != "" && failed:
			again = append(again, id)
		case res.IdentityID != "":
			out = append(out, outcome{id: id, identityID: res.IdentityID})
		case res.ErrStatus == http.StatusConflict:
			o, err := m.resolve(ctx, id)
			if err != nil {
				return nil, err
			}
			out = append(out, o)
		default:
			out = append(out, rejected(id, fmt.Sprintf("Kratos answered %d: %s", res.ErrStatus, res.ErrMessage)))
		}
	}
	if len(again) > 0 {
		more, err := m.create(ctx, again)
		if err != nil {
			return nil, err
		}
		out = append(out, more...)
	}
	return out, nil
}

func rejected(id *Identity, msg string) outcome {
	return outcome{id: id, conflicts: []RunConflict{{Kind: ConflictRejectedByKratos, LegacyID: id.LegacyID,
		Detail: map[string]any{"email": id.Email, "message": msg}}}}
}

// resolve settles a create that met a conflict: the identity exists already
// (made by an interrupted run), or its email or a social link belongs to an
// identity the migration did not create. Taken links are left out and the
// identity created without them.
func (m *Migrator) resolve(ctx context.Context, id *Identity) (outcome, error) {
	if o, known, err := m.lookup(ctx, id); err != nil || known {
		return o, err
	}
	taken := map[string]bool{}
	var conflicts []RunConflict
	for _, l := range id.Social {
		found, err := m.Kratos.FindByIdentifier(ctx, l.Identifier())
		if err != nil {
			return outcome{}, err
		}
		if len(found) > 0 {
			ours, foreign := classify(id, found)
			if ours != nil {
				return outcome{id: id, identityID: ours.ID, found: true}, nil
			}
			taken[l.Identifier()] = true
			conflicts = append(conflicts, RunConflict{Kind: ConflictSocialLinkTaken, LegacyID: id.LegacyID, Subject: l.Identifier(),
				Detail: map[string]any{"email": id.Email, "link": l.Identifier(), "identity_id": foreign.ID}})
		}
	}
	if len(taken) == 0 {
		return rejected(id, "Kratos reported a conflict, but no identity holds the email or a social link"), nil
	}
	results, err := m.Kratos.BatchCreate(ctx, []BatchItem{{PatchID: id.LegacyID, Body: m.Kratos.CreateBody(id, taken)}})
	if err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 {
			return rejected(id, ae.Error()), nil
		}
		return outcome{}, err
	}
	if results[0].IdentityID == "" {
		return rejected(id, fmt.Sprintf("Kratos answered %d: %s", results[0].ErrStatus, results[0].ErrMessage)), nil
	}
	return outcome{id: id, identityID: results[0].IdentityID, conflicts: conflicts}, nil
}

// attemptChunk is how many login attempts go into one transaction.
const attemptChunk = 5000

// copyEvents copies login attempts not yet copied into auth_event_log.
func (m *Migrator) copyEvents(ctx context.Context, src *Source, pf *Platform, plan *Plan, upTo int64, rc *RunCounts) error {
	done, err := pf.EventsCopied(ctx)
	if err != nil {
		return err
	}
	mapped, err := pf.Mappings(ctx)
	if err != nil {
		return err
	}
	if done < upTo {
		var total int
		if err := src.tx.QueryRow(ctx, `SELECT count(*) FROM login_attempts WHERE id > $1 AND id <= $2`, done, upTo).Scan(&total); err != nil {
			return fmt.Errorf("legacy database: %w", err)
		}
		prog := NewProgress(m.out(), m.Terminal, "login attempts", "attempts", total)
		err := src.Attempts(ctx, done, upTo, attemptChunk, func(as []LoginAttempt) error {
			events := make([]Event, len(as))
			for i, a := range as {
				events[i] = attemptEvent(a, plan, mapped)
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
func attemptEvent(a LoginAttempt, plan *Plan, mapped map[string]Mapping) Event {
	e := Event{OccurredAt: a.AttemptedAt, Type: eventLoginFailed, IP: a.IP, UserAgent: a.UserAgent,
		Email:  NormalizeEmail(a.Email),
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
	var id *Identity
	if a.UserID != "" {
		e.Detail["legacy_user_id"] = a.UserID
		id, _ = plan.Lookup(a.UserID)
	} else if e.Email != "" {
		id, _ = plan.LookupEmail(e.Email)
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

// runConflicts turns stored run-time conflicts into report conflicts.
func runConflicts(stored []RunConflict) []Conflict {
	out := make([]Conflict, 0, len(stored))
	for _, c := range stored {
		str := func(k string) string { s, _ := c.Detail[k].(string); return s }
		cf := Conflict{Kind: c.Kind, LegacyIDs: []string{c.LegacyID}, Email: str("email")}
		switch c.Kind {
		case ConflictExistsInKratos:
			cf.Detail = fmt.Sprintf("Kratos identity %s, which this migration did not create, already has the email %s", str("identity_id"), cf.Email)
			cf.Resolution = "not imported; delete or merge that identity by hand, then run again (the next run imports the user)"
		case ConflictSocialLinkTaken:
			cf.Detail = fmt.Sprintf("the social link %s belongs to Kratos identity %s, which this migration did not create", str("link"), str("identity_id"))
			cf.Resolution = "imported without this social link"
		case ConflictRejectedByKratos:
			cf.Detail = str("message")
			cf.Resolution = "not imported; correct the legacy row and run again"
		case ConflictRowCollision:
			key, _ := json.Marshal(c.Detail["key"])
			cf.Detail = fmt.Sprintf("%s row with key %s: identity %s already has one", str("table"), key, str("identity_id"))
			cf.Resolution = "left under the legacy id (the primary user's row is the one that moved)"
		default:
			cf.Detail = fmt.Sprint(c.Detail)
		}
		out = append(out, cf)
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].LegacyIDs[0] < out[b].LegacyIDs[0] })
	return out
}
