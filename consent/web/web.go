// Package web serves the consent app's HTTP side: Hydra's login, consent and
// logout endpoints, the consent page for third-party clients, and the token
// hook that keeps refreshed tokens' claims current.
package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/learnplatform/platform/consent"
	"github.com/learnplatform/platform/consent/hydra"
	"github.com/learnplatform/platform/consent/kratos"
)

//go:embed templates/*.html
var templateFS embed.FS

// Hydra is what the handlers need of Hydra's admin API.
type Hydra interface {
	Login(ctx context.Context, challenge string) (*hydra.LoginRequest, error)
	AcceptLogin(ctx context.Context, challenge, subject, kratosSessionID string, remember bool, rememberFor int64, amr []string) (string, error)
	RejectLogin(ctx context.Context, challenge, code, description string) (string, error)
	Consent(ctx context.Context, challenge string) (*hydra.ConsentRequest, error)
	AcceptConsent(ctx context.Context, cr *hydra.ConsentRequest, scopes []string, claims map[string]any, remember bool, rememberFor int64) (string, error)
	RejectConsent(ctx context.Context, challenge, description string) (string, error)
	Logout(ctx context.Context, challenge string) (*hydra.LogoutRequest, error)
	AcceptLogout(ctx context.Context, challenge string) (string, error)
}

// Kratos is what the handlers need of Kratos.
type Kratos interface {
	Whoami(ctx context.Context, cookie string) (*kratos.Session, error)
	User(ctx context.Context, id string) (*consent.User, error)
	LogoutURL(ctx context.Context, cookie, returnTo string) (string, error)
}

// Options configure the handlers.
type Options struct {
	Hydra           Hydra
	Kratos          Kratos
	PublicURL       *url.URL // the consent app as browsers see it
	LoginURL        *url.URL // the hosted login page
	RememberFor     time.Duration
	TokenHookSecret string
	Logger          *slog.Logger
}

// Handler serves the consent app.
type Handler struct {
	opts  Options
	pages *template.Template
}

// New parses the templates.
func New(opts Options) (*Handler, error) {
	t, err := template.ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	return &Handler{opts: opts, pages: t}, nil
}

// Mount adds the routes.
func (h *Handler) Mount(r chi.Router) {
	r.Get("/login", h.login)
	r.Get("/consent", h.consentPage)
	r.Post("/consent", h.consentDecision)
	r.Get("/logout", h.logout)
	r.Get("/error", h.oauthError)
	r.Post("/token-hook", h.tokenHook)
}

// login handles Hydra's login challenge. A browser with a live Kratos session
// is accepted at once, without asking for credentials again.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	challenge := r.URL.Query().Get("login_challenge")
	if challenge == "" {
		h.fail(w, http.StatusBadRequest, "The sign-in request is missing. Go back to the app and try again.")
		return
	}
	lr, err := h.opts.Hydra.Login(ctx, challenge)
	if err != nil {
		h.hydraFailed(w, err)
		return
	}
	// Even when Hydra remembers the user (skip), the Kratos session must
	// still be alive: Hydra's memory never outlives it, so signing out or
	// closing a browser that was not to be remembered signs out of OAuth2 too.
	s, err := h.opts.Kratos.Whoami(ctx, r.Header.Get("Cookie"))
	if err != nil && !errors.Is(err, kratos.ErrNoSession) {
		h.opts.Logger.Error("whoami", "error", err)
		h.fail(w, http.StatusServiceUnavailable, "Sign-in is unavailable right now. Please try again in a minute.")
		return
	}
	if s != nil && lr.Skip && s.IdentityID != lr.Subject {
		s = nil // another user signed in here since; Hydra's subject must sign in again
	}
	if s == nil && lr.Prompt == "none" {
		to, err := h.opts.Hydra.RejectLogin(ctx, challenge, "login_required", "The user is not signed in.")
		if err != nil {
			h.hydraFailed(w, err)
			return
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
		return
	}
	// prompt=login asks for fresh credentials even with a session.
	stale := s != nil && !lr.Skip && lr.Prompt == "login" && time.Since(s.AuthenticatedAt) > 2*time.Minute
	if s == nil || stale {
		back := h.self("/login", url.Values{"login_challenge": {challenge}})
		q := url.Values{"return_to": {back}}
		if stale {
			q.Set("refresh", "true")
		}
		to := *h.opts.LoginURL
		to.RawQuery = q.Encode()
		http.Redirect(w, r, to.String(), http.StatusSeeOther)
		return
	}
	h.acceptLogin(w, r, lr, s.IdentityID, s.ID, s)
}

