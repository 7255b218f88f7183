package web

import (
	"github.com/learnplatform/platform/kit/account"

	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/learnplatform/platform/identity"
	"github.com/learnplatform/platform/identity/kratos"
	"github.com/learnplatform/platform/kit/server"
	"github.com/learnplatform/platform/kit/token"
)

// HookSecretHeader carries the shared secret on Kratos' web hook calls.
const HookSecretHeader = "X-Hook-Secret"

func (h *Handler) mountAdmin(r chi.Router) {
	if h.opts.Tokens == nil {
		return
	}
	r.Route("/admin", func(r chi.Router) {
		// RequireUser refuses clients' own (client_credentials) tokens: an
		// admin is a person.
		r.Use(token.RequireUser(h.opts.Tokens), token.RequireRole(account.RoleAdmin))
		h.mountUsers(r)
		r.Get("/lockouts", h.listLocks)
		r.Delete("/lockouts/{identifier}", h.clearLock)
		r.Get("/auth-events", h.listEvents)
	})
	r.Post("/hooks/kratos/{event}", h.kratosHook)
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

func validUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
		} else if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func (h *Handler) listLocks(w http.ResponseWriter, r *http.Request) {
	if h.opts.Lockouts == nil { // lockout off: nothing is ever locked
		server.WriteJSON(w, http.StatusOK, map[string]any{"lockouts": []identity.Lock{}})
		return
	}
	locks, err := h.opts.Lockouts.Locked(r.Context(), h.now())
	if err != nil {
		h.opts.Logger.Error("list locks", "error", err)
		server.WriteError(w, http.StatusServiceUnavailable, "unavailable", "the lockout store is unavailable")
		return
	}
	if locks == nil {
		locks = []identity.Lock{}
	}
	server.WriteJSON(w, http.StatusOK, map[string]any{"lockouts": locks})
}

func (h *Handler) clearLock(w http.ResponseWriter, r *http.Request) {
	raw, err := url.PathUnescape(chi.URLParam(r, "identifier"))
	ident := identity.NormalizeIdentifier(raw)
	if err != nil || !identity.PlausibleIdentifier(ident) {
		badRequest(w, "the identifier must be an email address")
		return
	}
	if h.opts.Lockouts == nil {
		server.WriteError(w, http.StatusNotFound, "not_found", "no lockout for "+ident)
		return
	}
	cleared, err := h.opts.Lockouts.Clear(r.Context(), ident)
	if err != nil {
		h.opts.Logger.Error("clear lock", "error", err)
		server.WriteError(w, http.StatusServiceUnavailable, "unavailable", "the lockout store is unavailable")
		return
	}
	if !cleared {
		server.WriteError(w, http.StatusNotFound, "not_found", "no lockout for "+ident)
		return
	}
	admin, _ := token.UserFrom(r.Context())
	h.record(r.Context(), identity.Event{Type: identity.EventUnlock, Email: ident,
		Detail: map[string]any{"reason": "admin", "by": admin.ID}}, h.clientOf(r))
	w.WriteHeader(http.StatusNoContent)
}

// eventParams are the query parameters GET /admin/auth-events knows.
var eventParams = []string{"identity_id", "email", "type", "since", "until", "limit", "after"}

