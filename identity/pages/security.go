package pages

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/learnplatform/platform/identity"
	"github.com/learnplatform/platform/identity/internal/edge"
	"github.com/learnplatform/platform/kit/kratos"
	"github.com/learnplatform/platform/kit/server"
)

// securityView is the account security page.
type securityView struct {
	Activity []identity.Event
	Devices  []kratos.Device
}

// eventText says what an auth event was, for the account page.
func eventText(e identity.Event) string {
	switch e.Type {
	case identity.EventLoginSucceeded:
		return "Signed in"
	case identity.EventLoginFailed:
		if e.Detail["reason"] == "locked" {
			return "Sign-in refused: account locked"
		}
		return "Failed sign-in (wrong password)"
	case identity.EventLockout:
		return "Account locked after failed sign-ins"
	case identity.EventUnlock:
		return "Account unlocked"
	case identity.EventLogout:
		return "Signed out"
	case identity.EventPasswordChanged:
		return "Password changed"
	case identity.EventRegistration:
		return "Account created"
	case identity.EventVerificationCompleted:
		return "Email verified"
	case identity.EventRecoveryCompleted:
		return "Account recovered"
	case identity.EventSocialLinked:
		return "Social sign-in linked"
	case identity.EventSocialUnlinked:
		return "Social sign-in unlinked"
	case identity.EventRoleChanged:
		return "Role changed"
	case identity.EventStateChanged:
		if e.Detail["to"] == identity.StateInactive {
			return "Account deactivated"
		}
		return "Account activated"
	case identity.EventSessionsRevoked:
		return "Signed out everywhere by an administrator"
	case identity.EventSignOutEverywhere:
		return "Signed out everywhere"
	}
	return e.Type
}

// security shows the user's own recent sign-ins and failures, linked
// sign-in methods and active sessions.
func (ui *UI) security(w http.ResponseWriter, r *http.Request) {
	cookie := r.Header.Get("Cookie")
	s, err := ui.opts.Kratos.Whoami(r.Context(), cookie, "")
	if err != nil {
		if errors.Is(err, kratos.ErrNoSession) {
			http.Redirect(w, r, "/login?return_to="+ui.URL("/security"), http.StatusSeeOther)
			return
		}
		ui.Unavailable(w, r, err)
		return
	}
	d := pageData{Title: "Account security", Session: s, Security: &securityView{}}
	if ui.opts.Events != nil {
		events, _, err := ui.opts.Events.List(r.Context(), identity.EventFilter{
			IdentityID: s.IdentityID, Email: identity.NormalizeIdentifier(s.Email), Limit: 20})
		if err != nil {
			ui.opts.Logger.Error("security page events", "error", err)
		}
		d.Security.Activity = events
	}
	if m, err := ui.opts.Kratos.LinkedMethods(r.Context(), s.IdentityID); err == nil {
		d.Methods = m
	}
	if devs, err := ui.opts.Kratos.MySessions(r.Context(), cookie); err == nil {
		d.Security.Devices = devs
	} else {
		ui.opts.Logger.Error("security page sessions", "error", err)
	}
	if n := r.URL.Query().Get("ended"); n != "" {
		d.Notices = []kratos.Text{{Type: "success", Text: "Signed out " + n + " other session(s)."}}
	}
	ui.render(w, http.StatusOK, "security", d)
}

