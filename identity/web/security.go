package web

import (
	"errors"
	"net/http"

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

func (h *Handler) endSession(w http.ResponseWriter, r *http.Request) {
	if !h.sameOrigin(r) {
		h.showError(w, r, http.StatusForbidden, "cross_site", "This must be done from this site.")
		return
	}
	id := chi.URLParam(r, "id")
	if !validUUID(id) {
		h.showError(w, r, http.StatusBadRequest, "bad_request", "That is not a session.")
		return
	}
	if err := h.opts.Kratos.EndSession(r.Context(), r.Header.Get("Cookie"), id); err != nil && !errors.Is(err, kratos.ErrFlowGone) {
		if errors.Is(err, kratos.ErrNoSession) {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		h.unavailable(w, r, err)
		return
	}
	http.Redirect(w, r, "/security?ended=1", http.StatusSeeOther)
}

func (h *Handler) endOtherSessions(w http.ResponseWriter, r *http.Request) {
	if !h.sameOrigin(r) {
		h.showError(w, r, http.StatusForbidden, "cross_site", "This must be done from this site.")
		return
	}
	n, err := h.opts.Kratos.EndOtherSessions(r.Context(), r.Header.Get("Cookie"))
	if err != nil {
		if errors.Is(err, kratos.ErrNoSession) {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		h.unavailable(w, r, err)
		return
	}
	http.Redirect(w, r, "/security?ended="+itoa(n), http.StatusSeeOther)
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
