// Package fakeory stands in for the parts of Ory Hydra v2.3.0's admin API and
// Ory Kratos v1.3.1's public and admin APIs that the consent app uses. The
// fakes are httptest servers answering the JSON the real services answer
// (field names and shapes taken from Hydra's flow, client and oauth2 packages
// and Kratos' session and identity packages at those versions), so tests
// drive the consent app's real hydra-client-go and kratos-client-go clients.
//
// They hold state (requests, clients, identities, sessions) that tests set
// up, record what the consent app sent, and can be told to fail. Grow them
// as the consent app uses more of either API.
package fakeory

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// NewID returns a random UUID (v4), the form Hydra and Kratos ids take.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func challenge() string { return strings.ReplaceAll(NewID(), "-", "") }

// Client is an OAuth2 client as the fake Hydra stores it.
type Client struct {
	ID                     string
	Name                   string
	FirstParty             bool // metadata.first_party
	Scopes                 []string
	GrantTypes             []string
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	Public                 bool
	// Metadata, when set, is sent instead of {"first_party": FirstParty}.
	Metadata map[string]any
}

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

// Hydra is a fake of Hydra's admin API.
type Hydra struct {
	*httptest.Server
	// PublicURL is Hydra's public URL as redirect_to answers name it.
	PublicURL string

	mu       sync.Mutex
	clients  map[string]Client
	logins   map[string]*state[LoginRequest]
	consents map[string]*state[ConsentRequest]
	logouts  map[string]*state[LogoutRequest]
	calls    []string
	fail     int
}

// NewHydra starts a fake Hydra admin API, closed when the test ends.
func NewHydra(t testing.TB) *Hydra {
	h := &Hydra{
		PublicURL: "http://hydra.test",
		clients:   map[string]Client{},
		logins:    map[string]*state[LoginRequest]{},
		consents:  map[string]*state[ConsentRequest]{},
		logouts:   map[string]*state[LogoutRequest]{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/oauth2/auth/requests/login", h.getLogin)
	mux.HandleFunc("PUT /admin/oauth2/auth/requests/login/accept", h.acceptLogin)
	mux.HandleFunc("PUT /admin/oauth2/auth/requests/login/reject", h.rejectLogin)
	mux.HandleFunc("GET /admin/oauth2/auth/requests/consent", h.getConsent)
	mux.HandleFunc("PUT /admin/oauth2/auth/requests/consent/accept", h.acceptConsent)
	mux.HandleFunc("PUT /admin/oauth2/auth/requests/consent/reject", h.rejectConsent)
	mux.HandleFunc("GET /admin/oauth2/auth/requests/logout", h.getLogout)
	mux.HandleFunc("PUT /admin/oauth2/auth/requests/logout/accept", h.acceptLogout)
	mux.HandleFunc("PUT /admin/oauth2/auth/requests/logout/reject", h.rejectLogout)
	mux.HandleFunc("GET /admin/clients/{id}", h.getClient)
	mux.HandleFunc("POST /admin/clients", h.createClient)
	mux.HandleFunc("PUT /admin/clients/{id}", h.setClient)
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.calls = append(h.calls, r.Method+" "+r.URL.Path)
		fail := h.fail
		h.mu.Unlock()
		if fail != 0 {
			hydraError(w, fail, http.StatusText(fail), "the fake was told to fail")
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(h.Close)
	return h
}

// Fail makes every request answer status (0: answer normally).
func (h *Hydra) Fail(status int) { h.mu.Lock(); h.fail = status; h.mu.Unlock() }

// Calls lists the requests received, as "METHOD /path".
func (h *Hydra) Calls() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.calls...)
}

// Called reports how many requests were "METHOD /path".
func (h *Hydra) Called(call string) int {
	n := 0
	for _, c := range h.Calls() {
		if c == call {
			n++
		}
	}
	return n
}

// AddClient stores (or replaces) a client.
func (h *Hydra) AddClient(c Client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.clients[c.ID] = c
}

// ClientByID returns a stored client.
func (h *Hydra) ClientByID(id string) (Client, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.clients[id]
	return c, ok
}

// AddLogin stores a login request and returns its challenge.
func (h *Hydra) AddLogin(lr LoginRequest) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if lr.Challenge == "" {
		lr.Challenge = challenge()
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
		cr.Challenge = challenge()
	}
	h.consents[cr.Challenge] = &state[ConsentRequest]{req: cr}
	return cr.Challenge
}

