package plan

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/learnplatform/platform/kit/account"
	"github.com/learnplatform/platform/migrations/legacy"
	"github.com/learnplatform/platform/migrations/legacy/hashes"
)

// MaxNameLength is the identity schema's maxLength for traits.name
// (ory-config/kratos/identity.schema.json), in characters.
const MaxNameLength = 200

// Plan is what the migration does with a legacy.Dataset. Build makes it.
type Plan struct {
	// Identities to create, ordered by LegacyID.
	Identities []legacy.Identity
	// Skipped are legacy users that get no identity, sorted.
	Skipped []string
	// Conflicts in legacy.ConflictKinds order, then by first legacy id.
	Conflicts []legacy.Conflict

	byLegacy map[string]int // legacy id (members too) → index in Identities
	byEmail  map[string]int // normalized email → index in Identities
}

// Lookup returns the identity a legacy user maps to.
func (p *Plan) Lookup(legacyID string) (*legacy.Identity, bool) {
	i, ok := p.byLegacy[legacyID]
	if !ok {
		return nil, false
	}
	return &p.Identities[i], true
}

// LookupEmail returns the identity with the normalized email.
func (p *Plan) LookupEmail(email string) (*legacy.Identity, bool) {
	i, ok := p.byEmail[legacy.NormalizeEmail(email)]
	if !ok {
		return nil, false
	}
	return &p.Identities[i], true
}

// Options adjust Build.
type Options struct {
	// Providers maps a legacy oauth_accounts.provider (trimmed, lower case)
	// to the Kratos OIDC provider id it becomes. Nil means DefaultProviders.
	Providers map[string]string
}

// DefaultProviders maps the legacy system's providers to the Kratos
// provider ids the platform configures (ory-config/kratos, "Social sign-in").
var DefaultProviders = map[string]string{"google": "google", "github": "github"}