func (h *Handler) acceptLogin(w http.ResponseWriter, r *http.Request, lr *hydra.LoginRequest, subject, sessionID string, s *kratos.Session) {
	ctx := r.Context()
	u, err := h.opts.Kratos.User(ctx, subject)
	if err != nil || !u.Active {
		to, rerr := h.opts.Hydra.RejectLogin(ctx, lr.Challenge, "access_denied", "This account is not active.")
		if rerr != nil {
			h.hydraFailed(w, rerr)
			return
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
		return
	}
	// Hydra remembers every login (so prompt=none works while the Kratos
	// session lives), but never for longer than that session.
	remember := true
	rememberFor := h.opts.RememberFor
	var amr []string
	if s != nil {
		amr = s.Methods
		if left := time.Until(s.ExpiresAt); left > 0 && left < rememberFor {
			rememberFor = left // never outlive the Kratos session
		}
	}
	to, err := h.opts.Hydra.AcceptLogin(ctx, lr.Challenge, subject, sessionID, remember, int64(rememberFor/time.Second), amr)
	if err != nil {
		h.hydraFailed(w, err)
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// scopeText explains scopes on the consent page.
var scopeText = map[string]string{
	"openid":         "Know who you are (your account id)",
	"email":          "See your email address and whether it is verified",
	"profile":        "See your name",
	"offline_access": "Stay connected when you are not using it",
}

type consentView struct {
	ClientName string
	Scopes     []scopeLine
	Challenge  string
	CSRF       string
	Error      string
}

type scopeLine struct{ Name, Text string }

const csrfCookie = "lp_consent_csrf"

// consentPage grants first-party clients at once and asks about the others.
func (h *Handler) consentPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	challenge := r.URL.Query().Get("consent_challenge")
	if challenge == "" {
		h.fail(w, http.StatusBadRequest, "The consent request is missing. Go back to the app and try again.")
		return
	}
	cr, err := h.opts.Hydra.Consent(ctx, challenge)
	if err != nil {
		h.hydraFailed(w, err)
		return
	}
	if cr.Skip || cr.FirstParty {
		// Remembered, so prompt=none (silent sign-in) works for the
		// platform's own apps; claims are still read anew every time.
		h.grant(w, r, cr, true)
		return
	}
	csrf := randomToken()
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: csrf, Path: "/consent", HttpOnly: true,
		Secure: h.opts.PublicURL.Scheme == "https", SameSite: http.SameSiteStrictMode, MaxAge: 1800})
	v := consentView{ClientName: cr.ClientName, Challenge: challenge, CSRF: csrf}
	for _, s := range cr.RequestedScopes {
		text := scopeText[s]
		if text == "" {
			text = "Use the permission “" + s + "”"
		}
		v.Scopes = append(v.Scopes, scopeLine{s, text})
	}
	h.render(w, http.StatusOK, "consent.html", v)
}

// consentDecision records Allow or Deny. Deny sends the client access_denied.
func (h *Handler) consentDecision(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		h.fail(w, http.StatusBadRequest, "The form could not be read.")
		return
	}
	c, err := r.Cookie(csrfCookie)
	if err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostForm.Get("csrf"))) != 1 {
		h.fail(w, http.StatusForbidden, "The form was sent from a page that is no longer valid. Go back to the app and try again.")
		return
	}
	challenge := r.PostForm.Get("consent_challenge")
	cr, err := h.opts.Hydra.Consent(ctx, challenge)
	if err != nil {
		h.hydraFailed(w, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Path: "/consent", MaxAge: -1})
	switch r.PostForm.Get("decision") {
	case "allow":
		h.grant(w, r, cr, r.PostForm.Get("remember") == "true")
	case "deny":
		to, err := h.opts.Hydra.RejectConsent(ctx, challenge, "The user denied the request.")
		if err != nil {
			h.hydraFailed(w, err)
			return
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
	default:
		h.fail(w, http.StatusBadRequest, "Choose Allow or Deny.")
	}
}

