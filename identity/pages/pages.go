// Package pages is the identity edge's hosted UI: the pages of Kratos'
// self-service flows (/login, /registration, /verification, /recovery,
// /settings), rendered with html/template from the flows' UI nodes, and
// /error, /welcome, /logout and the account security page (/security) with
// its buttons that end sessions. The pages work without JavaScript.
//
// The proxy (identity/proxy) and the sign-in limits (identity/limits)
// answer browsers with these pages too: ShowFlow, ShowError and Restart.
// cmd/identity wires the package.
package pages

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/learnplatform/platform/identity"
	"github.com/learnplatform/platform/identity/internal/edge"
	"github.com/learnplatform/platform/kit/kratos"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configure the pages.
type Options struct {
	Kratos *kratos.Client
	// PublicURL is the edge's address as browsers see it.
	PublicURL *url.URL
	// AllowedReturn are the URL prefixes return_to may name.
	AllowedReturn []*url.URL
	// Password is the active password profile, whose rules the forms show
	// next to new-password inputs.
	Password identity.PasswordRules
	// Events is the auth event log: the security page lists the user's own
	// activity, and signing out everywhere is recorded (nil: neither).
	Events identity.EventLog
	// Accounts signs a user out everywhere (Kratos, Hydra, tokens).
	// Required.
	Accounts *identity.Accounts
	// Revoker voids the tokens of sessions ended from the security page
	// (identity/internal/edge.Revocations). Required.
	Revoker identity.Revoker
	// TrustedProxies are the proxies whose X-Forwarded-For is believed
	// (nil: none), for the addresses recorded in the event log.
	TrustedProxies []netip.Prefix
	Logger         *slog.Logger
}

// UI serves the hosted pages.
type UI struct {
	opts  Options
	pages map[string]*template.Template
}

// New parses the templates.
func New(opts Options) (*UI, error) {
	switch {
	case opts.Revoker == nil:
		return nil, errors.New("pages: Options.Revoker is required: ending a session must void its access tokens")
	case opts.Accounts == nil:
		return nil, errors.New("pages: Options.Accounts is required")
	}
	ui := &UI{opts: opts, pages: map[string]*template.Template{}}
	for _, page := range []string{"flow", "welcome", "error", "logout", "security"} {
		t, err := template.New("").Funcs(template.FuncMap{"eventText": eventText}).
			ParseFS(templateFS, "templates/layout.html", "templates/"+page+".html")
		if err != nil {
			return nil, fmt.Errorf("pages: template %s: %w", page, err)
		}
		ui.pages[page] = t
	}
	return ui, nil
}

// Mount adds the pages' routes.
func (ui *UI) Mount(r chi.Router) {
	static, _ := fs.Sub(staticFS, "static")
	r.Handle("/static/*", http.StripPrefix("/static/", cacheStatic(http.FileServer(http.FS(static)))))
	r.Get("/", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/welcome", http.StatusSeeOther) })
	for _, k := range kratos.Kinds {
		r.Get("/"+string(k), ui.flowPage(k))
	}
	r.Get("/error", ui.errorPage)
	r.Get("/welcome", ui.welcome)
	r.Get("/logout", ui.logoutConfirm)
	r.Post("/logout", ui.logout)
	r.Get("/security", ui.security)
	r.Post("/security/sessions/end-others", ui.endOtherSessions)
	r.Post("/security/sessions/end-all", ui.signOutEverywhere)
	r.Post("/security/sessions/{id}/end", ui.endSession)
}

func cacheStatic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		next.ServeHTTP(w, r)
	})
}

// pageData is what every template gets.
type pageData struct {
	Title       string
	Notices     []kratos.Text
	Forms       []form
	Links       []link
	Session     *kratos.Session
	Strength    bool
	Methods     []string
	ErrorText   string
	ErrorDetail string
	Security    *securityView
}

type link struct{ Href, Text string }

func (ui *UI) render(w http.ResponseWriter, status int, page string, d pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; form-action 'self' http: https:; frame-ancestors 'none'")
	w.Header().Set("Referrer-Policy", "same-origin")
	w.WriteHeader(status)
	if err := ui.pages[page].ExecuteTemplate(w, "layout", d); err != nil {
		ui.opts.Logger.Error("render", "page", page, "error", err)
	}
}

// MsgFlowRestarted is the notice on a flow the edge started anew (ids of
// the edge's own notices: Kratos leaves 4000900 and up free).
const MsgFlowRestarted int64 = 4000950

// ShowError renders the error page (or JSON for API clients) with status.
func (ui *UI) ShowError(w http.ResponseWriter, r *http.Request, status int, code, text string) {
	if edge.WantsJSON(r) {
		edge.WriteJSONError(w, status, code, text)
		return
	}
	ui.render(w, status, "error", pageData{Title: http.StatusText(status), ErrorText: text})
}

// Unavailable answers 503 when Kratos (or a store) cannot be reached.
func (ui *UI) Unavailable(w http.ResponseWriter, r *http.Request, err error) {
	ui.opts.Logger.Warn("kratos unavailable", "error", err)
	w.Header().Set("Retry-After", "30")
	ui.ShowError(w, r, http.StatusServiceUnavailable, "unavailable",
		"Sign-in is unavailable right now. Please try again in a minute.")
}

// ReturnTo checks a return_to value against the allow-list and returns it
// absolute. Relative paths are taken as the edge's own.
func (ui *UI) ReturnTo(raw string) (string, bool) {
	if raw == "" {
		return "", true
	}
	if strings.ContainsAny(raw, "\\\r\n\t") {
		return "", false
	}
	if strings.HasPrefix(raw, "/") && !strings.HasPrefix(raw, "//") {
		raw = strings.TrimSuffix(ui.opts.PublicURL.String(), "/") + raw
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return "", false
	}
	allowed := append([]*url.URL{ui.opts.PublicURL}, ui.opts.AllowedReturn...)
	for _, a := range allowed {
		if strings.EqualFold(u.Scheme, a.Scheme) && strings.EqualFold(u.Host, a.Host) && strings.HasPrefix(u.Path+"/", strings.TrimSuffix(a.Path, "/")+"/") {
			return u.String(), true
		}
	}
	return "", false
}

// URL is the absolute address of one of the edge's paths.
func (ui *UI) URL(path string) string {
	u := *ui.opts.PublicURL
	u.Path = path
	return u.String()
}

// sameOrigin accepts requests whose Origin (or, failing that, Referer) is
// the edge itself; browsers send one of them on every POST.
func (ui *UI) sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		return site == "same-origin" || site == "none"
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		origin = r.Header.Get("Referer")
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && u.Scheme == ui.opts.PublicURL.Scheme && u.Host == ui.opts.PublicURL.Host
}

// ChangePasswordCookie marks a browser that must choose a new password
// before anything else (its password falls short of the current policy;
// identity/proxy sets it at sign-in); its value is where the sign-in was
// headed.
const ChangePasswordCookie = "lp_change_password"

// MsgPasswordOutdated tells the user why they are asked for a new password.
const MsgPasswordOutdated int64 = 4000962

// mustChangePassword reports whether the browser has to choose a new
// password before anything else.
func mustChangePassword(r *http.Request) bool {
	_, err := r.Cookie(ChangePasswordCookie)
	return err == nil
}
