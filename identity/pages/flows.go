package pages

import (
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/learnplatform/platform/kit/kratos"
)

var titles = map[kratos.Kind]string{
	kratos.Login:        "Sign in",
	kratos.Registration: "Create your account",
	kratos.Verification: "Verify your email",
	kratos.Recovery:     "Recover your account",
	kratos.Settings:     "Account settings",
}

func linksFor(kind kratos.Kind) []link {
	switch kind {
	case kratos.Login:
		return []link{{"/registration", "Create an account"}, {"/recovery", "Forgot your password?"}}
	case kratos.Registration:
		return []link{{"/login", "Already have an account? Sign in"}}
	case kratos.Recovery, kratos.Verification:
		return []link{{"/login", "Back to sign in"}}
	case kratos.Settings:
		return []link{{"/security", "Account security: recent sign-ins and sessions"}, {"/welcome", "Back to your account"}}
	}
	return nil
}

// Parameters a page passes on when it starts a flow at Kratos.
var initParams = []string{"refresh", "aal", "login_challenge", "via"}

// flowPage renders a flow, or starts one when the URL has no flow id.
func (ui *UI) flowPage(kind kratos.Kind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		returnTo, ok := ui.ReturnTo(q.Get("return_to"))
		if !ok {
			ui.ShowError(w, r, http.StatusBadRequest, "bad_return_to", "That return address is not allowed.")
			return
		}
		id := q.Get("flow")
		if id == "" {
			init := url.Values{}
			if returnTo != "" {
				init.Set("return_to", returnTo)
			}
			for _, p := range initParams {
				if v := q.Get(p); v != "" {
					init.Set(p, v)
				}
			}
			target := "/self-service/" + string(kind) + "/browser"
			if len(init) > 0 {
				target += "?" + init.Encode()
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		f, err := ui.opts.Kratos.Flow(r.Context(), kind, id, r.Header.Get("Cookie"), "")
		if err == nil && !f.IsBrowser() {
			err = kratos.ErrFlowGone
		}
		if err != nil {
			ui.flowFailed(w, r, kind, returnTo, err)
			return
		}
		ui.ShowFlow(w, r, http.StatusOK, f)
	}
}

// flowFailed handles a flow that could not be fetched: a gone flow starts
// anew with a message; a missing session leads to sign-in.
func (ui *UI) flowFailed(w http.ResponseWriter, r *http.Request, kind kratos.Kind, returnTo string, err error) {
	var redirect *kratos.RedirectError
	switch {
	case errors.As(err, &redirect):
		http.Redirect(w, r, redirect.To, http.StatusSeeOther)
	case errors.Is(err, kratos.ErrNoSession):
		http.Redirect(w, r, "/login?return_to="+url.QueryEscape(ui.URL("/"+string(kind))), http.StatusSeeOther)
	case errors.Is(err, kratos.ErrFlowGone):
		ui.Restart(w, r, kind, returnTo, kratos.Text{ID: MsgFlowRestarted, Type: "info",
			Text: "That form had expired or was not found, so here is a new one. Please try again."})
	case errors.Is(err, kratos.ErrUnavailable):
		ui.Unavailable(w, r, err)
	default:
		ui.opts.Logger.Error("flow", "kind", kind, "error", err)
		ui.ShowError(w, r, http.StatusBadGateway, "identity_error", "Something went wrong on our side. Please try again.")
	}
}

// Restart creates a new browser flow on the browser's behalf and shows it
// with notice n; the CSRF cookie Kratos set is passed on to the browser.
func (ui *UI) Restart(w http.ResponseWriter, r *http.Request, kind kratos.Kind, returnTo string, n kratos.Text) {
	created, err := ui.opts.Kratos.NewBrowserFlow(r.Context(), kind, r.Header.Get("Cookie"), returnTo)
	if err != nil {
		if errors.Is(err, kratos.ErrFlowGone) { // e.g. registration while signed in
			http.Redirect(w, r, "/welcome", http.StatusSeeOther)
			return
		}
		ui.flowFailed(w, r, kind, returnTo, errors.Join(err, errRestartFailed))
		return
	}
	for _, c := range created.SetCookies {
		w.Header().Add("Set-Cookie", c)
	}
	created.Flow.UI.Messages = append([]kratos.Text{n}, created.Flow.UI.Messages...)
	ui.ShowFlow(w, r, http.StatusOK, created.Flow)
}

var errRestartFailed = errors.New("could not start a new flow")

// recoveryMethods are how a session that came from account recovery was made.
var recoveryMethods = []string{"code_recovery", "link_recovery"}

// msgSettingsSaved is Kratos' "Your changes have been saved!".
const msgSettingsSaved = 1050001

// ShowFlow renders flow f with status: one form per method group.
func (ui *UI) ShowFlow(w http.ResponseWriter, r *http.Request, status int, f *kratos.Flow) {
	d := pageData{Title: titles[f.Kind], Notices: f.UI.Messages, Links: linksFor(f.Kind)}
	d.Forms = buildForms(f, ui.opts.Password.Rules())
	if f.Kind == kratos.Settings {
		s, err := ui.opts.Kratos.Whoami(r.Context(), r.Header.Get("Cookie"), "")
		if err == nil {
			d.Session = s
			if m, err := ui.opts.Kratos.LinkedMethods(r.Context(), s.IdentityID); err == nil {
				d.Methods = m
			}
			// After recovery the account's old password is not known to be
			// safe: the page asks for a new one before anything else.
			recovered := len(s.Methods) > 0 && !slices.ContainsFunc(s.Methods, func(m string) bool {
				return !slices.Contains(recoveryMethods, m)
			})
			outdated := mustChangePassword(r)
			if (recovered || outdated) && !f.HasMessage(msgSettingsSaved) {
				d.Title = "Choose a new password"
				d.Forms = slices.DeleteFunc(d.Forms, func(fm form) bool { return fm.Group != "password" })
				d.Links = nil
				d.Methods = nil
				if outdated {
					d.Notices = append([]kratos.Text{{ID: MsgPasswordOutdated, Type: "info",
						Text: "Your password does not meet the current password rules. Choose a new one to continue."}}, d.Notices...)
				}
			}
		}
	}
	for _, fm := range d.Forms {
		for _, fl := range fm.Fields {
			if len(fl.Rules) > 0 {
				d.Strength = true
			}
		}
	}
	ui.render(w, status, "flow", d)
}

func (ui *UI) errorPage(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	if id == "" {
		ui.ShowError(w, r, http.StatusNotFound, "not_found", "There is no error to show.")
		return
	}
	e, err := ui.opts.Kratos.Error(r.Context(), id)
	if err != nil {
		if errors.Is(err, kratos.ErrUnavailable) {
			ui.Unavailable(w, r, err)
			return
		}
		ui.ShowError(w, r, http.StatusNotFound, "not_found", "That error is unknown or has expired.")
		return
	}
	text := e.Message
	if e.Reason != "" {
		text = e.Reason
	}
	if e.ID == "security_csrf_violation" || e.Message == "the request was rejected to protect you from Cross-Site-Request-Forgery" {
		text = "The form was sent from a page that is no longer valid (it may have been open in another tab). Please start again."
	}
	status := e.Code
	if status < 400 || status > 599 {
		status = http.StatusBadRequest
	}
	ui.render(w, status, "error", pageData{Title: "Something went wrong", ErrorText: text, ErrorDetail: e.Status})
}

func (ui *UI) welcome(w http.ResponseWriter, r *http.Request) {
	if mustChangePassword(r) {
		http.Redirect(w, r, "/settings", http.StatusSeeOther)
		return
	}
	cookie := r.Header.Get("Cookie")
	s, err := ui.opts.Kratos.Whoami(r.Context(), cookie, "")
	if err != nil {
		if errors.Is(err, kratos.ErrNoSession) {
			http.Redirect(w, r, "/login?return_to="+url.QueryEscape(ui.URL("/welcome")), http.StatusSeeOther)
			return
		}
		ui.Unavailable(w, r, err)
		return
	}
	d := pageData{Title: "Your account", Session: s}
	if !s.EmailVerified {
		// The banner's resend form is a real verification flow, made for
		// this browser, with the address filled in.
		if created, err := ui.opts.Kratos.NewBrowserFlow(r.Context(), kratos.Verification, cookie, ""); err == nil {
			for _, c := range created.SetCookies {
				w.Header().Add("Set-Cookie", c)
			}
			f := created.Flow
			if n := f.UI.Find("email"); n != nil {
				n.SetValue(s.Email)
			}
			for i := range f.UI.Nodes {
				if n := &f.UI.Nodes[i]; n.InputType() == "submit" {
					n.Meta.Label = &kratos.Text{Text: "Resend verification code", Type: "info"}
				}
			}
			d.Forms = buildForms(f, nil)
		}
	}
	ui.render(w, http.StatusOK, "welcome", d)
}

func (ui *UI) logoutConfirm(w http.ResponseWriter, r *http.Request) {
	s, err := ui.opts.Kratos.Whoami(r.Context(), r.Header.Get("Cookie"), "")
	if err != nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	ui.render(w, http.StatusOK, "logout", pageData{Title: "Sign out", Session: s})
}

// logout ends the Kratos session: a same-origin POST only, so another site
// cannot sign the user out.
func (ui *UI) logout(w http.ResponseWriter, r *http.Request) {
	if !ui.sameOrigin(r) {
		ui.ShowError(w, r, http.StatusForbidden, "cross_site", "Sign-out must be started from this site.")
		return
	}
	u, err := ui.opts.Kratos.LogoutURL(r.Context(), r.Header.Get("Cookie"), "")
	if err != nil {
		if errors.Is(err, kratos.ErrNoSession) {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		ui.Unavailable(w, r, err)
		return
	}
	http.Redirect(w, r, u, http.StatusSeeOther)
}
