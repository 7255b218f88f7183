package orytest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

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

// Hydra is a fake of Hydra's admin API: OAuth2 clients, the login, consent
// and logout requests Hydra hands the consent app, and the ending of a
// subject's login and consent sessions.
type Hydra struct {
	Admin *httptest.Server
	// PublicURL is Hydra's public URL as redirect_to answers name it.
	PublicURL string

	mu       sync.Mutex
	clients  map[string]Client
	logins   map[string]*state[LoginRequest]
	consents map[string]*state[ConsentRequest]
	logouts  map[string]*state[LogoutRequest]
	calls    []string
	fail     int
	// ended are the subjects whose login sessions, and whose consent
	// sessions, were ended.
	endedLogins, endedConsents []string
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
	mux.HandleFunc("DELETE /admin/oauth2/auth/sessions/login", h.endLoginSessions)
	mux.HandleFunc("DELETE /admin/oauth2/auth/sessions/consent", h.endConsentSessions)
	h.Admin = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	t.Cleanup(h.Admin.Close)
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

// Called counts the requests that were "METHOD /path" starting with prefix.
func (h *Hydra) Called(prefix string) int {
	n := 0
	for _, c := range h.Calls() {
		if strings.HasPrefix(c, prefix) {
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

// hydraError writes Hydra's error body (herodot / fosite RFC 6749 shape).
func hydraError(w http.ResponseWriter, status int, name, description string) {
	writeJSON(w, status, map[string]any{"error": name, "error_description": description, "status_code": status})
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

// Ended lists the subjects whose login sessions and whose consent sessions
// were ended, in order.
func (h *Hydra) Ended() (logins, consents []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.endedLogins...), append([]string(nil), h.endedConsents...)
}

// endLoginSessions is DELETE /admin/oauth2/auth/sessions/login?subject=
// (or sid=): 204, also when there was nothing to end, as Hydra v2.3.0
// answers.
func (h *Hydra) endLoginSessions(w http.ResponseWriter, r *http.Request) {
	subject := r.URL.Query().Get("subject")
	if subject == "" && r.URL.Query().Get("sid") == "" {
		hydraError(w, http.StatusBadRequest, "invalid_request", "Either 'subject' or 'sid' query parameters need to be defined.")
		return
	}
	h.mu.Lock()
	h.endedLogins = append(h.endedLogins, subject)
	h.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// endConsentSessions is DELETE
// /admin/oauth2/auth/sessions/consent?subject=&all=true (or &client=): 204.
func (h *Hydra) endConsentSessions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("subject") == "" {
		hydraError(w, http.StatusBadRequest, "invalid_request", "Query parameter 'subject' is not defined but should have been.")
		return
	}
	if q.Get("client") == "" && q.Get("all") != "true" {
		hydraError(w, http.StatusBadRequest, "invalid_request", "Query parameter both 'client' and 'all' is not defined but one of them should have been.")
		return
	}
	h.mu.Lock()
	h.endedConsents = append(h.endedConsents, q.Get("subject"))
	h.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}
