package legacy

import (
	"encoding/json"
	"fmt"
	"sort"
)

// Conflict kinds. Each is handled the same way every time and reported;
// none is dropped silently. The first group is decided from the legacy data
// alone (plan sees them); the second only a run can meet.
const (
	// Emails that differ only in case or surrounding spaces: one identity,
	// made from the primary user (see plan.Build); the others are merged
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

// Conflict is one problem in the legacy data and what the migration does
// about it.
type Conflict struct {
	Kind       string   `json:"kind"`
	LegacyIDs  []string `json:"legacy_ids"`
	Email      string   `json:"email,omitempty"`
	Detail     string   `json:"detail"`
	Resolution string   `json:"resolution"`
}

// SortConflicts orders conflicts in ConflictKinds order, then by their
// first legacy id, keeping the order of equal ones.
func SortConflicts(conflicts []Conflict) {
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
}

// RunConflict is a conflict a run met, as stored.
type RunConflict struct {
	Kind     string         `json:"kind"`
	LegacyID string         `json:"legacy_id"`
	Subject  string         `json:"subject,omitempty"`
	Detail   map[string]any `json:"detail"`
}

// ExplainRunConflicts turns stored run-time conflicts into Conflicts that
// say what happened and what the migration did about it, ordered by legacy id.
func ExplainRunConflicts(stored []RunConflict) []Conflict {
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
