package legacy

import (
	_ "embed"
	"fmt"
	"time"
)

// Schema is the legacy auth system's DDL (CREATE TABLE IF NOT EXISTS).
//
//go:embed schema.sql
var Schema string

// Tables are the legacy tables, in an order that satisfies their foreign
// keys (users first).
var Tables = []string{"users", "user_roles", "oauth_accounts", "sessions", "login_attempts"}

// User is one legacy user with everything the migration reads about them.
type User struct {
	// ID is the legacy users.id, lower-case canonical UUID text.
	ID string
	// Email is users.email exactly as stored (not normalized).
	Email string
	// PasswordHash is users.password_hash; "" when NULL (social-only users).
	PasswordHash string
	// FullName is users.full_name; HasName is false when it is NULL.
	FullName string
	HasName  bool
	// EmailVerified and Active are users.email_verified and users.is_active.
	EmailVerified bool
	Active        bool
	CreatedAt     time.Time
	UpdatedAt     time.Time
	// Roles are the user's user_roles rows as stored (NULL as ""), sorted.
	Roles []string
	// Social are the user's oauth_accounts rows, oldest first.
	Social []SocialAccount
	// Sessions counts the user's sessions rows; ActiveSessions those not
	// yet expired when the data was read.
	Sessions       int
	ActiveSessions int
}

// SocialAccount is one oauth_accounts row.
type SocialAccount struct {
	ID        string
	Provider  string
	Subject   string // provider_user_id
	Email     string // provider_email
	CreatedAt time.Time
}

// Dataset is what the migration read from the legacy database in one
// consistent snapshot: every user, ordered by ID, and the table counts.
type Dataset struct {
	Users  []User
	Counts Counts
}

// Counts are the legacy tables' row counts.
type Counts struct {
	Users          int   `json:"users"`
	UserRoles      int   `json:"user_roles"`
	OAuthAccounts  int   `json:"oauth_accounts"`
	Sessions       int   `json:"sessions"`
	ActiveSessions int   `json:"active_sessions"`
	LoginAttempts  int   `json:"login_attempts"`
	MaxAttemptID   int64 `json:"max_login_attempt_id"`
	// Rows whose user_id is NULL or names no user: they belong to nobody
	// and are not migrated (Orphans reports them).
	OrphanRoles    int `json:"orphan_user_roles"`
	OrphanSocial   int `json:"orphan_oauth_accounts"`
	OrphanSessions int `json:"orphan_sessions"`
}

// Orphans describes rows that belong to no user, "" when there are none.
func (c Counts) Orphans() string {
	if c.OrphanRoles+c.OrphanSocial+c.OrphanSessions == 0 {
		return ""
	}
	return fmt.Sprintf("%d user_roles, %d oauth_accounts and %d sessions rows have no user (user_id NULL or unknown): not migrated",
		c.OrphanRoles, c.OrphanSocial, c.OrphanSessions)
}

// LoginAttempt is one login_attempts row.
type LoginAttempt struct {
	ID      int64
	Email   string // "" when NULL
	UserID  string // "" when NULL
	Success bool
	// SuccessUnknown is true when success was NULL (counted as a failure).
	SuccessUnknown bool
	IP             string
	UserAgent      string
	// AttemptedAt is the zero time when attempted_at was NULL.
	AttemptedAt time.Time
}
