// Package account is the platform's one definition of a user and their
// role. Every service names users with this type: the consent app builds
// one from the Kratos identity and puts its fields into tokens, the token
// validator (kit/token) reads one back out of a verified token, and the tutor
// and the edge act on it. It imports nothing but the standard library.
package account

import "slices"

// Roles a platform user can have. The role lives in the Kratos identity's
// metadata_public.role, which users cannot change; tokens carry it in the
// role claim.
const (
	RoleStudent    = "student"
	RoleInstructor = "instructor"
	RoleAdmin      = "admin"
)

// Roles lists every role, least privileged first.
var Roles = []string{RoleStudent, RoleInstructor, RoleAdmin}

// KnownRole reports whether r is one of Roles.
func KnownRole(r string) bool { return slices.Contains(Roles, r) }

// User is a platform user: a Kratos identity as tokens describe it.
type User struct {
	// ID is the Kratos identity id (a token's sub).
	ID string
	// Email is the primary email address; it may be empty.
	Email string
	// EmailVerified is true once the address was verified.
	EmailVerified bool
	// Name is the display name; it may be empty.
	Name string
	// Role is one of Roles; RoleStudent when none is recorded.
	Role string
}

// Staff reports whether the user may manage stages and see reports
// (instructors and admins).
func (u User) Staff() bool { return u.Role == RoleInstructor || u.Role == RoleAdmin }

// Admin reports whether the user is an admin.
func (u User) Admin() bool { return u.Role == RoleAdmin }