// grant accepts the consent with the identity's claims as they are now.
func (h *Handler) grant(w http.ResponseWriter, r *http.Request, cr *hydra.ConsentRequest, remember bool) {
	ctx := r.Context()
	u, err := h.opts.Kratos.User(ctx, cr.Subject)
	if err != nil || !u.Active {
		to, rerr := h.opts.Hydra.RejectConsent(ctx, cr.Challenge, "This account is not active.")
		if rerr != nil {
			h.hydraFailed(w, rerr)
			return
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
		return
	}
	to, err := h.opts.Hydra.AcceptConsent(ctx, cr, cr.RequestedScopes, u.Claims(), remember, int64(h.opts.RememberFor/time.Second))
	if err != nil {
		h.hydraFailed(w, err)
		return
	}
	h.opts.Logger.Info("consent granted", "subject", u.ID, "client", cr.ClientID, "scopes", cr.RequestedScopes, "role", u.Role)
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// logout handles RP-initiated logout: Hydra's session ends, then the Kratos
// session (through Kratos' own logout, which also clears the browser's
// cookie), then the browser goes to the client's post_logout_redirect_uri.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	challenge := r.URL.Query().Get("logout_challenge")
	if _, err := h.opts.Hydra.Logout(ctx, challenge); err != nil {
		h.hydraFailed(w, err)
		return
	}
	next, err := h.opts.Hydra.AcceptLogout(ctx, challenge)
	if err != nil {
		h.hydraFailed(w, err)
		return
	}
	kratosLogout, err := h.opts.Kratos.LogoutURL(ctx, r.Header.Get("Cookie"), next)
	if err != nil {
		if !errors.Is(err, kratos.ErrNoSession) {
			h.opts.Logger.Error("kratos logout", "error", err)
		}
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, kratosLogout, http.StatusSeeOther)
}

// oauthError shows the errors Hydra sends the browser to (urls.error).
func (h *Handler) oauthError(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	msg := q.Get("error_description")
	if msg == "" {
		msg = "The sign-in could not be completed."
	}
	h.fail(w, http.StatusBadRequest, msg+" ("+q.Get("error")+")")
}

// tokenHook is called by Hydra for every token it issues. On refresh it puts
// the identity's claims as they are now into the new tokens (so a role
// change reaches the next token), and refuses inactive or deleted accounts.
func (h *Handler) tokenHook(w http.ResponseWriter, r *http.Request) {
	got := r.Header.Get(TokenHookHeader)
	if subtle.ConstantTimeCompare([]byte(got), []byte(h.opts.TokenHookSecret)) != 1 {
		h.opts.Logger.Warn("token hook with a wrong secret", "remote", r.RemoteAddr)
		writeJSONError(w, http.StatusUnauthorized, "unauthorized", "wrong token hook secret")
		return
	}
	var req struct {
		Session struct {
			IDToken struct {
				Subject string `json:"subject"`
			} `json:"id_token"`
			ClientID string `json:"client_id"`
		} `json:"session"`
		Request struct {
			GrantTypes []string `json:"grant_types"`
		} `json:"request"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		writeJSONError(w, http.StatusBadRequest, "bad_request", "not a token hook request")
		return
	}
	subject := req.Session.IDToken.Subject
	if !slices.Contains(req.Request.GrantTypes, "refresh_token") || subject == "" || subject == req.Session.ClientID {
		w.WriteHeader(http.StatusNoContent) // fresh from consent, or a client acting for itself
		return
	}
	u, err := h.opts.Kratos.User(r.Context(), subject)
	if errors.Is(err, kratos.ErrNotFound) || (err == nil && !u.Active) {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	if err != nil {
		h.opts.Logger.Error("token hook", "error", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	claims := u.Claims()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"session": map[string]any{"access_token": claims, "id_token": claims}})
}

// TokenHookHeader carries the shared secret on Hydra's token hook calls.
const TokenHookHeader = "X-Token-Hook-Secret"

func (h *Handler) hydraFailed(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, hydra.ErrGone):
		h.fail(w, http.StatusBadRequest, "This sign-in request has expired or was already used. Go back to the app and try again.")
	case errors.Is(err, hydra.ErrUnavailable):
		h.opts.Logger.Error("hydra", "error", err)
		h.fail(w, http.StatusServiceUnavailable, "Sign-in is unavailable right now. Please try again in a minute.")
	default:
		h.opts.Logger.Error("hydra", "error", err)
		h.fail(w, http.StatusBadGateway, "Something went wrong on our side. Please try again.")
	}
}

func (h *Handler) fail(w http.ResponseWriter, status int, msg string) {
	h.render(w, status, "error.html", map[string]string{"Message": msg})
}

func (h *Handler) render(w http.ResponseWriter, status int, page string, v any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.WriteHeader(status)
	if err := h.pages.ExecuteTemplate(w, page, v); err != nil {
		h.opts.Logger.Error("render", "page", page, "error", err)
	}
}

func (h *Handler) self(path string, q url.Values) string {
	u := *h.opts.PublicURL
	u.Path = path
	u.RawQuery = q.Encode()
	return u.String()
}

func randomToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func writeJSONError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}
