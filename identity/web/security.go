package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/learnplatform/platform/identity"
	"github.com/learnplatform/platform/identity/kratos"
)

// securityView is the account security page.
type securityView struct {
	Activity []identity.Event
	Devices  []kratos.Device
}

// security shows the user's own recent sign-ins and failures, linked
// sign-in methods and active sessions.
func (h *Handler) security(w http.ResponseWriter, r *http.Request) {
	cookie := r.Header.Get("Cookie")
	s, err := h.opts.Kratos.Whoami(r.Context(), cookie, "")
	if err != nil {
		if errors.Is(err, kratos.ErrNoSession) {
			http.Redirect(w, r, "/login?return_to="+h.self("/security"), http.StatusSeeOther)
			return
		}
		h.unavailable(w, r, err)
		return
	}
	d := pageData{Title: "Account security", Session: s, Security: &securityView{}}
	if h.opts.Events != nil {
		events, _, err := h.opts.Events.List(r.Context(), identity.EventFilter{
			IdentityID: s.IdentityID, Email: identity.NormalizeIdentifier(s.Email), Limit: 20})
		if err != nil {
			h.opts.Logger.Error("security page events", "error", err)
		}
		d.Security.Activity = events
	}
	if m, err := h.opts.Kratos.LinkedMethods(r.Context(), s.IdentityID); err == nil {
		d.Methods = m
	}
	if devs, err := h.opts.Kratos.MySessions(r.Context(), cookie); err == nil {
		d.Security.Devices = devs
	} else {
		h.opts.Logger.Error("security page sessions", "error", err)
	}
	if n := r.URL.Query().Get("ended"); n != "" {
		d.Notices = []kratos.Text{{Type: "success", Text: "Signed out " + n + " other session(s)."}}
	}
	h.render(w, r, http.StatusOK, "security", d)
}

// endSession signs out one of the user's other sessions and voids the
// tokens minted from it.
func (h *Handler) endSession(w http.ResponseWriter, r *http.Request) {
	if !h.sameOrigin(r) {
		h.showError(w, r, http.StatusForbidden, "cross_site", "This must be done from this site.")
		return
	}
	id := strings.ToLower(chi.URLParam(r, "id"))
	if !validUUID(id) {
		h.showError(w, r, http.StatusBadRequest, "bad_request", "That is not a session.")
		return
	}
	cookie := r.Header.Get("Cookie")
	s, ok := h.signedIn(w, r, cookie)
	if !ok {
		return
	}
	if id == s.ID {
		h.showError(w, r, http.StatusBadRequest, "bad_request", "That is this browser's session: use Sign out to end it.")
		return
	}
	// Only the user's own sessions: the revocation below must not void
	// someone else's tokens. Asked of the admin API, which also knows a
	// session already ended (a retry after a failed revocation).
	owner, err := h.opts.Kratos.SessionOwner(r.Context(), id)
	switch {
	case errors.Is(err, kratos.ErrNotFound) || err == nil && owner != s.IdentityID:
		h.showError(w, r, http.StatusNotFound, "not_found", "That is not one of your sessions.")
		return
	case err != nil:
		h.unavailable(w, r, err)
		return
	}
	if err := h.opts.Kratos.EndSession(r.Context(), cookie, id); err != nil && !errors.Is(err, kratos.ErrFlowGone) {
		if errors.Is(err, kratos.ErrNoSession) {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		h.unavailable(w, r, err)
		return
	}
	if err := h.revoker.RevokeSession(r.Context(), id, identity.ReasonSignOut); err != nil {
		h.notRevoked(w, r, err, "The session was signed out, but apps it signed in to may keep access for up to 6 hours.",
			"user", s.IdentityID, "session", id)
		return
	}
	http.Redirect(w, r, "/security?ended=1", http.StatusSeeOther)
}

// endOtherSessions signs out every session but this browser's and voids
// the tokens minted from them.
func (h *Handler) endOtherSessions(w http.ResponseWriter, r *http.Request) {
	if !h.sameOrigin(r) {
		h.showError(w, r, http.StatusForbidden, "cross_site", "This must be done from this site.")
		return
	}
	cookie := r.Header.Get("Cookie")
	s, ok := h.signedIn(w, r, cookie)
	if !ok {
		return
	}
	n, err := h.opts.Kratos.EndOtherSessions(r.Context(), cookie)
	if err != nil {
		if errors.Is(err, kratos.ErrNoSession) {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		h.unavailable(w, r, err)
		return
	}
	if err := h.revoker.RevokeSubject(r.Context(), s.IdentityID, s.ID, identity.ReasonSignOutOthers); err != nil {
		h.notRevoked(w, r, err, "Your other sessions were signed out, but apps they signed in to may keep access for up to 6 hours.",
			"user", s.IdentityID, "kept_session", s.ID)
		return
	}
	http.Redirect(w, r, "/security?ended="+itoa(n), http.StatusSeeOther)
}

// signOutEverywhere ends every session of the user, this browser's too,
// their Hydra login and consent sessions (no silent sign-in, no refresh),
// and voids every token issued to them, then shows the sign-in page.
func (h *Handler) signOutEverywhere(w http.ResponseWriter, r *http.Request) {
	if !h.sameOrigin(r) {
		h.showError(w, r, http.StatusForbidden, "cross_site", "This must be done from this site.")
		return
	}
	s, ok := h.signedIn(w, r, r.Header.Get("Cookie"))
	if !ok {
		return
	}
	err := h.accounts.EndSessions(r.Context(), s.IdentityID, identity.ReasonSignOutEverywhere)
	var partial *identity.ActionError
	if err != nil && !errors.As(err, &partial) {
		h.unavailable(w, r, err) // nothing was changed
		return
	}
	h.record(r.Context(), identity.Event{Type: identity.EventSignOutEverywhere, IdentityID: s.IdentityID,
		Email: identity.NormalizeIdentifier(s.Email), Detail: map[string]any{"session_id": s.ID}}, h.clientOf(r))
	// The session is gone at Kratos; the browser forgets its cookie too.
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: h.opts.PublicURL.Scheme == "https", SameSite: http.SameSiteLaxMode})
	if partial != nil {
		h.logRequestError(r, "sign out everywhere incomplete", "user", s.IdentityID,
			"done", partial.Done, "failed", partial.Failed, "tokens_revoked", partial.Revoked(), "error", err)
		w.Header().Set("Retry-After", "30")
		h.showError(w, r, http.StatusServiceUnavailable, "incomplete",
			"Sign-out everywhere did not finish: "+partial.Message()+" Sign in again to do so.")
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// signedIn is the browser's session; without one it sends the browser to
// sign in (or answers 503) and reports false.
func (h *Handler) signedIn(w http.ResponseWriter, r *http.Request, cookie string) (*kratos.Session, bool) {
	s, err := h.opts.Kratos.Whoami(r.Context(), cookie, "")
	if err != nil {
		if errors.Is(err, kratos.ErrNoSession) {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return nil, false
		}
		h.unavailable(w, r, err)
		return nil, false
	}
	return s, true
}

// notRevoked answers an account page action whose revocation failed.
func (h *Handler) notRevoked(w http.ResponseWriter, r *http.Request, err error, done string, attrs ...any) {
	h.logRequestError(r, "token revocation not written", append(attrs, "error", err)...)
	w.Header().Set("Retry-After", "30")
	h.showError(w, r, http.StatusServiceUnavailable, "not_revoked", done+" Please try again in a minute.")
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
