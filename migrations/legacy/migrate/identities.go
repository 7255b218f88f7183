package migrate

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/learnplatform/platform/migrations/legacy"
	"github.com/learnplatform/platform/migrations/legacy/kratos"
	"github.com/learnplatform/platform/migrations/legacy/plan"
	"github.com/learnplatform/platform/migrations/legacy/platform"
	"github.com/learnplatform/platform/migrations/legacy/progress"
	"github.com/learnplatform/platform/migrations/legacy/report"
)

// migrateIdentities creates the planned identities that have no mapping
// yet, a batch at a time.
func (m *Migrator) migrateIdentities(ctx context.Context, pf *platform.DB, p *plan.Plan, rc *report.RunCounts) error {
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
		if c.Kind == legacy.ConflictExistsInKratos {
			blocked[c.LegacyID] = true
		}
	}

	// What needs doing: identities without a mapping; members of mapped
	// identities that lack one (the plan merged a user in later) get it
	// without asking Kratos.
	var pending []*legacy.Identity
	var adopt []platform.Mapping
	for i := range p.Identities {
		id := &p.Identities[i]
		var have *platform.Mapping
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
				adopt = append(adopt, platform.Mapping{LegacyID: l, IdentityID: have.IdentityID, Primary: have.Primary, Email: id.Email})
			}
		}
	}
	if len(adopt) > 0 {
		no, err := pf.NextBatchNo(ctx)
		if err != nil {
			return err
		}
		b := platform.Batch{No: no, FirstID: adopt[0].LegacyID, LastID: adopt[len(adopt)-1].LegacyID, Users: len(adopt)}
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
	suspect := func(id *legacy.Identity) bool {
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
	prog := progress.Start(m.Output(), m.Terminal, "identities", "users", users)
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
		chunk []*legacy.Identity
	}
	jobs := make(chan job)
	var wg sync.WaitGroup
	for w := 0; w < max(1, m.Parallel); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				b := platform.Batch{No: first + j.n - 1, FirstID: j.chunk[0].LegacyID, LastID: j.chunk[len(j.chunk)-1].LegacyID, Users: len(j.chunk)}
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
func (m *Migrator) migrateBatch(ctx context.Context, pf *platform.DB, n int, b platform.Batch, chunk []*legacy.Identity,
	suspect func(*legacy.Identity) bool, rc *report.RunCounts, mu *sync.Mutex, prog *progress.Meter) error {
	var toCreate []*legacy.Identity
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

	var maps []platform.Mapping
	var conflicts, clears []legacy.RunConflict
	var created, found, failed, usersDone int
	for _, o := range outcomes {
		usersDone += 1 + len(o.id.Merged)
		for _, kind := range []string{legacy.ConflictExistsInKratos, legacy.ConflictRejectedByKratos} {
			clears = append(clears, legacy.RunConflict{Kind: kind, LegacyID: o.id.LegacyID})
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
			maps = append(maps, platform.Mapping{LegacyID: l, IdentityID: o.identityID, Primary: o.id.LegacyID, Email: o.id.Email})
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
	var cb *platform.Batch
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

func batchNos(bs []platform.Batch) []int {
	out := make([]int, len(bs))
	for i, b := range bs {
		out[i] = b.No
	}
	return out
}

// outcome is what became of one planned identity in a run.
type outcome struct {
	id         *legacy.Identity
	identityID string // "" when not migrated
	found      bool   // it existed already (made by an interrupted run)
	conflicts  []legacy.RunConflict
}

// classify splits identities found in Kratos into the one this migration
// made for id (metadata_admin.legacy_id is one of its members) and a
// foreign one.
func classify(id *legacy.Identity, found []kratos.Identity) (ours, foreign *kratos.Identity) {
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
func (m *Migrator) lookup(ctx context.Context, id *legacy.Identity) (outcome, bool, error) {
	found, err := m.Kratos.FindByIdentifier(ctx, id.Email)
	if err != nil {
		return outcome{}, false, err
	}
	ours, foreign := classify(id, found)
	switch {
	case ours != nil:
		return outcome{id: id, identityID: ours.ID, found: true}, true, nil
	case foreign != nil:
		return outcome{id: id, conflicts: []legacy.RunConflict{existsConflict(id, foreign)}}, true, nil
	}
	return outcome{}, false, nil
}

func existsConflict(id *legacy.Identity, foreign *kratos.Identity) legacy.RunConflict {
	return legacy.RunConflict{Kind: legacy.ConflictExistsInKratos, LegacyID: id.LegacyID,
		Detail: map[string]any{"email": id.Email, "identity_id": foreign.ID}}
}

// create imports ids in one batch request. When Kratos refuses the whole
// request (one bad identity spoils the batch) it halves the batch until the
// bad ones stand alone, and reports those.
func (m *Migrator) create(ctx context.Context, ids []*legacy.Identity) ([]outcome, error) {
	items := make([]kratos.BatchItem, len(ids))
	for i, id := range ids {
		items[i] = kratos.BatchItem{PatchID: id.LegacyID, Body: m.Kratos.CreateBody(id, nil)}
	}
	results, err := m.Kratos.BatchCreate(ctx, items)
	var ae *kratos.APIError
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
	var again []*legacy.Identity
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

func rejected(id *legacy.Identity, msg string) outcome {
	return outcome{id: id, conflicts: []legacy.RunConflict{{Kind: legacy.ConflictRejectedByKratos, LegacyID: id.LegacyID,
		Detail: map[string]any{"email": id.Email, "message": msg}}}}
}

// resolve settles a create that met a conflict: the identity exists already
// (made by an interrupted run), or its email or a social link belongs to an
// identity the migration did not create. Taken links are left out and the
// identity created without them.
func (m *Migrator) resolve(ctx context.Context, id *legacy.Identity) (outcome, error) {
	if o, known, err := m.lookup(ctx, id); err != nil || known {
		return o, err
	}
	taken := map[string]bool{}
	var conflicts []legacy.RunConflict
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
			conflicts = append(conflicts, legacy.RunConflict{Kind: legacy.ConflictSocialLinkTaken, LegacyID: id.LegacyID, Subject: l.Identifier(),
				Detail: map[string]any{"email": id.Email, "link": l.Identifier(), "identity_id": foreign.ID}})
		}
	}
	if len(taken) == 0 {
		return rejected(id, "Kratos reported a conflict, but no identity holds the email or a social link"), nil
	}
	results, err := m.Kratos.BatchCreate(ctx, []kratos.BatchItem{{PatchID: id.LegacyID, Body: m.Kratos.CreateBody(id, taken)}})
	if err != nil {
		var ae *kratos.APIError
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