// Build decides, from the legacy data alone, what becomes of every
// legacy user. The same data gives the same plan whatever order it was
// read in.
//
// Users whose normalized emails are equal form one identity. Its primary
// user is the first by: active, then holding a password hash Kratos can
// import, then email verified, then most recently updated, then lowest id.
// The identity takes the primary's password, name (or the first member's
// that has one), state and role; it is verified when any member verified
// the address (it is the same mailbox); it gets every member's social
// links. The others' passwords and roles are not carried over; the
// duplicate_email conflict names them.
func Build(ds *legacy.Dataset, opts Options) *Plan {
	providers := opts.Providers
	if providers == nil {
		providers = DefaultProviders
	}
	p := &Plan{byLegacy: map[string]int{}, byEmail: map[string]int{}}
	var conflicts []legacy.Conflict
	add := func(kind string, ids []string, email, detail, resolution string) {
		conflicts = append(conflicts, legacy.Conflict{Kind: kind, LegacyIDs: ids, Email: email, Detail: detail, Resolution: resolution})
	}

	users := make([]*legacy.User, len(ds.Users))
	for i := range ds.Users {
		users[i] = &ds.Users[i]
	}
	sort.Slice(users, func(a, b int) bool { return users[a].ID < users[b].ID })

	groups := map[string][]*legacy.User{}
	for _, u := range users {
		email := legacy.NormalizeEmail(u.Email)
		if !legacy.ValidEmail(email) {
			p.Skipped = append(p.Skipped, u.ID)
			add(legacy.ConflictInvalidEmail, []string{u.ID}, "", fmt.Sprintf("email %q is not an address Kratos accepts", u.Email),
				"not imported; correct users.email in the legacy database and run again (the next run imports the user); "+
					"the user's login attempts are imported without an identity")
			continue
		}
		groups[email] = append(groups[email], u)
	}

	type claim struct {
		group int
		acct  legacy.SocialAccount
		user  string
	}
	var claims []claim
	for email, members := range groups {
		sort.SliceStable(members, func(a, b int) bool { return preferred(members[a], members[b]) })
		prim := members[0]
		id := legacy.Identity{
			LegacyID: prim.ID, Email: email, Active: prim.Active, CreatedAt: prim.CreatedAt,
		}
		for _, m := range members {
			id.Verified = id.Verified || m.EmailVerified
			id.Sessions += m.Sessions
			id.ActiveSessions += m.ActiveSessions
			if !id.HasName && m.HasName {
				id.Name, id.HasName = m.FullName, true
			}
			if m != prim {
				id.Merged = append(id.Merged, m.ID)
			}
		}
		sort.Strings(id.Merged)
		p.Identities = append(p.Identities, id)
		for _, m := range members {
			for _, a := range m.Social {
				claims = append(claims, claim{acct: a, user: m.ID})
			}
		}
	}
	sort.Slice(p.Identities, func(a, b int) bool { return p.Identities[a].LegacyID < p.Identities[b].LegacyID })
	for i := range p.Identities {
		for _, id := range p.Identities[i].Members() {
			p.byLegacy[id] = i
		}
		p.byEmail[p.Identities[i].Email] = i
	}
	for k := range claims {
		claims[k].group = p.byLegacy[claims[k].user]
	}

	// Roles, passwords, names: per identity, from its members.
	for i := range p.Identities {
		id := &p.Identities[i]
		members := groups[id.Email]
		prim := members[0]

		id.Role = account.RoleStudent
		for _, r := range prim.Roles {
			n := strings.ToLower(strings.TrimSpace(r))
			if rank, ok := roleRank[n]; ok {
				if rank > roleRank[id.Role] {
					id.Role = n
				}
				continue
			}
			id.LegacyRoles = append(id.LegacyRoles, r)
		}
		if len(id.LegacyRoles) > 0 {
			add(legacy.ConflictUnknownRole, []string{prim.ID}, id.Email,
				fmt.Sprintf("roles %s are not student, instructor or admin", quoteRoles(id.LegacyRoles)),
				fmt.Sprintf("ignored for the role, which is %s; kept in metadata_admin.legacy_roles", id.Role))
		}

		switch h := hashes.Inspect(prim.PasswordHash); h.Kind {
		case hashes.Importable:
			id.PasswordHash, id.Password = h.Kratos, legacy.PasswordImported
			id.PasswordFormat, id.HashTranslated = h.Format, h.Translated
		case hashes.Unsupported:
			id.Password, id.PasswordFormat = legacy.PasswordRecovery, h.Format
			add(legacy.ConflictUnsupportedHash, []string{prim.ID}, id.Email,
				fmt.Sprintf("the password hash is %s: %s (the hash itself is never reported)", h.Format, h.Reason),
				"imported without a password: the user sets a new one through account recovery by email (forced recovery; "+
					"Kratos' password migration hook is not used); social links, if any, keep working")
		default:
			id.Password = legacy.PasswordNone
		}

		if utf8.RuneCountInString(id.Name) > MaxNameLength {
			id.LegacyFullName = id.Name
			id.Name = string([]rune(id.Name)[:MaxNameLength])
			add(legacy.ConflictNameTooLong, []string{prim.ID}, id.Email,
				fmt.Sprintf("full name is %d characters long", utf8.RuneCountInString(id.LegacyFullName)),
				fmt.Sprintf("traits.name is its first %d characters; the full name is kept in metadata_admin.legacy_full_name", MaxNameLength))
		}

		if len(members) > 1 {
			ids := make([]string, 0, len(members))
			var notes []string
			for _, m := range members {
				ids = append(ids, m.ID)
				if m == prim {
					continue
				}
				var what []string
				if m.PasswordHash != "" && m.PasswordHash != prim.PasswordHash {
					what = append(what, "its password")
				}
				if r := highestRole(m.Roles); roleRank[r] > roleRank[id.Role] {
					what = append(what, "its role "+r)
				}
				if len(what) > 0 {
					notes = append(notes, fmt.Sprintf("%s (%q): %s not carried over", m.ID, m.Email, strings.Join(what, " and ")))
				}
			}
			sort.Strings(ids)
			detail := fmt.Sprintf("%d users share the address %s once case and spaces are ignored", len(members), id.Email)
			if len(notes) > 0 {
				detail += "; " + strings.Join(notes, "; ")
			}
			add(legacy.ConflictDuplicateEmail, ids, id.Email, detail,
				fmt.Sprintf("merged into one identity made from %s (%q), chosen as active, holding an importable password, verified, "+
					"most recently updated, lowest id, in that order; every member's social links and platform data move to it", prim.ID, prim.Email))
		}
	}

	// Social links, oldest first over all users, so the account that
	// linked a provider account first keeps it.
	sort.SliceStable(claims, func(a, b int) bool {
		if !claims[a].acct.CreatedAt.Equal(claims[b].acct.CreatedAt) {
			return claims[a].acct.CreatedAt.Before(claims[b].acct.CreatedAt)
		}
		return claims[a].acct.ID < claims[b].acct.ID
	})
	owner := map[string]claim{}
	for _, c := range claims {
		id := &p.Identities[c.group]
		legacyProvider := strings.ToLower(strings.TrimSpace(c.acct.Provider))
		provider, known := providers[legacyProvider]
		if strings.TrimSpace(c.acct.Subject) == "" {
			add(legacy.ConflictInvalidSocialLink, []string{c.user}, id.Email,
				fmt.Sprintf("oauth_accounts %s (%s) has no provider_user_id", c.acct.ID, c.acct.Provider),
				"not imported")
			continue
		}
		if !known {
			id.LegacySocial = append(id.LegacySocial, legacy.Link{Provider: c.acct.Provider, Subject: c.acct.Subject})
			add(legacy.ConflictUnknownProvider, []string{c.user}, id.Email,
				fmt.Sprintf("oauth_accounts %s uses provider %q, which maps to no Kratos provider", c.acct.ID, c.acct.Provider),
				"not imported as a social sign-in (map the provider with -providers to import it); kept in metadata_admin.legacy_social_links")
			continue
		}
		link := legacy.Link{Provider: provider, Subject: c.acct.Subject}
		if first, taken := owner[link.Identifier()]; taken {
			if first.group == c.group {
				add(legacy.ConflictDuplicateSocialLink, []string{c.user}, id.Email,
					fmt.Sprintf("%s is linked more than once to the same account (oauth_accounts %s and %s)", link.Identifier(), first.acct.ID, c.acct.ID),
					"imported once")
			} else {
				add(legacy.ConflictDuplicateSocialLink, []string{first.user, c.user}, id.Email,
					fmt.Sprintf("%s is linked to %s (oauth_accounts %s) and to %s (oauth_accounts %s)", link.Identifier(), first.user, first.acct.ID, c.user, c.acct.ID),
					fmt.Sprintf("kept by %s, which linked it first; not imported for %s", first.user, c.user))
			}
			continue
		}
		owner[link.Identifier()] = c
		id.Social = append(id.Social, link)
	}

	for i := range p.Identities {
		id := &p.Identities[i]
		if id.Password == legacy.PasswordNone && len(id.Social) == 0 {
			id.Password = legacy.PasswordRecovery
			add(legacy.ConflictNoCredentials, []string{id.LegacyID}, id.Email,
				"neither a password hash nor a social link",
				"imported without credentials: the user sets a password through account recovery by email (forced recovery)")
		}
	}

	legacy.SortConflicts(conflicts)
	p.Conflicts = conflicts
	return p
}

