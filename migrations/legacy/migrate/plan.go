package migrate

import (
	"context"
	"fmt"
	"sort"

	"github.com/learnplatform/platform/migrations/legacy"
	"github.com/learnplatform/platform/migrations/legacy/kratos"
	"github.com/learnplatform/platform/migrations/legacy/platform"
	"github.com/learnplatform/platform/migrations/legacy/report"
	"github.com/learnplatform/platform/migrations/legacy/source"
)

// Plan is the dry run: it reads the legacy database and, when configured,
// the platform's mapping and Kratos' identities, and reports counts,
// conflicts and what would become of every user. It writes nothing.
func (m *Migrator) Plan(ctx context.Context) (*report.Report, error) {
	r := report.New("plan")
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
	r.Legacy = &ds.Counts
	if len(ds.Users) == 0 && ds.Counts.LoginAttempts == 0 {
		return r.NothingToMigrate("the legacy database has no users: nothing to migrate"), nil
	}
	p := m.BuildPlan(ds)
	tally := p.Tally()
	r.Plan = &tally
	if o := ds.Counts.Orphans(); o != "" {
		r.Warnings = append(r.Warnings, o)
	}
	r.Sessions = report.NewSessionsNote(ds.Counts)
	r.Conflicts = append([]legacy.Conflict{}, p.Conflicts...)

	mapped := map[string]platform.Mapping{}
	if m.PlatformDSN != "" {
		pf, err := platform.Open(ctx, m.PlatformDSN)
		if err != nil {
			return nil, err
		}
		defer pf.Close()
		if mapped, err = pf.Mappings(ctx); err != nil {
			return nil, err
		}
		if cur, err := pf.ClaimedSource(ctx); err == nil && cur != "" && cur != src.Name {
			r.Warnings = append(r.Warnings, fmt.Sprintf("the platform holds a migration from legacy database %s: run refuses %s until that one is rolled back", cur, src.Name))
		}
		if cols, err := pf.UnlistedUserColumns(ctx); err == nil && len(cols) > 0 {
			r.Warnings = append(r.Warnings, fmt.Sprintf("platform columns %v look like user ids but legacy.UserTables does not list them: run would not rewrite them", cols))
		}
	} else {
		r.Warnings = append(r.Warnings, "no platform database given: the plan does not know which users are migrated already")
	}

	// Kratos: who holds each email and social link now.
	holders := map[string]*kratos.Identity{}
	if m.Kratos != nil {
		err := m.Kratos.List(ctx, true, func(page []kratos.Identity) error {
			for i := range page {
				k := page[i]
				k.Raw = nil
				holders[legacy.NormalizeEmail(k.Traits.Email)] = &k
				for _, l := range k.Links() {
					holders[l] = &k
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	} else {
		r.Warnings = append(r.Warnings, "no Kratos admin URL given: the plan does not know which emails Kratos already has")
	}

	state := func(active bool) string {
		if active {
			return "active"
		}
		return "inactive"
	}
	for i := range p.Identities {
		id := &p.Identities[i]
		action := "create"
		if _, ok := mapped[id.LegacyID]; ok {
			action = "migrated"
		} else if k := holders[id.Email]; k != nil {
			if ours, _ := classify(id, []kratos.Identity{*k}); ours != nil {
				action = "migrated"
			} else {
				action = "blocked"
				r.Conflicts = append(r.Conflicts, legacy.ExplainRunConflicts([]legacy.RunConflict{existsConflict(id, k)})...)
			}
		}
		if action == "create" {
			for _, l := range id.Social {
				if k := holders[l.Identifier()]; k != nil {
					r.Conflicts = append(r.Conflicts, legacy.ExplainRunConflicts([]legacy.RunConflict{{Kind: legacy.ConflictSocialLinkTaken, LegacyID: id.LegacyID,
						Subject: l.Identifier(), Detail: map[string]any{"email": id.Email, "link": l.Identifier(), "identity_id": k.ID}}})...)
				}
			}
		}
		r.Users = append(r.Users, report.UserPlan{LegacyID: id.LegacyID, Email: id.Email, Action: action, Role: id.Role,
			State: state(id.Active), Verified: id.Verified, Password: id.Password, PasswordFormat: id.PasswordFormat, Social: id.Social})
		for _, l := range id.Merged {
			r.Users = append(r.Users, report.UserPlan{LegacyID: l, Email: id.Email, Action: "merge", MergeInto: id.LegacyID})
		}
	}
	raw := map[string]string{}
	for _, u := range ds.Users {
		raw[u.ID] = u.Email
	}
	for _, l := range p.Skipped {
		r.Users = append(r.Users, report.UserPlan{LegacyID: l, Email: raw[l], Action: "skip"})
	}
	sort.SliceStable(r.Users, func(a, b int) bool { return r.Users[a].LegacyID < r.Users[b].LegacyID })
	r.Finish("ok")
	return r, nil
}
