package identity

import (
	"context"
	"errors"
	"time"
)

// Event types of the auth event log.
const (
	EventRegistration          = "registration"
	EventLoginSucceeded        = "login.succeeded"
	EventLoginFailed           = "login.failed"
	EventLockout               = "lockout"
	EventUnlock                = "unlock"
	EventLogout                = "logout"
	EventVerificationSent      = "verification.sent"
	EventVerificationCompleted = "verification.completed"
	EventRecoveryRequested     = "recovery.requested"
	EventRecoveryCompleted     = "recovery.completed"
	EventPasswordChanged       = "password.changed"
	EventProfileChanged        = "profile.changed"
	EventSocialLinked          = "social.linked"
	EventSocialUnlinked        = "social.unlinked"
	EventRoleChanged           = "role.changed"
	EventIPThrottled           = "ip.throttled"
	// EventStateChanged: an admin (or the CLI) activated or deactivated the
	// identity.
	EventStateChanged = "state.changed"
	// EventSessionsRevoked: an admin (or the CLI) ended every session of
	// the identity and voided its tokens.
	EventSessionsRevoked = "sessions.revoked"
	// EventSignOutEverywhere: the user signed out everywhere from the
	// account page.
	EventSignOutEverywhere = "signout.everywhere"
)

// EventTypes lists every type, for validating filters.
var EventTypes = []string{
	EventRegistration, EventLoginSucceeded, EventLoginFailed, EventLockout, EventUnlock, EventLogout,
	EventVerificationSent, EventVerificationCompleted, EventRecoveryRequested, EventRecoveryCompleted,
	EventPasswordChanged, EventProfileChanged, EventSocialLinked, EventSocialUnlinked, EventRoleChanged,
	EventIPThrottled, EventStateChanged, EventSessionsRevoked, EventSignOutEverywhere,
}

// Event is one row of the auth event log. Detail holds only what is safe
// to keep: never passwords, codes, tokens or cookies.
type Event struct {
	ID         int64          `json:"id"`
	OccurredAt time.Time      `json:"occurred_at"`
	Type       string         `json:"event_type"`
	IdentityID string         `json:"identity_id,omitempty"`
	Email      string         `json:"email,omitempty"`
	IP         string         `json:"ip,omitempty"`
	UserAgent  string         `json:"user_agent,omitempty"`
	FlowID     string         `json:"flow_id,omitempty"`
	Detail     map[string]any `json:"detail"`
}

// EventFilter selects events, newest first, in pages.
type EventFilter struct {
	IdentityID string
	// Email matches events by normalized address; with IdentityID set too,
	// either may match (a user's own failures carry only the address).
	Email string
	Type  string
	Since time.Time
	Until time.Time
	Limit int
	// After is the cursor a previous page ended with ("" for the first).
	After string
}

// ErrBadCursor is a pagination cursor (EventFilter.After) that no page of
// List ended with.
var ErrBadCursor = errors.New("malformed cursor")

// EventLog stores auth events.
type EventLog interface {
	// Record stores e; it never blocks sign-in for long.
	Record(ctx context.Context, e Event)
	// List returns events matching f and the cursor of the next page ("" at
	// the end); an error matching ErrBadCursor for a cursor it did not make.
	List(ctx context.Context, f EventFilter) ([]Event, string, error)
}