// preferred reports whether a should be the primary user rather than b.
func preferred(a, b *legacy.User) bool {
	if a.Active != b.Active {
		return a.Active
	}
	if ha, hb := hashes.Inspect(a.PasswordHash).Kind == hashes.Importable, hashes.Inspect(b.PasswordHash).Kind == hashes.Importable; ha != hb {
		return ha
	}
	if a.EmailVerified != b.EmailVerified {
		return a.EmailVerified
	}
	if !a.UpdatedAt.Equal(b.UpdatedAt) {
		return a.UpdatedAt.After(b.UpdatedAt)
	}
	return a.ID < b.ID
}

// highestRole is the highest known role among roles ("" when none).
func highestRole(roles []string) string {
	best := ""
	for _, r := range roles {
		n := strings.ToLower(strings.TrimSpace(r))
		if roleRank[n] > roleRank[best] {
			best = n
		}
	}
	return best
}

// Counts count what a plan does.
type Counts struct {
	Identities        int `json:"identities"`
	MergedUsers       int `json:"merged_users"`
	SkippedUsers      int `json:"skipped_users"`
	PasswordsImported int `json:"passwords_imported"`
	// PasswordsTranslated of them in a form Kratos verifies other than
	// the legacy one (hashes.Inspect).
	PasswordsTranslated int `json:"passwords_translated"`
	// PasswordFormats counts the identities' legacy password hashes by
	// format (hashes.Info.Format) and outcome.
	PasswordFormats  map[string]*FormatCount `json:"password_formats"`
	RecoveryRequired int                     `json:"recovery_required"`
	SocialOnly       int                     `json:"social_only"`
	SocialLinks      int                     `json:"social_links"`
	Roles            map[string]int          `json:"roles"`
	Inactive         int                     `json:"inactive"`
	Unverified       int                     `json:"unverified"`
	Conflicts        map[string]int          `json:"conflicts"`
}

