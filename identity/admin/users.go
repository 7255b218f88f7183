package admin

import (
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/learnplatform/platform/identity"
	"github.com/learnplatform/platform/identity/internal/edge"
	"github.com/learnplatform/platform/kit/account"
	"github.com/learnplatform/platform/kit/kratos"
	"github.com/learnplatform/platform/kit/server"
	"github.com/learnplatform/platform/kit/token"
)

// The admin API's user routes (admin role, a person's token):
//
//	PUT  /admin/users/{id}/role             {"role": "student"|"instructor"|"admin"}
//	PUT  /admin/users/{id}/state            {"state": "active"|"inactive"}
//	POST /admin/users/{id}/sessions/revoke  (no body, or {})
//
// Each voids the user's access tokens before it answers 200 (a new role,
// deactivation and session revocation all take access away; activation
// needs no revocation). Errors: 400 bad id or body, 404 unknown user, 503
// when Kratos, Hydra or the platform database fails, saying what was done:
// every route is safe to call again and then completes what was left.
// Each change is recorded in the auth event log with the admin's id.

// userID is the route's user id, or "" after answering 400.
func userID(w http.ResponseWriter, r *http.Request) string {
	id := chi.URLParam(r, "id")
	if !edge.ValidUUID(id) {
		badRequest(w, "the user id must be a UUID")
		return ""
	}
	return strings.ToLower(id)
}

// setRole: PUT /admin/users/{id}/role {"role": "instructor"}.
func (a *API) setRole(w http.ResponseWriter, r *http.Request) {
	id := userID(w, r)
	if id == "" {
		return
	}
	var body struct {
		Role string `json:"role"`
	}
	if !decodeJSON(w, r, &body) {
		return
	}
	if !account.KnownRole(body.Role) {
		badRequest(w, "role must be one of "+strings.Join(account.Roles, ", "))
		return
	}
	previous, err := a.opts.Accounts.SetRole(r.Context(), id, body.Role)
	if !a.changed(w, r, "set role", id, err) {
		return
	}
	a.record(r, identity.Event{Type: identity.EventRoleChanged, IdentityID: id,
		Detail: map[string]any{"from": previous, "to": body.Role, "by": adminID(r)}})
	if a.incomplete(w, r, "set role", id, err) {
		return
	}
	server.WriteJSON(w, http.StatusOK, map[string]any{"id": id, "role": body.Role, "previous_role": previous, "tokens_revoked": true})
}

// setState: PUT /admin/users/{id}/state {"state": "inactive"}. Deactivating
// also ends the user's Kratos and Hydra sessions and voids their tokens.
func (a *API) setState(w http.ResponseWriter, r *http.Request) {
	id := userID(w, r)
	if id == "" {
		return
	}
	var body struct {
		State string `json:"state"`
	}
	if !decodeJSON(w, r, &body) {
		return
	}
	if body.State != identity.StateActive && body.State != identity.StateInactive {
		badRequest(w, `state must be "active" or "inactive"`)
		return
	}
	previous, err := a.opts.Accounts.SetState(r.Context(), id, body.State)
	if !a.changed(w, r, "set state", id, err) {
		return
	}
	a.record(r, identity.Event{Type: identity.EventStateChanged, IdentityID: id,
		Detail: map[string]any{"from": previous, "to": body.State, "by": adminID(r)}})
	if a.incomplete(w, r, "set state", id, err) {
		return
	}
	out := map[string]any{"id": id, "state": body.State, "previous_state": previous}
	if body.State == identity.StateInactive {
		out["sessions_ended"], out["tokens_revoked"] = true, true
	}
	server.WriteJSON(w, http.StatusOK, out)
}

// revokeSessions: POST /admin/users/{id}/sessions/revoke ends every Kratos
// session of the user, their Hydra login and consent sessions, and voids
// every token issued to them so far.
func (a *API) revokeSessions(w http.ResponseWriter, r *http.Request) {
	id := userID(w, r)
	if id == "" {
		return
	}
	if !emptyBody(w, r) {
		return
	}
	err := a.opts.Accounts.EndSessions(r.Context(), id, identity.ReasonSessionsRevoked)
	if !a.changed(w, r, "revoke sessions", id, err) {
		return
	}
	a.record(r, identity.Event{Type: identity.EventSessionsRevoked, IdentityID: id,
		Detail: map[string]any{"by": adminID(r)}})
	if a.incomplete(w, r, "revoke sessions", id, err) {
		return
	}
	server.WriteJSON(w, http.StatusOK, map[string]any{"id": id, "sessions_ended": true, "tokens_revoked": true})
}

// changed reports whether an account action got past its first step (the
// change at Kratos); when it did not it answers 404 or 503.
func (a *API) changed(w http.ResponseWriter, r *http.Request, action, id string, err error) bool {
	var partial *identity.ActionError
	switch {
	case err == nil || errors.As(err, &partial):
		return true
	case errors.Is(err, kratos.ErrNotFound):
		server.WriteError(w, http.StatusNotFound, "not_found", "no user with id "+id)
	default:
		a.logRequestError(r, "admin: "+action+" failed; nothing changed", "user", id, "admin", adminID(r), "error", err)
		w.Header().Set("Retry-After", "5")
		server.WriteError(w, http.StatusServiceUnavailable, "unavailable",
			"the identity service is unavailable; nothing was changed, try again")
	}
	return false
}

// incomplete answers 503 when an account action did not finish, saying
// what was done: above all whether the user's tokens were revoked.
func (a *API) incomplete(w http.ResponseWriter, r *http.Request, action, id string, err error) bool {
	var partial *identity.ActionError
	if !errors.As(err, &partial) {
		return false
	}
	a.logRequestError(r, "admin: "+action+" incomplete", "user", id, "admin", adminID(r),
		"done", partial.Done, "failed", partial.Failed, "tokens_revoked", partial.Revoked(), "error", err)
	w.Header().Set("Retry-After", "5")
	server.WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"error": map[string]any{
		"code":           "incomplete",
		"message":        partial.Message(),
		"done":           partial.Done,
		"failed":         partial.Failed,
		"tokens_revoked": partial.Revoked(),
	}})
	return true
}

func adminID(r *http.Request) string {
	u, _ := token.UserFrom(r.Context())
	return u.ID
}

// emptyBody accepts no body, or an empty JSON object.
func emptyBody(w http.ResponseWriter, r *http.Request) bool {
	b, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		badRequest(w, "the body could not be read")
		return false
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return true
	}
	r.Body = io.NopCloser(strings.NewReader(string(b)))
	var none struct{}
	return decodeJSON(w, r, &none)
}

// logRequestError logs an error of an account action with the request id.
func (a *API) logRequestError(r *http.Request, msg string, attrs ...any) {
	a.opts.Logger.Error(msg, append(attrs, "request_id", server.RequestID(r.Context()))...)
}
