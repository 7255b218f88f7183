package orytest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// LoginRequest is a login challenge Hydra hands the login provider.
type LoginRequest struct {
	Challenge string // generated when empty
	ClientID  string // must be a client of the fake
	Skip      bool
	Subject   string
	Scopes    []string
	// Query is the authorization request's query (prompt, max_age, ...);
	// Hydra's request_url is its /oauth2/auth URL with it.
	Query     url.Values
	SessionID string // Hydra's login session id; generated when empty
}

// LoginAccept is the accept-login body the consent app sent (Hydra's
// flow.HandledLoginRequest), decoded as strictly as Hydra decodes it.
type LoginAccept struct {
	Remember                  bool            `json:"remember"`
	RememberFor               int             `json:"remember_for"`
	ExtendSessionLifespan     bool            `json:"extend_session_lifespan"`
	ACR                       string          `json:"acr"`
	AMR                       []string        `json:"amr"`
	Subject                   string          `json:"subject"`
	IdentityProviderSessionID string          `json:"identity_provider_session_id,omitempty"`
	ForceSubjectIdentifier    string          `json:"force_subject_identifier"`
	Context                   json.RawMessage `json:"context"`
}

// Rejection is a reject body (Hydra's flow.RequestDeniedError).
type Rejection struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	Hint        string `json:"error_hint"`
	StatusCode  int    `json:"status_code"`
	Debug       string `json:"error_debug"`
}

// ConsentRequest is a consent challenge.
type ConsentRequest struct {
	Challenge string // generated when empty
	ClientID  string
	Skip      bool
	Subject   string
	Scopes    []string
	Audience  []string
	// LoginChallenge links the consent to a login of the fake: Hydra
	// passes that login's accept context on as this request's context.
	LoginChallenge string
	// Context is sent when LoginChallenge gives none.
	Context json.RawMessage
}

// ConsentAccept is the accept-consent body (Hydra's
// flow.AcceptOAuth2ConsentRequest).
type ConsentAccept struct {
	GrantScope    []string `json:"grant_scope"`
	GrantAudience []string `json:"grant_access_token_audience"`
	Session       *struct {
		AccessToken map[string]any `json:"access_token"`
		IDToken     map[string]any `json:"id_token"`
	} `json:"session"`
	Remember    bool            `json:"remember"`
	RememberFor int             `json:"remember_for"`
	HandledAt   *time.Time      `json:"handled_at"`
	Context     json.RawMessage `json:"context"`
}

// LogoutRequest is a logout challenge. Hydra v2.3.0 sets RPInitiated and
// the client only for a logout with a valid id_token_hint.
type LogoutRequest struct {
	Challenge   string // generated when empty
	Subject     string
	SID         string
	RPInitiated bool
	ClientID    string // "" sends "client": null
}

type state[T any] struct {
	req      T
	handled  bool
	accepted any
	rejected *Rejection
}

// AddLogin stores a login request and returns its challenge.
func (h *Hydra) AddLogin(lr LoginRequest) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if lr.Challenge == "" {
		lr.Challenge = randomToken()
	}
	if lr.SessionID == "" {
		lr.SessionID = NewID()
	}
	h.logins[lr.Challenge] = &state[LoginRequest]{req: lr}
	return lr.Challenge
}

// AddConsent stores a consent request and returns its challenge.
func (h *Hydra) AddConsent(cr ConsentRequest) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if cr.Challenge == "" {
		cr.Challenge = randomToken()
	}
	h.consents[cr.Challenge] = &state[ConsentRequest]{req: cr}
	return cr.Challenge
}

// AddLogout stores a logout request and returns its challenge.
func (h *Hydra) AddLogout(lr LogoutRequest) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if lr.Challenge == "" {
		lr.Challenge = randomToken()
	}
	h.logouts[lr.Challenge] = &state[LogoutRequest]{req: lr}
	return lr.Challenge
}

// LoginAccepted returns the accept body a login challenge got, if any.
func (h *Hydra) LoginAccepted(challenge string) (LoginAccept, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s := h.logins[challenge]; s != nil && s.accepted != nil {
		return s.accepted.(LoginAccept), true
	}
	return LoginAccept{}, false
}

// LoginRejected returns the reject body a login challenge got, if any.
func (h *Hydra) LoginRejected(challenge string) (Rejection, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s := h.logins[challenge]; s != nil && s.rejected != nil {
		return *s.rejected, true
	}
	return Rejection{}, false
}

