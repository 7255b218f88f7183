package legacy

import (
	"github.com/learnplatform/platform/kit/account"

	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Conflict kinds. Each is handled the same way every time and reported;
// none is dropped silently. The first group is decided from the legacy data
// alone (plan sees them); the second only a run can meet.
const (
	// Emails that differ only in case or surrounding spaces: one identity,
	// made from the primary user (see BuildPlan); the others are merged
	// into it.
	ConflictDuplicateEmail = "duplicate_email"
	// An email Kratos would refuse: the user is not imported.
	ConflictInvalidEmail = "invalid_email"
	// Neither a password hash nor a social link: imported without
	// credentials; the user sets a password through recovery.
	ConflictNoCredentials = "no_credentials"
	// A hash Kratos cannot verify, as is or translated (no lossless
	// translation, or malformed): imported without a password; recovery.
	ConflictUnsupportedHash = "unsupported_hash"
	// A user_roles value that is not student, instructor or admin.
	ConflictUnknownRole = "unknown_role"
	// The same provider account linked more than once.
	ConflictDuplicateSocialLink = "duplicate_social_link"
	// A provider with no Kratos OIDC provider mapped to it.
	ConflictUnknownProvider = "unknown_provider"
	// A social link without a subject.
	ConflictInvalidSocialLink = "invalid_social_link"
	// A full name longer than the identity schema allows.
	ConflictNameTooLong = "name_too_long"

	// The email belongs to a Kratos identity this migration did not create.
	ConflictExistsInKratos = "exists_in_kratos"
	// A social link belongs to a Kratos identity this migration did not create.
	ConflictSocialLinkTaken = "social_link_taken"
	// Kratos refused the identity for another reason.
	ConflictRejectedByKratos = "rejected_by_kratos"
	// A platform row of a merged duplicate could not move to the identity,
	// which already has a row with the same key.
	ConflictRowCollision = "platform_row_collision"
)

// ConflictKinds lists every kind in report order.
var ConflictKinds = []string{
	ConflictDuplicateEmail, ConflictInvalidEmail, ConflictNoCredentials, ConflictUnsupportedHash,
	ConflictUnknownRole, ConflictDuplicateSocialLink, ConflictUnknownProvider, ConflictInvalidSocialLink,
	ConflictNameTooLong, ConflictExistsInKratos, ConflictSocialLinkTaken, ConflictRejectedByKratos,
	ConflictRowCollision,
}

// MaxNameLength is the identity schema's maxLength for traits.name
// (ory-config/kratos/identity.schema.json), in characters.
const MaxNameLength = 200

// Conflict is one problem in the legacy data and what the migration does
// about it.
type Conflict struct {
	Kind       string   `json:"kind"`
	LegacyIDs  []string `json:"legacy_ids"`
	Email      string   `json:"email,omitempty"`
	Detail     string   `json:"detail"`
	Resolution string   `json:"resolution"`
}

// Link is a social sign-in: a Kratos OIDC provider id and the subject the
// provider knows the user by. Kratos' credential identifier for it is
// "provider:subject".
type Link struct {
	Provider string `json:"provider"`
	Subject  string `json:"subject"`
}

// Identifier is the Kratos credential identifier of the link.
func (l Link) Identifier() string { return l.Provider + ":" + l.Subject }

// Identity is one Kratos identity the migration creates, made from a
// primary legacy user and the duplicates merged into it.
type Identity struct {
	// LegacyID is the primary legacy user's id: metadata_admin.legacy_id.
	LegacyID string `json:"legacy_id"`
	// Merged are the other legacy users whose emails differ from the
	// primary's only in case or spaces, sorted; they map to this identity.
	Merged []string `json:"merged_legacy_ids,omitempty"`
	// Email is the normalized address: traits.email.
	Email string `json:"email"`
	// Name is traits.name; HasName is false when no member had one.
	Name     string `json:"name,omitempty"`
	HasName  bool   `json:"-"`
	Verified bool   `json:"verified"`
	Active   bool   `json:"active"`
	Role     string `json:"role"`
	// PasswordHash is the hash Kratos imports: the legacy hash as is, or
	// its lossless translation into a form Kratos verifies (InspectHash);
	// "" when none.
	PasswordHash string `json:"-"`
	// PasswordFormat names the primary's legacy hash format (HashFormat),
	// "" when it has none; HashTranslated says PasswordHash is a
	// translation of it.
	PasswordFormat string `json:"password_format,omitempty"`
	HashTranslated bool   `json:"hash_translated,omitempty"`
	// Password says what happens to the password: "imported", "recovery"
	// (a hash Kratos cannot verify, or none and no social link: the user
	// sets one through recovery by email) or "none" (social sign-in only).
	Password string `json:"password"`
	// Social are the imported social links.
	Social []Link `json:"social,omitempty"`
	// The rest is kept in metadata_admin so that nothing is lost.
	CreatedAt      time.Time `json:"-"`
	LegacyRoles    []string  `json:"-"` // unknown roles, as stored
	LegacySocial   []Link    `json:"-"` // links not imported, legacy provider names
	LegacyFullName string    `json:"-"` // the full name when truncated
	Sessions       int       `json:"sessions"`
	ActiveSessions int       `json:"active_sessions"`
}

// Members are all legacy ids that map to the identity, primary first.
func (i *Identity) Members() []string { return append([]string{i.LegacyID}, i.Merged...) }

// Password outcomes (Identity.Password).
const (
	PasswordImported = "imported"
	PasswordRecovery = "recovery"
	PasswordNone     = "none"
)

// ImportedBy is metadata_admin.imported_by of every identity this migration
// creates: with legacy_id it marks them, so reruns and rollback find them
// even when their mapping was lost in a crash.
const ImportedBy = "migrate-legacy"

// MetadataAdmin is the identity's metadata_admin: imported_by and
// legacy_id mark every identity this migration created (rollback and
// reruns find them by it),
// recovery_required that the user has no usable password yet, and the
// legacy values that have no place in Kratos are kept beside them.
func (i *Identity) MetadataAdmin() map[string]any {
	m := map[string]any{
		"imported_by":       ImportedBy,
		"legacy_id":         i.LegacyID,
		"legacy_created_at": i.CreatedAt.UTC().Format(time.RFC3339Nano),
	}
	if len(i.Merged) > 0 {
		m["merged_legacy_ids"] = i.Merged
	}
	if i.Password == PasswordRecovery {
		m["recovery_required"] = true
	}
	if len(i.LegacyRoles) > 0 {
		m["legacy_roles"] = i.LegacyRoles
	}
	if len(i.LegacySocial) > 0 {
		m["legacy_social_links"] = i.LegacySocial
	}
	if i.LegacyFullName != "" {
		m["legacy_full_name"] = i.LegacyFullName
	}
	return m
}

// Plan is what the migration does with a Dataset. BuildPlan makes it.
type Plan struct {
	// Identities to create, ordered by LegacyID.
	Identities []Identity
	// Skipped are legacy users that get no identity, sorted.
	Skipped []string
	// Conflicts in ConflictKinds order, then by first legacy id.
	Conflicts []Conflict
	Counts    Counts

	byLegacy map[string]int // legacy id (members too) → index in Identities
	byEmail  map[string]int // normalized email → index in Identities
}

// Lookup returns the identity a legacy user maps to.
func (p *Plan) Lookup(legacyID string) (*Identity, bool) {
	i, ok := p.byLegacy[legacyID]
	if !ok {
		return nil, false
	}
	return &p.Identities[i], true
}

// LookupEmail returns the identity with the normalized email.
func (p *Plan) LookupEmail(email string) (*Identity, bool) {
	i, ok := p.byEmail[NormalizeEmail(email)]
	if !ok {
		return nil, false
	}
	return &p.Identities[i], true
}

// PlanOptions adjust BuildPlan.
type PlanOptions struct {
	// Providers maps a legacy oauth_accounts.provider (trimmed, lower case)
	// to the Kratos OIDC provider id it becomes. Nil means DefaultProviders.
	Providers map[string]string
}

// DefaultProviders maps the legacy system's providers to the Kratos
// provider ids the platform configures (ory-config/kratos, "Social sign-in").
var DefaultProviders = map[string]string{"google": "google", "github": "github"}

// BuildPlan decides, from the legacy data alone, what becomes of every
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
func BuildPlan(ds *Dataset, opts PlanOptions) *Plan {
	providers := opts.Providers
	if providers == nil {
		providers = DefaultProviders
	}
	p := &Plan{Counts: ds.Counts, byLegacy: map[string]int{}, byEmail: map[string]int{}}
	var conflicts []Conflict
	add := func(kind string, ids []string, email, detail, resolution string) {
		conflicts = append(conflicts, Conflict{Kind: kind, LegacyIDs: ids, Email: email, Detail: detail, Resolution: resolution})
	}

	users := make([]*User, len(ds.Users))
	for i := range ds.Users {
		users[i] = &ds.Users[i]
	}
	sort.Slice(users, func(a, b int) bool { return users[a].ID < users[b].ID })

	groups := map[string][]*User{}
	for _, u := range users {
		email := NormalizeEmail(u.Email)
		if !ValidEmail(email) {
			p.Skipped = append(p.Skipped, u.ID)
			add(ConflictInvalidEmail, []string{u.ID}, "", fmt.Sprintf("email %q is not an address Kratos accepts", u.Email),
				"not imported; correct users.email in the legacy database and run again (the next run imports the user); "+
					"the user's login attempts are imported without an identity")
			continue
		}
		groups[email] = append(groups[email], u)
	}

	type claim struct {
		group int
		acct  SocialAccount
		user  string
	}
	var claims []claim
	for email, members := range groups {
		sort.SliceStable(members, func(a, b int) bool { return preferred(members[a], members[b]) })
		prim := members[0]
		id := Identity{
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
			add(ConflictUnknownRole, []string{prim.ID}, id.Email,
				fmt.Sprintf("roles %s are not student, instructor or admin", quoteRoles(id.LegacyRoles)),
				fmt.Sprintf("ignored for the role, which is %s; kept in metadata_admin.legacy_roles", id.Role))
		}

		switch h := InspectHash(prim.PasswordHash); h.Kind {
		case HashImportable:
			id.PasswordHash, id.Password = h.Kratos, PasswordImported
			id.PasswordFormat, id.HashTranslated = h.Format, h.Translated
		case HashUnsupported:
			id.Password, id.PasswordFormat = PasswordRecovery, h.Format
			add(ConflictUnsupportedHash, []string{prim.ID}, id.Email,
				fmt.Sprintf("the password hash is %s: %s (the hash itself is never reported)", h.Format, h.Reason),
				"imported without a password: the user sets a new one through account recovery by email (forced recovery; "+
					"Kratos' password migration hook is not used); social links, if any, keep working")
		default:
			id.Password = PasswordNone
		}

		if utf8.RuneCountInString(id.Name) > MaxNameLength {
			id.LegacyFullName = id.Name
			id.Name = string([]rune(id.Name)[:MaxNameLength])
			add(ConflictNameTooLong, []string{prim.ID}, id.Email,
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
			add(ConflictDuplicateEmail, ids, id.Email, detail,
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
			add(ConflictInvalidSocialLink, []string{c.user}, id.Email,
				fmt.Sprintf("oauth_accounts %s (%s) has no provider_user_id", c.acct.ID, c.acct.Provider),
				"not imported")
			continue
		}
		if !known {
			id.LegacySocial = append(id.LegacySocial, Link{Provider: c.acct.Provider, Subject: c.acct.Subject})
			add(ConflictUnknownProvider, []string{c.user}, id.Email,
				fmt.Sprintf("oauth_accounts %s uses provider %q, which maps to no Kratos provider", c.acct.ID, c.acct.Provider),
				"not imported as a social sign-in (map the provider with -providers to import it); kept in metadata_admin.legacy_social_links")
			continue
		}
		link := Link{Provider: provider, Subject: c.acct.Subject}
		if first, taken := owner[link.Identifier()]; taken {
			if first.group == c.group {
				add(ConflictDuplicateSocialLink, []string{c.user}, id.Email,
					fmt.Sprintf("%s is linked more than once to the same account (oauth_accounts %s and %s)", link.Identifier(), first.acct.ID, c.acct.ID),
					"imported once")
			} else {
				add(ConflictDuplicateSocialLink, []string{first.user, c.user}, id.Email,
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
		if id.Password == PasswordNone && len(id.Social) == 0 {
			id.Password = PasswordRecovery
			add(ConflictNoCredentials, []string{id.LegacyID}, id.Email,
				"neither a password hash nor a social link",
				"imported without credentials: the user sets a password through account recovery by email (forced recovery)")
		}
	}

	order := map[string]int{}
	for i, k := range ConflictKinds {
		order[k] = i
	}
	sort.SliceStable(conflicts, func(a, b int) bool {
		if order[conflicts[a].Kind] != order[conflicts[b].Kind] {
			return order[conflicts[a].Kind] < order[conflicts[b].Kind]
		}
		return conflicts[a].LegacyIDs[0] < conflicts[b].LegacyIDs[0]
	})
	p.Conflicts = conflicts
	return p
}

// preferred reports whether a should be the primary user rather than b.
func preferred(a, b *User) bool {
	if a.Active != b.Active {
		return a.Active
	}
	if ha, hb := ClassifyHash(a.PasswordHash) == HashImportable, ClassifyHash(b.PasswordHash) == HashImportable; ha != hb {
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

// PlanCounts count what a plan does.
type PlanCounts struct {
	Identities        int `json:"identities"`
	MergedUsers       int `json:"merged_users"`
	SkippedUsers      int `json:"skipped_users"`
	PasswordsImported int `json:"passwords_imported"`
	// PasswordsTranslated of them in a form Kratos verifies other than
	// the legacy one (InspectHash).
	PasswordsTranslated int `json:"passwords_translated"`
	// PasswordFormats counts the identities' legacy password hashes by
	// format (HashFormat) and outcome.
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
func (p *Plan) Tally() PlanCounts {
	c := PlanCounts{Identities: len(p.Identities), SkippedUsers: len(p.Skipped),
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
		case PasswordImported:
			c.PasswordsImported++
			f := format(id.PasswordFormat)
			f.Imported++
			if id.HashTranslated {
				c.PasswordsTranslated++
				f.Translated = true
			}
		case PasswordRecovery:
			c.RecoveryRequired++
			if id.PasswordFormat != "" {
				format(id.PasswordFormat).Recovery++
			}
		case PasswordNone:
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