// AddLogout stores a logout request and returns its challenge.
func (h *Hydra) AddLogout(lr LogoutRequest) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if lr.Challenge == "" {
		lr.Challenge = challenge()
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

// hydraError writes Hydra's error body (herodot / fosite RFC 6749 shape).
func hydraError(w http.ResponseWriter, status int, name, description string) {
	writeJSON(w, status, map[string]any{"error": name, "error_description": description, "status_code": status})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func notFound(w http.ResponseWriter) {
	hydraError(w, http.StatusNotFound, "Not Found", "Unable to locate the requested resource")
}

// clientJSON is a client as Hydra v2.3.0 answers it (client.Client, the
// secret removed).
func (h *Hydra) clientJSON(id string) (map[string]any, bool) {
	c, ok := h.clients[id]
	if !ok {
		return nil, false
	}
	md := c.Metadata
	if md == nil {
		md = map[string]any{"first_party": c.FirstParty}
	}
	auth := "client_secret_basic"
	if c.Public {
		auth = "none"
	}
	nonNil := nonNilStrings
	return map[string]any{
		"client_id": c.ID, "client_name": c.Name,
		"redirect_uris": nonNil(c.RedirectURIs), "grant_types": nonNil(c.GrantTypes),
		"response_types": []string{"code"}, "scope": strings.Join(c.Scopes, " "),
		"audience": []string{}, "owner": "", "policy_uri": "", "allowed_cors_origins": []string{},
		"tos_uri": "", "client_uri": "", "logo_uri": "", "contacts": []string{},
		"client_secret_expires_at": 0, "subject_type": "public",
		"token_endpoint_auth_method": auth, "userinfo_signed_response_alg": "none",
		"post_logout_redirect_uris": nonNil(c.PostLogoutRedirectURIs), "metadata": md,
		"skip_consent": false, "skip_logout_consent": nil,
		"created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
	}, true
}

func (h *Hydra) requestURL(clientID string, scopes []string, q url.Values) string {
	all := url.Values{"client_id": {clientID}, "response_type": {"code"}, "scope": {strings.Join(scopes, " ")}, "state": {"s"}}
	for k, v := range q {
		all[k] = v
	}
	return h.PublicURL + "/oauth2/auth?" + all.Encode()
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

func (h *Hydra) getClient(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.clientJSON(r.PathValue("id"))
	if !ok {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// clientBody is the part of a client body the fake keeps.
type clientBody struct {
	ID                     string         `json:"client_id"`
	Name                   string         `json:"client_name"`
	Scope                  string         `json:"scope"`
	GrantTypes             []string       `json:"grant_types"`
	RedirectURIs           []string       `json:"redirect_uris"`
	PostLogoutRedirectURIs []string       `json:"post_logout_redirect_uris"`
	Metadata               map[string]any `json:"metadata"`
	AuthMethod             string         `json:"token_endpoint_auth_method"`
}

func (b clientBody) client() Client {
	fp, _ := b.Metadata["first_party"].(bool)
	return Client{ID: b.ID, Name: b.Name, FirstParty: fp, Scopes: strings.Fields(b.Scope), GrantTypes: b.GrantTypes,
		RedirectURIs: b.RedirectURIs, PostLogoutRedirectURIs: b.PostLogoutRedirectURIs, Public: b.AuthMethod == "none", Metadata: b.Metadata}
}

func (h *Hydra) createClient(w http.ResponseWriter, r *http.Request) {
	var b clientBody
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		hydraError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if b.ID == "" {
		b.ID = NewID()
	}
	if _, ok := h.clients[b.ID]; ok {
		hydraError(w, http.StatusConflict, "Conflict", "Unable to insert or update resource because a resource with that value exists already")
		return
	}
	h.clients[b.ID] = b.client()
	c, _ := h.clientJSON(b.ID)
	writeJSON(w, http.StatusCreated, c)
}

func (h *Hydra) setClient(w http.ResponseWriter, r *http.Request) {
	var b clientBody
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		hydraError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	id := r.PathValue("id")
	if _, ok := h.clients[id]; !ok {
		notFound(w)
		return
	}
	b.ID = id
	h.clients[id] = b.client()
	c, _ := h.clientJSON(id)
	writeJSON(w, http.StatusOK, c)
}

// TokenHook builds the body Hydra v2.3.0 posts to oauth2.token_hook
// (oauth2.TokenHookRequest: the oauth2.Session being issued and the token
// request).
type TokenHook struct {
	Subject       string
	ClientID      string
	GrantTypes    []string       // e.g. refresh_token
	GrantedScopes []string       // request.granted_scopes
	AccessClaims  map[string]any // session.extra: the access token's claims
	IDClaims      map[string]any // session.id_token.id_token_claims.ext
}

// JSON is the hook's request body.
func (t TokenHook) JSON() []byte {
	now := time.Now().UTC()
	extra := t.AccessClaims
	if extra == nil {
		extra = map[string]any{}
	}
	b, _ := json.Marshal(map[string]any{
		"session": map[string]any{
			"id_token": map[string]any{ // fosite openid.DefaultSession
				"id_token_claims": map[string]any{ // fosite jwt.IDTokenClaims
					"jti": "", "iss": "http://127.0.0.1:4444/", "sub": t.Subject, "aud": []string{t.ClientID},
					"nonce": "", "exp": "0001-01-01T00:00:00Z", "iat": now, "rat": now, "auth_time": now.Add(-time.Hour),
					"at_hash": "", "acr": "0", "amr": []string{"password"}, "c_hash": "", "ext": t.IDClaims,
				},
				"headers":    map[string]any{"extra": map[string]any{}},
				"expires_at": map[string]any{"access_token": now.Add(6 * time.Hour), "refresh_token": now.Add(168 * time.Hour)},
				"username":   "",
				"subject":    t.Subject,
			},
			"extra":                    extra,
			"kid":                      "",
			"client_id":                t.ClientID,
			"consent_challenge":        challenge(),
			"exclude_not_before_claim": false,
			"allowed_top_level_claims": []string{"email", "email_verified", "name", "role", "session_id"},
			"mirror_top_level_claims":  false,
		},
		"request": map[string]any{
			"client_id": t.ClientID, "requested_scopes": nonNilStrings(t.GrantedScopes),
			"granted_scopes": nonNilStrings(t.GrantedScopes), "granted_audience": []string{},
			"grant_types": nonNilStrings(t.GrantTypes),
			"payload":     map[string][]string{"grant_type": t.GrantTypes},
		},
	})
	return b
}
