// Package web serves the identity edge over HTTP: the hosted pages for
// Kratos' self-service flows (rendered generically from the flows' UI nodes),
// the reverse proxy that is the only public path to Kratos' public API, and
// the checks the platform adds in that proxy (password composition rules).
package web

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/learnplatform/platform/identity"
	"github.com/learnplatform/platform/identity/kratos"
	"github.com/learnplatform/platform/kit/token"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configure the edge.
type Options struct {
	Kratos *kratos.Client
	// KratosPublic is Kratos' own public address, private to the edge.
	KratosPublic *url.URL
	// PublicURL is the edge's address as browsers see it.
	PublicURL *url.URL
	// AllowedReturn are the URL prefixes return_to may name.
	AllowedReturn []*url.URL
	Password      identity.PasswordRules
	MaxBodyBytes  int64
	Logger        *slog.Logger

	// Lockouts counts failed password sign-ins (nil: no lockout).
	Lockouts identity.Lockouts
	// Events is the auth event log (nil: nothing recorded).
	Events identity.EventLog
	// Notifier tells users about their account (nil: nobody is told).
	Notifier Notifier
	// Tokens validates the access tokens of the admin API.
	Tokens *token.Validator
	// Admin changes identities (roles, states) and ends their sessions
	// through Kratos' admin API.
	Admin identity.Identities
	// Revoker writes token revocation records (kit/revocation's Store):
	// every change that takes access away also voids the tokens already
	// issued. Required.
	Revoker identity.Revoker
	// OAuth ends a user's Hydra login and consent sessions (identity/hydra).
	// Required.
	OAuth identity.OAuthSessions
	// HookSecret authenticates Kratos' web hooks.
	HookSecret string
	// Directory finds accounts by address (Kratos' admin API): failures
	// and lockouts are logged under the account's id, lockout notices go
	// only to existing accounts (nil: no links, no notices).
	Directory Directory
	// MailQuota limits the mail sent through the edge (nil: no limits).
	MailQuota identity.MailQuota
	// TrustedProxies are the proxies whose X-Forwarded-For is believed
	// (nil: none; the peer's address is the client's).
	TrustedProxies []netip.Prefix
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Registerer receives the edge's metrics (nil: not exported).
	Registerer prometheus.Registerer
}

// Notifier tells users what happened to their account.
type Notifier interface {
	LockedOut(ctx context.Context, email string, until time.Time)
}

// Directory looks identities up in Kratos' admin API (kratos.Client).
type Directory interface {
	// IdentityByEmail is the identity whose password identifier is email
	// (an error matching kratos.ErrNotFound when there is none).
	IdentityByEmail(ctx context.Context, email string) (string, error)
	// EmailOf is the identity's address (traits.email).
	EmailOf(ctx context.Context, identityID string) (string, error)
}

// Handler serves the edge.
type Handler struct {
	opts    Options
	metrics *metrics
	pages   map[string]*template.Template
	proxy   http.Handler
	// revoker is opts.Revoker, bounded in time and counted.
	revoker identity.Revoker
	// accounts are the actions that end access (admin API, account page).
	accounts *identity.Accounts
	// retryDelays space the background retries of a revocation that
	// follows something already done (a sign-out, a password change).
	retryDelays []time.Duration
	// dirCache remembers Directory answers (identityOf).
	dirMu    sync.Mutex
	dirCache map[string]directoryEntry
	// bg is the work done after answering (background).
	bg sync.WaitGroup
}

// New prepares templates and the proxy.
func New(opts Options) (*Handler, error) {
	switch {
	case opts.Revoker == nil:
		return nil, errors.New("web: Options.Revoker is required: sign-outs and account changes must void access tokens")
	case opts.OAuth == nil:
		return nil, errors.New("web: Options.OAuth is required")
	case opts.Admin == nil:
		return nil, errors.New("web: Options.Admin is required")
	}
	h := &Handler{opts: opts, pages: map[string]*template.Template{}, metrics: newMetrics(opts.Registerer),
		retryDelays: defaultRetryDelays, dirCache: map[string]directoryEntry{}}
	h.revoker = observedRevoker{next: opts.Revoker, m: h.metrics}
	h.accounts = &identity.Accounts{Identities: opts.Admin, OAuth: opts.OAuth, Revoker: h.revoker}
	for _, page := range []string{"flow", "welcome", "error", "logout", "security"} {
		t, err := template.New("").Funcs(template.FuncMap{"eventText": eventText}).
			ParseFS(templateFS, "templates/layout.html", "templates/"+page+".html")
		if err != nil {
			return nil, err
		}
		h.pages[page] = t
	}
	h.proxy = h.newProxy()
	return h, nil
}

