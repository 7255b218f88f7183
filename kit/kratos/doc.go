// Package kratos is the platform's one client of Ory Kratos v1.3.1, built on
// github.com/ory/kratos-client-go, for the identity edge, the consent app and
// the legacy migration tool.
//
// Public API (as a browser's or native app's proxy): self-service flows
// turned into one generic shape (Flow, UI, Node) that the edge renders and
// that re-encodes to the JSON Kratos itself would send, the signed-in session
// (Whoami), sign-out URLs and the account's own sessions.
//
// Admin API: an identity's claims and state (User, SetRole, SetState), its
// sessions (SessionActive, SessionOwner, EndSessions), lookups by credential
// identifier, and the batch import, listing and deletion the migration tool
// uses.
//
// Errors are this package's sentinels (ErrFlowGone, ErrNoSession,
// ErrNotFound, ErrUnavailable) wrapping an *APIError with Kratos' status.
// Tests run it against kit/orytest's fake Kratos.
package kratos
