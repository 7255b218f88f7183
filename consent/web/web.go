// Package web serves the consent app's HTTP side: Hydra's login, consent and
// logout endpoints, the consent page for third-party clients, and the token
// hook that keeps refreshed tokens' claims current.
package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
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
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/learnplatform/platform/consent"
	"github.com/learnplatform/platform/consent/hydra"
	"github.com/learnplatform/platform/kit/kratos"
)

//go:embed templates/*.html
var templateFS embed.FS

// Hydra is what the handlers need of Hydra's admin API.
type Hydra interface {
	Login(ctx context.Context, challenge string) (*hydra.LoginRequest, error)
	AcceptLogin(ctx context.Context, challenge string, acc hydra.LoginAcceptance) (string, error)
	RejectLogin(ctx context.Context, challenge, code, description string) (string, error)
	Consent(ctx context.Context, challenge string) (*hydra.ConsentRequest, error)
	AcceptConsent(ctx context.Context, cr *hydra.ConsentRequest, scopes []string, idToken, accessToken map[string]any, remember bool, rememberFor int64) (string, error)
	RejectConsent(ctx context.Context, challenge, description string) (string, error)
	Logout(ctx context.Context, challenge string) (*hydra.LogoutRequest, error)
	AcceptLogout(ctx context.Context, challenge string) (string, error)
	RejectLogout(ctx context.Context, challenge string) error
	Client(ctx context.Context, id string) (*hydra.ClientInfo, error)
}

// Kratos is what the handlers need of Kratos (kit/kratos.Client).
type Kratos interface {
	Whoami(ctx context.Context, cookie, sessionToken string) (*kratos.Session, error)
	User(ctx context.Context, id string) (*kratos.Identity, error)
	LogoutURL(ctx context.Context, cookie, returnTo string) (string, error)
	SessionActive(ctx context.Context, id string) (bool, error)
}

// Options configure the handlers.
type Options struct {
	Hydra           Hydra
	Kratos          Kratos
	PublicURL       *url.URL // the consent app as browsers see it
	LoginURL        *url.URL // the hosted login page
	HomeURL         *url.URL // where Cancel on the sign-out page leads; default: login_url's origin, the hosted account pages
	RememberFor     time.Duration
	TokenHookSecret string
	Logger          *slog.Logger
}

// Handler serves the consent app.
type Handler struct {
	opts      Options
	pages     *template.Template
	reauthKey []byte
	sameOrg   *http.CrossOriginProtection
}

// New parses the templates.
func New(opts Options) (*Handler, error) {
	t, err := template.ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	if opts.HomeURL == nil {
		home := *opts.LoginURL
		home.Path, home.RawQuery, home.Fragment = "/", "", ""
		opts.HomeURL = &home
	}
	h := &Handler{opts: opts, pages: t, sameOrg: http.NewCrossOriginProtection()}
	// Behind a proxy the Host header may not be the public one; the
	// public origin is always same-origin.
	if err := h.sameOrg.AddTrustedOrigin(opts.PublicURL.Scheme + "://" + opts.PublicURL.Host); err != nil {
		return nil, err
	}
	h.sameOrg.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, http.StatusForbidden, "The form was sent from another site. Go back to the app and try again.")
	}))
	mac := hmac.New(sha256.New, []byte(opts.TokenHookSecret))
	mac.Write([]byte("learnplatform consent re-authentication marker v1"))
	h.reauthKey = mac.Sum(nil)
	return h, nil
}

// Mount adds the routes.
func (h *Handler) Mount(r chi.Router) {
	r.Get("/login", h.login)
	r.Get("/consent", h.consentPage)
	// The two forms are same-origin only (http.CrossOriginProtection:
	// Sec-Fetch-Site, else Origin against Host and the public origin).
	r.Method(http.MethodPost, "/consent", h.sameOrg.Handler(http.HandlerFunc(h.consentDecision)))
	r.Get("/logout", h.logout)
	r.Method(http.MethodPost, "/logout", h.sameOrg.Handler(http.HandlerFunc(h.logoutDecision)))
	r.Get("/error", h.oauthError)
	r.Post("/token-hook", h.tokenHook)
}

