package legacy

import "time"

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
	// its lossless translation into a form Kratos verifies (hashes.Inspect);
	// "" when none.
	PasswordHash string `json:"-"`
	// PasswordFormat names the primary's legacy hash format
	// (hashes.Info.Format), "" when it has none; HashTranslated says
	// PasswordHash is a translation of it.
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