// Mount adds the edge's routes.
func (h *Handler) Mount(router chi.Router) {
	r := router.With(h.singleCookie)
	static, _ := fs.Sub(staticFS, "static")
	r.Handle("/static/*", http.StripPrefix("/static/", cacheStatic(http.FileServer(http.FS(static)))))
	r.Get("/", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/welcome", http.StatusSeeOther) })
	for _, k := range kratos.Kinds {
		r.Get("/"+string(k), h.flowPage(k))
	}
	r.Get("/error", h.errorPage)
	r.Get("/welcome", h.welcome)
	r.Get("/logout", h.logoutConfirm)
	r.Post("/logout", h.logout)
	r.Get("/security", h.security)
	r.Post("/security/sessions/end-others", h.endOtherSessions)
	r.Post("/security/sessions/end-all", h.signOutEverywhere)
	r.Post("/security/sessions/{id}/end", h.endSession)
	h.mountAdmin(r)
	// Kratos' public API, under the edge's origin.
	for _, prefix := range []string{"/self-service/*", "/sessions/*", "/.well-known/ory/*", "/schemas/*"} {
		r.Handle(prefix, h.proxy)
	}
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

type link struct{ Href, Text string }

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, page string, d pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; form-action 'self' http: https:; frame-ancestors 'none'")
	w.Header().Set("Referrer-Policy", "same-origin")
	w.WriteHeader(status)
	if err := h.pages[page].ExecuteTemplate(w, "layout", d); err != nil {
		h.opts.Logger.Error("render", "page", page, "error", err)
	}
}

// Message ids of the edge's own notices (Kratos leaves 4000900+ free).
const (
	MsgFlowRestarted int64 = 4000950 + iota
	MsgUnavailable
	MsgBadReturnTo
	MsgBadRequest
	MsgTooLarge
	MsgUnsupportedType
)

func notice(id int64, typ, text string) kratos.Text {
	return kratos.Text{ID: id, Type: typ, Text: text}
}

// showError renders the error page (or JSON for API clients) with status.
func (h *Handler) showError(w http.ResponseWriter, r *http.Request, status int, code, text string) {
	if wantsJSON(r) {
		writeJSONError(w, status, code, text)
		return
	}
	h.render(w, r, status, "error", pageData{Title: http.StatusText(status), ErrorText: text})
}

func (h *Handler) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	h.opts.Logger.Warn("kratos unavailable", "error", err)
	w.Header().Set("Retry-After", "30")
	h.showError(w, r, http.StatusServiceUnavailable, "unavailable",
		"Sign-in is unavailable right now. Please try again in a minute.")
}

// returnTo checks a return_to value against the allow-list and returns it
// absolute. Relative paths are taken as the edge's own.
func (h *Handler) returnTo(raw string) (string, bool) {
	if raw == "" {
		return "", true
	}
	if strings.ContainsAny(raw, "\\\r\n\t") {
		return "", false
	}
	if strings.HasPrefix(raw, "/") && !strings.HasPrefix(raw, "//") {
		raw = strings.TrimSuffix(h.opts.PublicURL.String(), "/") + raw
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return "", false
	}
	allowed := append([]*url.URL{h.opts.PublicURL}, h.opts.AllowedReturn...)
	for _, a := range allowed {
		if strings.EqualFold(u.Scheme, a.Scheme) && strings.EqualFold(u.Host, a.Host) && strings.HasPrefix(u.Path+"/", strings.TrimSuffix(a.Path, "/")+"/") {
			return u.String(), true
		}
	}
	return "", false
}

func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json") ||
		strings.HasPrefix(r.Header.Get("Content-Type"), "application/json")
}