// FormatCount counts the hashes of one format: imported (as is or
// translated) or sent to forced recovery.
type FormatCount struct {
	Imported   int  `json:"imported,omitempty"`
	Recovery   int  `json:"recovery,omitempty"`
	Translated bool `json:"translated,omitempty"`
}

// Tally counts the plan.
func (p *Plan) Tally() Counts {
	c := Counts{Identities: len(p.Identities), SkippedUsers: len(p.Skipped),
		Roles: map[string]int{account.RoleStudent: 0, account.RoleInstructor: 0, account.RoleAdmin: 0}, Conflicts: map[string]int{},
		PasswordFormats: map[string]*FormatCount{}}
	format := func(name string) *FormatCount {
		if c.PasswordFormats[name] == nil {
			c.PasswordFormats[name] = &FormatCount{}
		}
		return c.PasswordFormats[name]
	}
	for _, id := range p.Identities {
		c.MergedUsers += len(id.Merged)
		switch id.Password {
		case legacy.PasswordImported:
			c.PasswordsImported++
			f := format(id.PasswordFormat)
			f.Imported++
			if id.HashTranslated {
				c.PasswordsTranslated++
				f.Translated = true
			}
		case legacy.PasswordRecovery:
			c.RecoveryRequired++
			if id.PasswordFormat != "" {
				format(id.PasswordFormat).Recovery++
			}
		case legacy.PasswordNone:
			c.SocialOnly++
		}
		c.SocialLinks += len(id.Social)
		c.Roles[id.Role]++
		if !id.Active {
			c.Inactive++
		}
		if !id.Verified {
			c.Unverified++
		}
	}
	for _, cf := range p.Conflicts {
		c.Conflicts[cf.Kind]++
	}
	return c
}

// roleRank orders account.Roles, lowest first. A Kratos identity's
// metadata_public.role is one of them.
var roleRank = map[string]int{account.RoleStudent: 1, account.RoleInstructor: 2, account.RoleAdmin: 3}

// quoteRoles shows role values, NULL (read as "") as NULL.
func quoteRoles(roles []string) string {
	out := make([]string, len(roles))
	for i, r := range roles {
		if r == "" {
			out[i] = "NULL"
		} else {
			out[i] = fmt.Sprintf("%q", r)
		}
	}
	return "[" + strings.Join(out, ", ") + "]"
}