// endSession signs out one of the user's other sessions and voids the
// tokens minted from it.
func (ui *UI) endSession(w http.ResponseWriter, r *http.Request) {
	if !ui.sameOrigin(r) {
		ui.ShowError(w, r, http.StatusForbidden, "cross_site", "This must be done from this site.")
		return
	}
	id := strings.ToLower(chi.URLParam(r, "id"))
	if !edge.ValidUUID(id) {
		ui.ShowError(w, r, http.StatusBadRequest, "bad_request", "That is not a session.")
		return
	}
	cookie := r.Header.Get("Cookie")
	s, ok := ui.signedIn(w, r, cookie)
	if !ok {
		return
	}
	if id == s.ID {
		ui.ShowError(w, r, http.StatusBadRequest, "bad_request", "That is this browser's session: use Sign out to end it.")
		return
	}
	// Only the user's own sessions: the revocation below must not void
	// someone else's tokens. Asked of the admin API, which also knows a
	// session already ended (a retry after a failed revocation).
	owner, err := ui.opts.Kratos.SessionOwner(r.Context(), id)
	switch {
	case errors.Is(err, kratos.ErrNotFound) || err == nil && owner != s.IdentityID:
		ui.ShowError(w, r, http.StatusNotFound, "not_found", "That is not one of your sessions.")
		return
	case err != nil:
		ui.Unavailable(w, r, err)
		return
	}
	if err := ui.opts.Kratos.EndSession(r.Context(), cookie, id); err != nil && !errors.Is(err, kratos.ErrFlowGone) {
		if errors.Is(err, kratos.ErrNoSession) {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		ui.Unavailable(w, r, err)
		return
	}
	if err := ui.opts.Revoker.RevokeSession(r.Context(), id, identity.ReasonSignOut); err != nil {
		ui.notRevoked(w, r, err, "The session was signed out, but apps it signed in to may keep access for up to 6 hours.",
			"user", s.IdentityID, "session", id)
		return
	}
	http.Redirect(w, r, "/security?ended=1", http.StatusSeeOther)
}

// endOtherSessions signs out every session but this browser's and voids
// the tokens minted from them.
func (ui *UI) endOtherSessions(w http.ResponseWriter, r *http.Request) {
	if !ui.sameOrigin(r) {
		ui.ShowError(w, r, http.StatusForbidden, "cross_site", "This must be done from this site.")
		return
	}
	cookie := r.Header.Get("Cookie")
	s, ok := ui.signedIn(w, r, cookie)
	if !ok {
		return
	}
	n, err := ui.opts.Kratos.EndOtherSessions(r.Context(), cookie)
	if err != nil {
		if errors.Is(err, kratos.ErrNoSession) {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		ui.Unavailable(w, r, err)
		return
	}
	if err := ui.opts.Revoker.RevokeSubject(r.Context(), s.IdentityID, s.ID, identity.ReasonSignOutOthers); err != nil {
		ui.notRevoked(w, r, err, "Your other sessions were signed out, but apps they signed in to may keep access for up to 6 hours.",
			"user", s.IdentityID, "kept_session", s.ID)
		return
	}
	http.Redirect(w, r, "/security?ended="+strconv.FormatInt(n, 10), http.StatusSeeOther)
}

// signOutEverywhere ends every session of the user, this browser's too,
// their Hydra login and consent sessions (no silent sign-in, no refresh),
// and voids every token issued to them, then shows the sign-in page.
func (ui *UI) signOutEverywhere(w http.ResponseWriter, r *http.Request) {
	if !ui.sameOrigin(r) {
		ui.ShowError(w, r, http.StatusForbidden, "cross_site", "This must be done from this site.")
		return
	}
	s, ok := ui.signedIn(w, r, r.Header.Get("Cookie"))
	if !ok {
		return
	}
	err := ui.opts.Accounts.EndSessions(r.Context(), s.IdentityID, identity.ReasonSignOutEverywhere)
	var partial *identity.ActionError
	if err != nil && !errors.As(err, &partial) {
		ui.Unavailable(w, r, err) // nothing was changed
		return
	}
	edge.Record(r.Context(), ui.opts.Events, identity.Event{Type: identity.EventSignOutEverywhere, IdentityID: s.IdentityID,
		Email: identity.NormalizeIdentifier(s.Email), Detail: map[string]any{"session_id": s.ID}},
		edge.ClientOf(r, ui.opts.TrustedProxies))
	// The session is gone at Kratos; the browser forgets its cookie too.
	http.SetCookie(w, &http.Cookie{Name: edge.SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: ui.opts.PublicURL.Scheme == "https", SameSite: http.SameSiteLaxMode})
	if partial != nil {
		ui.logRequestError(r, "sign out everywhere incomplete", "user", s.IdentityID,
			"done", partial.Done, "failed", partial.Failed, "tokens_revoked", partial.Revoked(), "error", err)
		w.Header().Set("Retry-After", "30")
		ui.ShowError(w, r, http.StatusServiceUnavailable, "incomplete",
			"Sign-out everywhere did not finish: "+partial.Message()+" Sign in again to do so.")
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// signedIn is the browser's session; without one it sends the browser to
// sign in (or answers 503) and reports false.
func (ui *UI) signedIn(w http.ResponseWriter, r *http.Request, cookie string) (*kratos.Session, bool) {
	s, err := ui.opts.Kratos.Whoami(r.Context(), cookie, "")
	if err != nil {
		if errors.Is(err, kratos.ErrNoSession) {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return nil, false
		}
		ui.Unavailable(w, r, err)
		return nil, false
	}
	return s, true
}

// notRevoked answers an account page action whose revocation failed.
func (ui *UI) notRevoked(w http.ResponseWriter, r *http.Request, err error, done string, attrs ...any) {
	ui.logRequestError(r, "token revocation not written", append(attrs, "error", err)...)
	w.Header().Set("Retry-After", "30")
	ui.ShowError(w, r, http.StatusServiceUnavailable, "not_revoked", done+" Please try again in a minute.")
}

// logRequestError logs an error of an account action with the request id.
func (ui *UI) logRequestError(r *http.Request, msg string, attrs ...any) {
	ui.opts.Logger.Error(msg, append(attrs, "request_id", server.RequestID(r.Context()))...)
}