// ConsentAccepted returns the accept body a consent challenge got, if any.
func (h *Hydra) ConsentAccepted(challenge string) (ConsentAccept, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s := h.consents[challenge]; s != nil && s.accepted != nil {
		return s.accepted.(ConsentAccept), true
	}
	return ConsentAccept{}, false
}

// ConsentRejected returns the reject body a consent challenge got, if any.
func (h *Hydra) ConsentRejected(challenge string) (Rejection, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s := h.consents[challenge]; s != nil && s.rejected != nil {
		return *s.rejected, true
	}
	return Rejection{}, false
}

// LogoutOutcome says what happened to a logout challenge: "accepted",
// "rejected" or "" (still pending).
func (h *Hydra) LogoutOutcome(challenge string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.logouts[challenge]
	switch {
	case s == nil || !s.handled:
		return ""
	case s.rejected != nil:
		return "rejected"
	default:
		return "accepted"
	}
}

// LoginVerifierURL is the redirect_to an accepted login answers.
func (h *Hydra) LoginVerifierURL(challenge string) string {
	return h.PublicURL + "/oauth2/auth?login_verifier=v" + challenge
}

// ConsentVerifierURL is the redirect_to an accepted consent answers.
func (h *Hydra) ConsentVerifierURL(challenge string) string {
	return h.PublicURL + "/oauth2/auth?consent_verifier=v" + challenge
}

// LogoutVerifierURL is the redirect_to an accepted logout answers.
func (h *Hydra) LogoutVerifierURL(challenge string) string {
	return h.PublicURL + "/oauth2/sessions/logout?logout_verifier=v" + challenge
}

// RejectedURL is the redirect_to a rejected login or consent answers.
func (h *Hydra) RejectedURL(challenge string) string {
	return h.PublicURL + "/oauth2/auth?rejected=" + challenge
}