// listEvents: GET /admin/auth-events?identity_id=&email=&type=&since=&until=&limit=&after=
// identity_id matches the identity's events and those that name its
// address (failures logged before the account could be linked); email
// matches by address. Unknown or repeated parameters are refused.
func (h *Handler) listEvents(w http.ResponseWriter, r *http.Request) {
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
	if f.IdentityID != "" && !validUUID(f.IdentityID) {
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
	if f.IdentityID != "" && f.Email == "" && h.opts.Directory != nil {
		// The identity's address too: events from before it was linked.
		email, err := h.opts.Directory.EmailOf(r.Context(), f.IdentityID)
		switch {
		case err == nil:
			f.Email = identity.NormalizeIdentifier(email)
		case errors.Is(err, kratos.ErrNotFound):
			// A deleted identity: its id is all there is.
		default:
			h.opts.Logger.Error("list events: identity lookup", "error", err)
			server.WriteError(w, http.StatusServiceUnavailable, "unavailable", "Kratos' admin API is unavailable")
			return
		}
	}
	events, next, err := h.opts.Events.List(r.Context(), f)
	if err != nil {
		if strings.Contains(err.Error(), "cursor") {
			badRequest(w, "after is not a cursor this API returned")
			return
		}
		h.opts.Logger.Error("list events", "error", err)
		server.WriteError(w, http.StatusServiceUnavailable, "unavailable", "the event log is unavailable")
		return
	}
	if events == nil {
		events = []identity.Event{}
	}
	server.WriteJSON(w, http.StatusOK, map[string]any{"events": events, "next": next})
}

// hookBody is what ory-config/kratos/hooks/auth-event.jsonnet sends.
type hookBody struct {
	IdentityID string `json:"identity_id"`
	Email      string `json:"email"`
	FlowID     string `json:"flow_id"`
	Method     string `json:"method"`
	RequestURL string `json:"request_url"`
	IP         string `json:"ip"`
	UserAgent  string `json:"user_agent"`
}

// kratosHook receives Kratos' after-hooks: what happened in a flow that
// Kratos completed. The path names the hook.
func (h *Handler) kratosHook(w http.ResponseWriter, r *http.Request) {
	if subtle.ConstantTimeCompare([]byte(r.Header.Get(HookSecretHeader)), []byte(h.opts.HookSecret)) != 1 {
		h.opts.Logger.Warn("kratos hook with a wrong secret", "remote", r.RemoteAddr, "hook", chi.URLParam(r, "event"))
		server.WriteError(w, http.StatusUnauthorized, "unauthorized", "wrong hook secret")
		return
	}
	var b hookBody
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&b); err != nil {
		badRequest(w, "not a hook body")
		return
	}
	e := identity.Event{IdentityID: b.IdentityID, Email: identity.NormalizeIdentifier(b.Email), FlowID: b.FlowID,
		Detail: map[string]any{}}
	if b.Method != "" {
		e.Detail["method"] = b.Method
	}
	if !validUUID(e.IdentityID) {
		e.IdentityID = ""
	}
	if !validUUID(e.FlowID) {
		e.FlowID = ""
	}
	switch chi.URLParam(r, "event") {
	case "registration":
		e.Type = identity.EventRegistration
	case "login":
		e.Type = identity.EventLoginSucceeded
	case "verification":
		e.Type = identity.EventVerificationCompleted
	case "recovery":
		e.Type = identity.EventRecoveryCompleted
		// Proving control of the mailbox ends a lockout (the owner was told
		// by mail how to get back in).
		if h.opts.Lockouts != nil {
			if cleared, err := h.opts.Lockouts.Clear(r.Context(), e.Email); err == nil && cleared {
				h.record(r.Context(), identity.Event{Type: identity.EventUnlock, IdentityID: e.IdentityID, Email: e.Email,
					Detail: map[string]any{"reason": "recovery"}}, client{IP: firstAddr(b.IP), UserAgent: b.UserAgent})
			}
		}
	case "settings-password":
		e.Type = identity.EventPasswordChanged
	case "settings-profile":
		e.Type = identity.EventProfileChanged
	case "settings-oidc":
		// Linking finishes at the provider's callback; unlinking is a plain
		// settings post.
		e.Type = identity.EventSocialUnlinked
		if strings.Contains(b.RequestURL, "/callback/") {
			e.Type = identity.EventSocialLinked
		}
	default:
		server.WriteError(w, http.StatusNotFound, "not_found", "no such hook")
		return
	}
	h.record(r.Context(), e, client{IP: firstAddr(b.IP), UserAgent: b.UserAgent})
	if e.Type == identity.EventRecoveryCompleted && e.IdentityID != "" {
		// Whoever made the account's tokens (someone who knew the old
		// password, say) loses them: every token issued so far is void.
		// Kratos calls this hook asynchronously and ignores the answer, so
		// a failed write is retried here.
		id := e.IdentityID
		err := h.revokeEventually(r.Context(), identity.ReasonRecovered, func(ctx context.Context) error {
			return h.revoker.RevokeSubject(ctx, id, "", identity.ReasonRecovered)
		}, "user", id)
		if err != nil {
			server.WriteError(w, http.StatusServiceUnavailable, "unavailable", "the recovery was recorded but the account's tokens are not revoked yet; retrying")
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// firstAddr is the client's address from an X-Forwarded-For list.
func firstAddr(xff string) string {
	first, _, _ := strings.Cut(xff, ",")
	return strings.TrimSpace(first)
}