// login handles Hydra's login challenge. A browser with a live Kratos session
// is accepted at once, without asking for credentials again, unless the
// request asks for a fresher authentication (prompt=login, max_age).
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
	s, err := h.opts.Kratos.Whoami(ctx, r.Header.Get("Cookie"), "")
	if err != nil && !errors.Is(err, kratos.ErrNoSession) {
		h.kratosFailed(w, err)
		return
	}
	if s != nil && lr.Skip && s.IdentityID != lr.Subject {
		s = nil // another user signed in here since; Hydra's subject must sign in again
	}
	reauth := s != nil && h.needsReauth(lr, s, r.URL.Query().Get("reauth"), time.Now())
	if (s == nil || reauth) && lr.HasPrompt("none") {
		desc := "The user is not signed in."
		if reauth {
			desc = "The user signed in longer ago than max_age allows."
		}
		to, err := h.opts.Hydra.RejectLogin(ctx, challenge, "login_required", desc)
		if err != nil {
			h.hydraFailed(w, err)
			return
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
		return
	}
	if s == nil || reauth {
		back := url.Values{"login_challenge": {challenge}}
		q := url.Values{}
		if reauth {
			back.Set("reauth", h.reauthMarker(challenge, time.Now()))
			q.Set("refresh", "true")
		}
		q.Set("return_to", h.self("/login", back))
		to := *h.opts.LoginURL
		to.RawQuery = q.Encode()
		http.Redirect(w, r, to.String(), http.StatusSeeOther)
		return
	}
	h.acceptLogin(w, r, lr, s)
}

// promptLoginWindow: with prompt=login, a Kratos authentication this recent
// counts as the fresh one asked for.
const promptLoginWindow = 2 * time.Minute

// reauthSkew allows for the clocks of Kratos and the consent app differing.
const reauthSkew = 5 * time.Second

// reauthMarkerTTL matches Hydra's ttl.login_consent_request.
const reauthMarkerTTL = 30 * time.Minute

// needsReauth reports whether the Kratos session's authentication is too old
// for the request: older than max_age seconds (OIDC Core 3.1.2.1), or, with
// prompt=login, older than promptLoginWindow. An authentication made after
// this consent app sent the same challenge to re-authenticate (the signed
// reauth marker in return_to says when) always satisfies both, so max_age=0
// or a short max_age cannot loop.
func (h *Handler) needsReauth(lr *hydra.LoginRequest, s *kratos.Session, marker string, now time.Time) bool {
	limit := time.Duration(-1)
	if !lr.Skip && lr.HasPrompt("login") {
		limit = promptLoginWindow
	}
	if lr.MaxAge >= 0 {
		ma := time.Duration(min(lr.MaxAge, int64(100*365*24*time.Hour/time.Second))) * time.Second
		if limit < 0 || ma < limit {
			limit = ma
		}
	}
	if limit < 0 || now.Sub(s.AuthenticatedAt) <= limit {
		return false
	}
	if sent, ok := h.checkReauthMarker(lr.Challenge, marker, now); ok && !s.AuthenticatedAt.Before(sent.Add(-reauthSkew)) {
		return false
	}
	return true
}

// reauthMarker says "this consent app sent challenge to re-authenticate at
// t", signed so that only this app (or a replica sharing its secret) makes one.
func (h *Handler) reauthMarker(challenge string, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return ts + "." + h.reauthMAC(challenge, ts)
}

func (h *Handler) reauthMAC(challenge, ts string) string {
	m := hmac.New(sha256.New, h.reauthKey)
	m.Write([]byte(challenge + "\n" + ts))
	return hex.EncodeToString(m.Sum(nil))
}

