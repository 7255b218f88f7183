// Package admin is the identity edge's admin API, for people with the
// admin role (an access token from Hydra for the edge's audience, checked
// by kit/token):
//
//	GET    /admin/auth-events?identity_id=&email=&type=&since=&until=&limit=&after=
//	GET    /admin/lockouts
//	DELETE /admin/lockouts/{email}
//	PUT    /admin/users/{id}/role             {"role": "student"|"instructor"|"admin"}
//	PUT    /admin/users/{id}/state            {"state": "active"|"inactive"}
//	POST   /admin/users/{id}/sessions/revoke  (no body, or {})
//
// Answers are JSON; errors the platform's {"error": {"code", "message"}}
// shape: 400 for a bad parameter or body, 404 for an unknown user or lock,
// 503 when a store or Kratos fails, never 500. cmd/identity wires the
// package.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/learnplatform/platform/identity"
	"github.com/learnplatform/platform/identity/internal/edge"
	"github.com/learnplatform/platform/kit/account"
	"github.com/learnplatform/platform/kit/kratos"
	"github.com/learnplatform/platform/kit/server"
	"github.com/learnplatform/platform/kit/token"
)

// Options configure the admin API.
type Options struct {
	// Tokens validates the access tokens of the admin API. Required.
	Tokens *token.Validator
	// Accounts changes identities (roles, states) and ends their sessions,
	// voiding their tokens. Required.
	Accounts *identity.Accounts
	// Lockouts lists and clears locks (nil: lockout off, nothing locked).
	Lockouts identity.Lockouts
	// Events is the auth event log (nil: nothing recorded, nothing listed).
	Events identity.EventLog
	// Directory finds an identity's address, so that its events from
	// before they were linked to it are listed too (nil: by id only).
	Directory Directory
	// TrustedProxies are the proxies whose X-Forwarded-For is believed
	// (nil: none), for the addresses recorded in the event log.
	TrustedProxies []netip.Prefix
	Logger         *slog.Logger
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Directory looks identities up in Kratos' admin API (kratos.Client).
type Directory interface {
	// EmailOf is the identity's address (traits.email); an error matching
	// kratos.ErrNotFound when there is no such identity.
	EmailOf(ctx context.Context, identityID string) (string, error)
}

// API serves the admin routes.
type API struct {
	opts Options
}

// New returns the API.
func New(opts Options) (*API, error) {
	switch {
	case opts.Tokens == nil:
		return nil, errors.New("admin: Options.Tokens is required")
	case opts.Accounts == nil:
		return nil, errors.New("admin: Options.Accounts is required")
	}
	return &API{opts: opts}, nil
}

// Mount adds the routes under /admin.
func (a *API) Mount(r chi.Router) {
	r.Route("/admin", func(r chi.Router) {
		// RequireUser refuses clients' own (client_credentials) tokens: an
		// admin is a person.
		r.Use(token.RequireUser(a.opts.Tokens), token.RequireRole(account.RoleAdmin))
		r.Put("/users/{id}/role", a.setRole)
		r.Put("/users/{id}/state", a.setState)
		r.Post("/users/{id}/sessions/revoke", a.revokeSessions)
		r.Get("/lockouts", a.listLocks)
		r.Delete("/lockouts/{identifier}", a.clearLock)
		r.Get("/auth-events", a.listEvents)
	})
}

func (a *API) now() time.Time {
	if a.opts.Now != nil {
		return a.opts.Now()
	}
	return time.Now()
}

// record stores an event the admin (or r's client) caused.
func (a *API) record(r *http.Request, e identity.Event) {
	edge.Record(r.Context(), a.opts.Events, e, edge.ClientOf(r, a.opts.TrustedProxies))
}

func badRequest(w http.ResponseWriter, msg string) {
	server.WriteError(w, http.StatusBadRequest, "bad_request", msg)
}

// decodeJSON reads a small JSON object body strictly.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		server.WriteError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "send application/json")
		return false
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		badRequest(w, "the body is not the expected JSON object: "+err.Error())
		return false
	}
	return true
}

func (a *API) listLocks(w http.ResponseWriter, r *http.Request) {
	if a.opts.Lockouts == nil { // lockout off: nothing is ever locked
		server.WriteJSON(w, http.StatusOK, map[string]any{"lockouts": []identity.Lock{}})
		return
	}
	locks, err := a.opts.Lockouts.Locked(r.Context(), a.now())
	if err != nil {
		a.opts.Logger.Error("list locks", "error", err)
		server.WriteError(w, http.StatusServiceUnavailable, "unavailable", "the lockout store is unavailable")
		return
	}
	if locks == nil {
		locks = []identity.Lock{}
	}
	server.WriteJSON(w, http.StatusOK, map[string]any{"lockouts": locks})
}

