// Package hooks receives Kratos' after-hooks (web_hook, asynchronous,
// body ory-config/kratos/hooks/auth-event.jsonnet) at
// POST /hooks/kratos/{event}: what happened in a flow Kratos completed
// (registration, sign-in, verification, recovery, settings) goes into the
// auth event log. A completed recovery also clears the account's lockout
// and voids every token issued to it. Calls must carry the shared secret
// in X-Hook-Secret. cmd/identity wires the package.
package hooks

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/learnplatform/platform/identity"
	"github.com/learnplatform/platform/identity/internal/edge"
	"github.com/learnplatform/platform/kit/server"
)

// SecretHeader carries the shared secret on Kratos' web hook calls.
const SecretHeader = "X-Hook-Secret"

// Options configure the receiver.
type Options struct {
	// Secret authenticates Kratos' calls. Required.
	Secret string
	// Lockouts is cleared by a completed recovery (nil: lockout off).
	Lockouts identity.Lockouts
	// Events is the auth event log (nil: nothing recorded).
	Events identity.EventLog
	// Revocations voids a recovered account's tokens. Required.
	Revocations *edge.Revocations
	Logger      *slog.Logger
}

// Receiver takes Kratos' web hook calls.
type Receiver struct {
	opts Options
}

// New returns a receiver.
func New(opts Options) (*Receiver, error) {
	switch {
	case opts.Secret == "":
		return nil, errors.New("hooks: Options.Secret is required")
	case opts.Revocations == nil:
		return nil, errors.New("hooks: Options.Revocations is required: a recovered account's tokens must be voided")
	}
	return &Receiver{opts: opts}, nil
}

// Mount adds POST /hooks/kratos/{event}.
func (h *Receiver) Mount(r chi.Router) {
	r.Post("/hooks/kratos/{event}", h.kratosHook)
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
func (h *Receiver) kratosHook(w http.ResponseWriter, r *http.Request) {
	if subtle.ConstantTimeCompare([]byte(r.Header.Get(SecretHeader)), []byte(h.opts.Secret)) != 1 {
		h.opts.Logger.Warn("kratos hook with a wrong secret", "remote", r.RemoteAddr, "hook", chi.URLParam(r, "event"))
		server.WriteError(w, http.StatusUnauthorized, "unauthorized", "wrong hook secret")
		return
	}
	var b hookBody
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&b); err != nil {
		server.WriteError(w, http.StatusBadRequest, "bad_request", "not a hook body")
		return
	}
	e := identity.Event{IdentityID: b.IdentityID, Email: identity.NormalizeIdentifier(b.Email), FlowID: b.FlowID,
		Detail: map[string]any{}}
	if b.Method != "" {
		e.Detail["method"] = b.Method
	}
	if !edge.ValidUUID(e.IdentityID) {
		e.IdentityID = ""
	}
	if !edge.ValidUUID(e.FlowID) {
		e.FlowID = ""
	}
	client := edge.Client{IP: firstAddr(b.IP), UserAgent: b.UserAgent}
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
				edge.Record(r.Context(), h.opts.Events, identity.Event{Type: identity.EventUnlock, IdentityID: e.IdentityID, Email: e.Email,
					Detail: map[string]any{"reason": "recovery"}}, client)
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
	edge.Record(r.Context(), h.opts.Events, e, client)
	if e.Type == identity.EventRecoveryCompleted && e.IdentityID != "" {
		// Whoever made the account's tokens (someone who knew the old
		// password, say) loses them: every token issued so far is void.
		// Kratos calls this hook asynchronously and ignores the answer, so
		// a failed write is retried here.
		id := e.IdentityID
		rev := h.opts.Revocations
		err := rev.Eventually(r.Context(), identity.ReasonRecovered, func(ctx context.Context) error {
			return rev.RevokeSubject(ctx, id, "", identity.ReasonRecovered)
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