func (h *Handler) checkReauthMarker(challenge, marker string, now time.Time) (time.Time, bool) {
	ts, mac, ok := strings.Cut(marker, ".")
	if !ok || !hmac.Equal([]byte(mac), []byte(h.reauthMAC(challenge, ts))) {
		return time.Time{}, false
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	t := time.Unix(sec, 0)
	if t.After(now.Add(reauthSkew)) || now.Sub(t) > reauthMarkerTTL {
		return time.Time{}, false
	}
	return t, true
}

// acceptLogin accepts the login with the Kratos session s. Its id travels
// to the consent step in accept-login's context (hydra.LoginContext), which
// Hydra returns as the consent request's context.
//
// Hydra v2.3.0 has no way to be told when the user authenticated: its
// accept-login body has no authenticated_at (decoded with unknown fields
// refused), and it sets the ID token's auth_time to the moment it accepts a
// login it did not skip, or keeps the remembered login's time when it skips.
// needsReauth is what guarantees max_age: a login is accepted only when the
// Kratos session authenticated within max_age seconds.
func (h *Handler) acceptLogin(w http.ResponseWriter, r *http.Request, lr *hydra.LoginRequest, s *kratos.Session) {
	ctx := r.Context()
	u, err := h.identity(ctx, s.IdentityID)
	if err != nil && !errors.Is(err, kratos.ErrNotFound) {
		h.kratosFailed(w, err)
		return
	}
	if err != nil || !u.Active { // deleted or deactivated since it signed in
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
	rememberFor := h.opts.RememberFor
	if left := time.Until(s.ExpiresAt); left > 0 && left < rememberFor {
		rememberFor = left // never outlive the Kratos session
	}
	to, err := h.opts.Hydra.AcceptLogin(ctx, lr.Challenge, hydra.LoginAcceptance{
		Subject: s.IdentityID, KratosSessionID: s.ID, Remember: true,
		RememberFor: int64(rememberFor / time.Second), AMR: s.Methods,
	})
	if err != nil {
		h.hydraFailed(w, err)
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

type consentView struct {
	ClientName string
	Scopes     []scopeLine
	Challenge  string
}

// scopeLine is one requested scope and what granting it reveals
// (consent.Scopes, the same table the claims are cut by).
type scopeLine struct{ Name, Text string }

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
	v := consentView{ClientName: cr.ClientName, Challenge: challenge}
	for _, s := range cr.RequestedScopes {
		v.Scopes = append(v.Scopes, scopeLine{s, consent.Reveals(s)})
	}
	h.render(w, http.StatusOK, "consent.html", v)
}

// consentDecision records Allow or Deny; Deny sends the client
// access_denied. The form is same-origin only (http.CrossOriginProtection)
// and names the challenge, which another site never learns.
func (h *Handler) consentDecision(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		h.fail(w, http.StatusBadRequest, "The form could not be read.")
		return
	}
	challenge := r.PostForm.Get("consent_challenge")
	if challenge == "" {
		h.fail(w, http.StatusBadRequest, "The consent request is missing. Go back to the app and try again.")
		return
	}
	cr, err := h.opts.Hydra.Consent(ctx, challenge)
	if err != nil {
		h.hydraFailed(w, err)
		return
	}
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

// grant accepts the consent with the identity's claims as they are now, cut
// to what the granted scopes release; the access token also carries the
// Kratos session id the login was accepted with.
func (h *Handler) grant(w http.ResponseWriter, r *http.Request, cr *hydra.ConsentRequest, remember bool) {
	ctx := r.Context()
	u, err := h.identity(ctx, cr.Subject)
	if err != nil && !errors.Is(err, kratos.ErrNotFound) {
		h.kratosFailed(w, err)
		return
	}
	if err != nil || !u.Active { // deleted or deactivated since it signed in
		to, rerr := h.opts.Hydra.RejectConsent(ctx, cr.Challenge, "This account is not active.")
		if rerr != nil {
			h.hydraFailed(w, rerr)
			return
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
		return
	}
	scopes := cr.RequestedScopes
	idToken := u.Claims(scopes, cr.FirstParty)
	accessToken := u.AccessTokenClaims(scopes, cr.FirstParty, cr.KratosSessionID)
	to, err := h.opts.Hydra.AcceptConsent(ctx, cr, scopes, idToken, accessToken, remember, int64(h.opts.RememberFor/time.Second))
	if err != nil {
		h.hydraFailed(w, err)
		return
	}
	h.opts.Logger.Info("consent granted", "subject", u.ID, "client", cr.ClientID, "scopes", scopes,
		"claims", consent.ReleasedClaims(scopes, cr.FirstParty), "kratos_session", cr.KratosSessionID != "")
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// logout handles Hydra's logout challenge. A logout with a valid
// id_token_hint (Hydra: rp_initiated, with the client the hint was issued
// to) proceeds at once. Any other (a bare link to /oauth2/sessions/logout,
// which any page can navigate a browser to) asks first, so another site
// cannot sign the user out.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	challenge := r.URL.Query().Get("logout_challenge")
	if challenge == "" {
		h.fail(w, http.StatusBadRequest, "The sign-out request is missing. Go back to the app and try again.")
		return
	}
	lr, err := h.opts.Hydra.Logout(ctx, challenge)
	if err != nil {
		h.hydraFailed(w, err)
		return
	}
	if lr.RPInitiated && lr.ClientID != "" {
		h.endSessions(w, r, challenge)
		return
	}
	h.render(w, http.StatusOK, "logout.html", logoutView{Challenge: challenge})
}

type logoutView struct{ Challenge string }

// logoutDecision takes the confirmation page's answer. The form is
// same-origin only (http.CrossOriginProtection) and names the challenge,
// which another site never learns.
func (h *Handler) logoutDecision(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		h.fail(w, http.StatusBadRequest, "The form could not be read.")
		return
	}
	challenge := r.PostForm.Get("logout_challenge")
	if challenge == "" {
		h.fail(w, http.StatusBadRequest, "The sign-out request is missing. Go back to the app and try again.")
		return
	}
	switch r.PostForm.Get("decision") {
	case "logout":
		h.endSessions(w, r, challenge)
	case "cancel":
		if err := h.opts.Hydra.RejectLogout(ctx, challenge); err != nil {
			h.hydraFailed(w, err)
			return
		}
		http.Redirect(w, r, h.opts.HomeURL.String(), http.StatusSeeOther)
	default:
		h.fail(w, http.StatusBadRequest, "Choose Sign out or Cancel.")
	}
}

// endSessions ends Hydra's session, then the Kratos session (through
// Kratos' own logout, which also clears the browser's cookie), then the
// browser goes on to Hydra's continuation (the client's
// post_logout_redirect_uri, or urls.post_logout_redirect).
func (h *Handler) endSessions(w http.ResponseWriter, r *http.Request, challenge string) {
	ctx := r.Context()
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

// tokenHookRequest is the part of Hydra v2.3.0's token hook body
// (oauth2.TokenHookRequest) the hook reads: session is Hydra's
// oauth2.Session (id_token is fosite's openid.DefaultSession, extra the
// access token's claims), request the token request.
type tokenHookRequest struct {
	Session struct {
		IDToken struct {
			Subject string `json:"subject"`
		} `json:"id_token"`
		Extra    map[string]any `json:"extra"`
		ClientID string         `json:"client_id"`
	} `json:"session"`
	Request struct {
		ClientID      string   `json:"client_id"`
		GrantedScopes []string `json:"granted_scopes"`
		GrantTypes    []string `json:"grant_types"`
	} `json:"request"`
}

// tokenHook is called by Hydra for every token it issues. On refresh it puts
// the identity's claims as they are now, cut to the granted scopes, into the
// new tokens (so a role change reaches the next token), keeps the access
// token's Kratos session id, and refuses (403) inactive or deleted accounts
// and tokens whose Kratos session has ended. Hydra replaces the access
// token's claims with the answer's, so everything to keep is in it.
func (h *Handler) tokenHook(w http.ResponseWriter, r *http.Request) {
	got := r.Header.Get(TokenHookHeader)
	if subtle.ConstantTimeCompare([]byte(got), []byte(h.opts.TokenHookSecret)) != 1 {
		h.opts.Logger.Warn("token hook with a wrong secret", "remote", r.RemoteAddr)
		writeJSONError(w, http.StatusUnauthorized, "unauthorized", "wrong token hook secret")
		return
	}
	var req tokenHookRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		writeJSONError(w, http.StatusBadRequest, "bad_request", "not a token hook request")
		return
	}
	ctx := r.Context()
	subject := req.Session.IDToken.Subject
	clientID := req.Request.ClientID
	if clientID == "" {
		clientID = req.Session.ClientID
	}
	if !slices.Contains(req.Request.GrantTypes, "refresh_token") || subject == "" || subject == clientID {
		w.WriteHeader(http.StatusNoContent) // fresh from consent, or a client acting for itself
		return
	}
	u, err := h.identity(ctx, subject)
	if errors.Is(err, kratos.ErrNotFound) || (err == nil && !u.Active) {
		writeJSONError(w, http.StatusForbidden, "access_denied", "the account is not active")
		return
	}
	if err != nil {
		h.opts.Logger.Error("token hook", "error", err)
		writeJSONError(w, http.StatusServiceUnavailable, "unavailable", "the identity service did not answer")
		return
	}
	sessionID, _ := req.Session.Extra[consent.ClaimSessionID].(string)
	if sessionID != "" { // tokens issued before session ids were carried have none
		active, err := h.opts.Kratos.SessionActive(ctx, sessionID)
		if err != nil {
			h.opts.Logger.Error("token hook", "error", err)
			writeJSONError(w, http.StatusServiceUnavailable, "unavailable", "the identity service did not answer")
			return
		}
		if !active {
			h.opts.Logger.Info("refresh refused: kratos session ended", "subject", subject, "client", clientID)
			writeJSONError(w, http.StatusForbidden, "access_denied", "the sign-in session has ended")
			return
		}
	}
	c, err := h.opts.Hydra.Client(ctx, clientID)
	if errors.Is(err, hydra.ErrNoClient) {
		writeJSONError(w, http.StatusForbidden, "access_denied", "unknown client")
		return
	}
	if err != nil {
		h.opts.Logger.Error("token hook", "error", err)
		writeJSONError(w, http.StatusServiceUnavailable, "unavailable", "the authorization server did not answer")
		return
	}
	granted := req.Request.GrantedScopes
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"session": map[string]any{
		"access_token": u.AccessTokenClaims(granted, c.FirstParty, sessionID),
		"id_token":     u.Claims(granted, c.FirstParty),
	}})
}

// identity reads an account's claims and state from Kratos as they are now.
func (h *Handler) identity(ctx context.Context, id string) (*consent.Identity, error) {
	u, err := h.opts.Kratos.User(ctx, id)
	if err != nil {
		return nil, err
	}
	ci := consent.Identity(*u)
	return &ci, nil
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

// kratosFailed answers a request Kratos could not serve: the user can try
// again, nothing was decided.
func (h *Handler) kratosFailed(w http.ResponseWriter, err error) {
	h.opts.Logger.Error("kratos", "error", err)
	h.fail(w, http.StatusServiceUnavailable, "Sign-in is unavailable right now. Please try again in a minute.")
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

func writeJSONError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}
