package identity

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Access tokens are checked offline by every resource server, so a change
// that takes access away (sign-out, deactivation, a new role, a new
// password) must also void the tokens already issued: the edge writes a
// revocation record (kit/revocation) that reaches every tutor and edge
// process within seconds. This file holds the account actions that do so,
// shared by the admin API, the account security page and the CLI.

// Revoker writes token revocation records; kit/revocation's Store is one.
type Revoker interface {
	// RevokeSubject voids every token of subject issued up to now, except
	// those of the Kratos session keepSessionID when it is not empty.
	RevokeSubject(ctx context.Context, subject, keepSessionID, reason string) error
	// RevokeSession voids every token carrying the Kratos session id.
	RevokeSession(ctx context.Context, sessionID, reason string) error
}

// Reasons stored with revocation records, for operators.
const (
	ReasonSignOut           = "sign_out"
	ReasonSignOutOthers     = "sign_out_others"
	ReasonSignOutEverywhere = "sign_out_everywhere"
	ReasonRoleChanged       = "role_changed"
	ReasonDeactivated       = "deactivated"
	ReasonSessionsRevoked   = "sessions_revoked"
	ReasonPasswordChanged   = "password_changed"
	ReasonRecovered         = "recovered"
)

// Identity states (Kratos' identity state).
const (
	StateActive   = "active"
	StateInactive = "inactive"
)

// Identities changes identities and ends their sessions (Kratos' admin
// API). Every method fails with an error matching the implementation's
// not-found error for an unknown identity.
type Identities interface {
	// SetRole sets metadata_public.role and returns the role before.
	SetRole(ctx context.Context, identityID, role string) (previous string, err error)
	// SetState sets the identity's state and returns the state before.
	SetState(ctx context.Context, identityID, state string) (previous string, err error)
	// EndSessions ends every Kratos session of the identity (none is fine).
	EndSessions(ctx context.Context, identityID string) error
}

// OAuthSessions ends what Hydra remembers of a subject: its login sessions
// (silent sign-in) and consent sessions (with them its refresh tokens).
type OAuthSessions interface {
	EndSessions(ctx context.Context, subject string) error
}

// Steps of an account action, as ActionError names them.
const (
	StepIdentity = "identity" // the change to the identity (role, state)
	StepSessions = "sessions" // ending the identity's Kratos sessions
	StepOAuth    = "oauth"    // ending its Hydra login and consent sessions
	StepRevoke   = "revoke"   // writing the token revocation record
)

// ActionError is an account action that got past its first step (the
// change at Kratos, which is the source of truth) but not through all of
// the others: Done lists the steps that succeeded, Failed the others. Every
// step after the first is tried even when one before failed, and the
// revocation always comes last, so it also voids tokens minted meanwhile.
// Running the action again completes it: every step is idempotent.
type ActionError struct {
	Done   []string
	Failed []string
	Err    error // the failures, joined
}

func (e *ActionError) Error() string {
	return fmt.Sprintf("%v (done: %s)", e.Err, strings.Join(e.Done, ", "))
}

func (e *ActionError) Unwrap() error { return e.Err }

// Revoked reports whether the revocation record was written.
func (e *ActionError) Revoked() bool { return slices.Contains(e.Done, StepRevoke) }

// Message says, for people, what was done and what was not.
func (e *ActionError) Message() string {
	done := make([]string, 0, len(e.Done))
	for _, s := range e.Done {
		done = append(done, stepDone[s])
	}
	failed := make([]string, 0, len(e.Failed))
	for _, s := range e.Failed {
		failed = append(failed, stepFailed[s])
	}
	msg := strings.Join(failed, "; ")
	if len(done) > 0 {
		msg = strings.Join(done, ", ") + ", but " + msg
	}
	return msg + ". Try again: every step is safe to repeat."
}

var stepDone = map[string]string{
	StepIdentity: "the change was made",
	StepSessions: "the sessions were ended",
	StepOAuth:    "the OAuth2 sessions at Hydra were ended",
	StepRevoke:   "the access tokens were revoked",
}

var stepFailed = map[string]string{
	StepIdentity: "the change could not be made",
	StepSessions: "the sessions could not be ended",
	StepOAuth:    "the OAuth2 sessions at Hydra could not be ended",
	StepRevoke:   "the access tokens were NOT revoked (they keep working until they expire, up to 6 hours)",
}

// Accounts carries out the account actions that void a user's tokens.
type Accounts struct {
	Identities Identities
	OAuth      OAuthSessions
	Revoker    Revoker
}

// SetRole changes the identity's role, then voids every token issued
// before, which carries the old role. An unchanged role voids them too: a
// retry after a failed revocation must not find nothing to do.
func (a *Accounts) SetRole(ctx context.Context, identityID, role string) (previous string, err error) {
	previous, err = a.Identities.SetRole(ctx, identityID, role)
	if err != nil {
		return "", err
	}
	r := run{done: []string{StepIdentity}}
	r.step(StepRevoke, a.Revoker.RevokeSubject(ctx, identityID, "", ReasonRoleChanged))
	return previous, r.err()
}

// SetState activates or deactivates the identity. Deactivating also ends
// its Kratos and Hydra sessions and voids every token issued so far; the
// state is set first, so no new token is minted meanwhile (the token hook
// refuses inactive identities).
func (a *Accounts) SetState(ctx context.Context, identityID, state string) (previous string, err error) {
	if state != StateActive && state != StateInactive {
		return "", fmt.Errorf("identity: state must be %s or %s, got %q", StateActive, StateInactive, state)
	}
	previous, err = a.Identities.SetState(ctx, identityID, state)
	if err != nil {
		return "", err
	}
	r := run{done: []string{StepIdentity}}
	if state == StateInactive {
		a.endAll(ctx, &r, identityID, ReasonDeactivated)
	}
	return previous, r.err()
}

// EndSessions signs the identity out everywhere: every Kratos session, its
// Hydra login and consent sessions, and every token issued so far. When
// Kratos cannot end the sessions nothing else is done and its error is
// returned as it is.
func (a *Accounts) EndSessions(ctx context.Context, identityID, reason string) error {
	if err := a.Identities.EndSessions(ctx, identityID); err != nil {
		return err
	}
	r := run{done: []string{StepSessions}}
	a.endAll(ctx, &r, identityID, reason)
	return r.err()
}

// endAll ends the sessions (unless done already) and revokes the tokens.
func (a *Accounts) endAll(ctx context.Context, r *run, identityID, reason string) {
	if !slices.Contains(r.done, StepSessions) {
		r.step(StepSessions, a.Identities.EndSessions(ctx, identityID))
	}
	r.step(StepOAuth, a.OAuth.EndSessions(ctx, identityID))
	r.step(StepRevoke, a.Revoker.RevokeSubject(ctx, identityID, "", reason))
}

// run collects the outcome of an action's steps.
type run struct {
	done, failed []string
	errs         []error
}

func (r *run) step(name string, err error) {
	if err != nil {
		r.failed = append(r.failed, name)
		r.errs = append(r.errs, fmt.Errorf("%s: %w", name, err))
		return
	}
	r.done = append(r.done, name)
}

func (r *run) err() error {
	if len(r.failed) == 0 {
		return nil
	}
	return &ActionError{Done: r.done, Failed: r.failed, Err: errors.Join(r.errs...)}
}
