package consent

// Roles a platform user can have; the role lives in the Kratos identity's
// metadata_public.role, which users cannot change.
const (
	RoleStudent    = "student"
	RoleInstructor = "instructor"
	RoleAdmin      = "admin"
)

// User is a Kratos identity as the tokens describe it.
type User struct {
	ID            string
	Email         string
	EmailVerified bool
	Name          string
	Role          string
	Active        bool
}

// Claims are the platform's claims, put both into the ID token and at the
// top level of the JWT access token (Hydra's allowed_top_level_claims).
func (u User) Claims() map[string]any {
	return map[string]any{
		"email":          u.Email,
		"email_verified": u.EmailVerified,
		"name":           u.Name,
		"role":           u.Role,
	}
}