func (a *API) clearLock(w http.ResponseWriter, r *http.Request) {
	raw, err := url.PathUnescape(chi.URLParam(r, "identifier"))
	ident := identity.NormalizeIdentifier(raw)
	if err != nil || !identity.PlausibleIdentifier(ident) {
		badRequest(w, "the identifier must be an email address")
		return
	}
	if a.opts.Lockouts == nil {
		server.WriteError(w, http.StatusNotFound, "not_found", "no lockout for "+ident)
		return
	}
	cleared, err := a.opts.Lockouts.Clear(r.Context(), ident)
	if err != nil {
		a.opts.Logger.Error("clear lock", "error", err)
		server.WriteError(w, http.StatusServiceUnavailable, "unavailable", "the lockout store is unavailable")
		return
	}
	if !cleared {
		server.WriteError(w, http.StatusNotFound, "not_found", "no lockout for "+ident)
		return
	}
	a.record(r, identity.Event{Type: identity.EventUnlock, Email: ident,
		Detail: map[string]any{"reason": "admin", "by": adminID(r)}})
	w.WriteHeader(http.StatusNoContent)
}

// eventParams are the query parameters GET /admin/auth-events knows.
var eventParams = []string{"identity_id", "email", "type", "since", "until", "limit", "after"}

// listEvents: GET /admin/auth-events?identity_id=&email=&type=&since=&until=&limit=&after=
// identity_id matches the identity's events and those that name its
// address (failures logged before the account could be linked); email
// matches by address. Unknown or repeated parameters are refused.
func (a *API) listEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k, vs := range q {
		if !slices.Contains(eventParams, k) {
			badRequest(w, "unknown parameter "+strconv.Quote(k)+"; known: "+strings.Join(eventParams, ", "))
			return
		}
		if len(vs) > 1 {
			badRequest(w, "the parameter "+strconv.Quote(k)+" is given more than once")
			return
		}
	}
	f := identity.EventFilter{IdentityID: q.Get("identity_id"), Type: q.Get("type"), After: q.Get("after"), Limit: 50}
	if f.IdentityID != "" && !edge.ValidUUID(f.IdentityID) {
		badRequest(w, "identity_id must be a UUID")
		return
	}
	if v := q.Get("email"); v != "" {
		f.Email = identity.NormalizeIdentifier(v)
		if !identity.PlausibleIdentifier(f.Email) || !strings.Contains(f.Email, "@") {
			badRequest(w, "email must be an email address")
			return
		}
	}
	if f.Type != "" && !slices.Contains(identity.EventTypes, f.Type) {
		badRequest(w, "unknown event type "+strconv.Quote(f.Type))
		return
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				badRequest(w, p.name+" must be an RFC 3339 time, like 2026-11-25T18:00:00Z")
				return
			}
			*p.dst = t
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			badRequest(w, "limit must be a number from 1 to 500")
			return
		}
		f.Limit = n
	}
	if a.opts.Events == nil {
		server.WriteJSON(w, http.StatusOK, map[string]any{"events": []identity.Event{}, "next": ""})
		return
	}
	if f.IdentityID != "" && f.Email == "" && a.opts.Directory != nil {
		// The identity's address too: events from before it was linked.
		email, err := a.opts.Directory.EmailOf(r.Context(), f.IdentityID)
		switch {
		case err == nil:
			f.Email = identity.NormalizeIdentifier(email)
		case errors.Is(err, kratos.ErrNotFound):
			// A deleted identity: its id is all there is.
		default:
			a.opts.Logger.Error("list events: identity lookup", "error", err)
			server.WriteError(w, http.StatusServiceUnavailable, "unavailable", "Kratos' admin API is unavailable")
			return
		}
	}
	events, next, err := a.opts.Events.List(r.Context(), f)
	if err != nil {
		if errors.Is(err, identity.ErrBadCursor) {
			badRequest(w, "after is not a cursor this API returned")
			return
		}
		a.opts.Logger.Error("list events", "error", err)
		server.WriteError(w, http.StatusServiceUnavailable, "unavailable", "the event log is unavailable")
		return
	}
	if events == nil {
		events = []identity.Event{}
	}
	server.WriteJSON(w, http.StatusOK, map[string]any{"events": events, "next": next})
}