func oidcContext() map[string]any {
	return map[string]any{"acr_values": []string{}, "ui_locales": []string{}, "id_token_hint_claims": map[string]any{}}
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (h *Hydra) getLogin(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.logins[r.URL.Query().Get("login_challenge")]
	if s == nil {
		notFound(w)
		return
	}
	lr := s.req
	rurl := h.requestURL(lr.ClientID, lr.Scopes, lr.Query)
	if s.handled {
		writeJSON(w, http.StatusGone, map[string]any{"redirect_to": rurl})
		return
	}
	cl, _ := h.clientJSON(lr.ClientID)
	writeJSON(w, http.StatusOK, map[string]any{
		"challenge": lr.Challenge, "requested_scope": nonNilStrings(lr.Scopes),
		"requested_access_token_audience": []string{}, "skip": lr.Skip, "subject": lr.Subject,
		"oidc_context": oidcContext(), "client": cl, "request_url": rurl, "session_id": lr.SessionID,
	})
}

func decodeStrict(r *http.Request, v any) error {
	d := json.NewDecoder(r.Body)
	d.DisallowUnknownFields() // as Hydra's consent handler decodes accept and reject bodies
	return d.Decode(v)
}

func (h *Hydra) acceptLogin(w http.ResponseWriter, r *http.Request) {
	var body LoginAccept
	if err := decodeStrict(r, &body); err != nil {
		hydraError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("Unable to decode body because: %s", err))
		return
	}
	if body.Subject == "" {
		hydraError(w, http.StatusBadRequest, "invalid_request", "Field 'subject' must not be empty.")
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	ch := r.URL.Query().Get("login_challenge")
	s := h.logins[ch]
	if s == nil || s.handled {
		notFound(w)
		return
	}
	if s.req.Subject != "" && body.Subject != s.req.Subject {
		// Hydra sends the browser back to the authorization with prompt=login.
		q := url.Values{"prompt": {"login"}}
		for k, v := range s.req.Query {
			if k != "prompt" {
				q[k] = v
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"redirect_to": h.requestURL(s.req.ClientID, s.req.Scopes, q)})
		return
	}
	s.handled, s.accepted = true, body
	writeJSON(w, http.StatusOK, map[string]any{"redirect_to": h.LoginVerifierURL(ch)})
}

func (h *Hydra) rejectLogin(w http.ResponseWriter, r *http.Request) {
	var body Rejection
	if err := decodeStrict(r, &body); err != nil {
		hydraError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	ch := r.URL.Query().Get("login_challenge")
	s := h.logins[ch]
	if s == nil || s.handled {
		notFound(w)
		return
	}
	s.handled, s.rejected = true, &body
	writeJSON(w, http.StatusOK, map[string]any{"redirect_to": h.RejectedURL(ch)})
}

func (h *Hydra) getConsent(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.consents[r.URL.Query().Get("consent_challenge")]
	if s == nil {
		notFound(w)
		return
	}
	cr := s.req
	rurl := h.requestURL(cr.ClientID, cr.Scopes, nil)
	if s.handled {
		writeJSON(w, http.StatusGone, map[string]any{"redirect_to": rurl})
		return
	}
	cl, _ := h.clientJSON(cr.ClientID)
	out := map[string]any{
		"challenge": cr.Challenge, "requested_scope": nonNilStrings(cr.Scopes),
		"requested_access_token_audience": nonNilStrings(cr.Audience), "skip": cr.Skip,
		"subject": cr.Subject, "oidc_context": oidcContext(), "client": cl, "request_url": rurl,
		"login_challenge": cr.LoginChallenge, "login_session_id": "", "acr": "0", "amr": []string{},
	}
	ctx := cr.Context
	if l := h.logins[cr.LoginChallenge]; l != nil {
		out["login_session_id"] = l.req.SessionID
		if a, ok := l.accepted.(LoginAccept); ok {
			ctx = a.Context
			out["amr"] = nonNilStrings(a.AMR)
		}
	}
	if len(ctx) > 0 && string(ctx) != "null" { // omitempty, as Hydra's OAuth2ConsentRequest.Context
		out["context"] = ctx
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Hydra) acceptConsent(w http.ResponseWriter, r *http.Request) {
	var body ConsentAccept
	if err := decodeStrict(r, &body); err != nil {
		hydraError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("Unable to decode body because: %s", err))
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	ch := r.URL.Query().Get("consent_challenge")
	s := h.consents[ch]
	if s == nil || s.handled {
		notFound(w)
		return
	}
	s.handled, s.accepted = true, body
	writeJSON(w, http.StatusOK, map[string]any{"redirect_to": h.ConsentVerifierURL(ch)})
}

func (h *Hydra) rejectConsent(w http.ResponseWriter, r *http.Request) {
	var body Rejection
	if err := decodeStrict(r, &body); err != nil {
		hydraError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	ch := r.URL.Query().Get("consent_challenge")
	s := h.consents[ch]
	if s == nil || s.handled {
		notFound(w)
		return
	}
	s.handled, s.rejected = true, &body
	writeJSON(w, http.StatusOK, map[string]any{"redirect_to": h.RejectedURL(ch)})
}

func (h *Hydra) getLogout(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.logouts[r.URL.Query().Get("logout_challenge")]
	if s == nil {
		notFound(w)
		return
	}
	lr := s.req
	rurl := h.PublicURL + "/oauth2/sessions/logout"
	if s.handled {
		writeJSON(w, http.StatusGone, map[string]any{"redirect_to": rurl})
		return
	}
	now := time.Now().UTC().Round(time.Second)
	out := map[string]any{
		"challenge": lr.Challenge, "subject": lr.Subject, "request_url": rurl,
		"rp_initiated": lr.RPInitiated, "client": nil,
		"expires_at": now.Add(30 * time.Minute), "requested_at": now,
	}
	if lr.SID != "" { // sid,omitempty
		out["sid"] = lr.SID
	}
	if lr.ClientID != "" {
		out["client"], _ = h.clientJSON(lr.ClientID)
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Hydra) acceptLogout(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch := r.URL.Query().Get("logout_challenge")
	s := h.logouts[ch]
	if s == nil || s.handled {
		notFound(w)
		return
	}
	s.handled, s.accepted = true, true
	writeJSON(w, http.StatusOK, map[string]any{"redirect_to": h.LogoutVerifierURL(ch)})
}

func (h *Hydra) rejectLogout(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.logouts[r.URL.Query().Get("logout_challenge")]
	if s == nil || s.handled {
		notFound(w)
		return
	}
	s.handled, s.rejected = true, &Rejection{}
	w.WriteHeader(http.StatusNoContent) // Hydra answers no body
}
