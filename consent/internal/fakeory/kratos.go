package fakeory

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
)

// SessionCookie is Kratos' default session cookie name.
const SessionCookie = "ory_kratos_session"

// Identity is a Kratos identity as the fake stores it.
type Identity struct {
	ID            string // generated when empty
	Email         string
	EmailVerified bool
	Name          string
	Role          string // metadata_public.role; omitted when empty
	Inactive      bool   // state: inactive
}

// Session is a Kratos session.
type Session struct {
	ID              string // generated when empty
	IdentityID      string
	Inactive        bool // active: false (signed out, revoked, disabled)
	AuthenticatedAt time.Time
	ExpiresAt       time.Time
	Methods         []string // authentication_methods[].method; default password
	// Token is the value of the browser's ory_kratos_session cookie;
	// generated when empty.
	Token string
}

// Kratos is a fake of Kratos' public and admin APIs.
type Kratos struct {
	Public *httptest.Server
	Admin  *httptest.Server

	mu         sync.Mutex
	identities map[string]Identity
	sessions   map[string]*Session
	calls      []string
	fail       int
}

// NewKratos starts fake Kratos public and admin APIs, closed when the test ends.
func NewKratos(t testing.TB) *Kratos {
	k := &Kratos{identities: map[string]Identity{}, sessions: map[string]*Session{}}
	pub := http.NewServeMux()
	pub.HandleFunc("GET /sessions/whoami", k.whoami)
	pub.HandleFunc("GET /self-service/logout/browser", k.logoutBrowser)
	adm := http.NewServeMux()
	adm.HandleFunc("GET /admin/identities/{id}", k.getIdentity)
	adm.HandleFunc("GET /admin/sessions/{id}", k.getSession)
	wrap := func(mux *http.ServeMux) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			k.mu.Lock()
			k.calls = append(k.calls, r.Method+" "+r.URL.Path)
			fail := k.fail
			k.mu.Unlock()
			if fail != 0 {
				kratosError(w, fail, "the fake was told to fail")
				return
			}
			mux.ServeHTTP(w, r)
		})
	}
	k.Public = httptest.NewServer(wrap(pub))
	k.Admin = httptest.NewServer(wrap(adm))
	t.Cleanup(k.Public.Close)
	t.Cleanup(k.Admin.Close)
	return k
}

// Fail makes every request answer status (0: answer normally).
func (k *Kratos) Fail(status int) { k.mu.Lock(); k.fail = status; k.mu.Unlock() }

// Calls lists the requests received, as "METHOD /path".
func (k *Kratos) Calls() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.calls...)
}

// AddIdentity stores an identity and returns its id.
func (k *Kratos) AddIdentity(i Identity) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	if i.ID == "" {
		i.ID = NewID()
	}
	k.identities[i.ID] = i
	return i.ID
}

// DeleteIdentity removes an identity and, as Kratos does, its sessions.
func (k *Kratos) DeleteIdentity(id string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.identities, id)
	for sid, s := range k.sessions {
		if s.IdentityID == id {
			delete(k.sessions, sid)
		}
	}
}

// SetInactive sets an identity's state.
func (k *Kratos) SetInactive(id string, inactive bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	i := k.identities[id]
	i.Inactive = inactive
	k.identities[id] = i
}

// AddSession stores a session and returns it with its generated fields.
func (k *Kratos) AddSession(s Session) Session {
	k.mu.Lock()
	defer k.mu.Unlock()
	if s.ID == "" {
		s.ID = NewID()
	}
	if s.Token == "" {
		s.Token = "ory_st_" + challenge()
	}
	if s.AuthenticatedAt.IsZero() {
		s.AuthenticatedAt = time.Now().Add(-time.Minute)
	}
	if s.ExpiresAt.IsZero() {
		s.ExpiresAt = s.AuthenticatedAt.Add(24 * time.Hour)
	}
	if len(s.Methods) == 0 {
		s.Methods = []string{"password"}
	}
	c := s
	k.sessions[s.ID] = &c
	return s
}

// Revoke sets a session inactive, as Kratos' logout, "revoke other
// sessions" and DELETE /admin/sessions/{id} do.
func (k *Kratos) Revoke(id string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if s := k.sessions[id]; s != nil {
		s.Inactive = true
	}
}

// DeleteSession removes a session, as DELETE
// /admin/identities/{id}/sessions does.
func (k *Kratos) DeleteSession(id string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.sessions, id)
}

// Cookie is the Cookie header of a browser signed in with session s.
func Cookie(s Session) string { return SessionCookie + "=" + s.Token }

// kratosError writes Kratos' error body (herodot's {"error": {...}}).
func kratosError(w http.ResponseWriter, status int, reason string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"code": status, "status": http.StatusText(status), "reason": reason, "message": http.StatusText(status),
	}})
}

func (k *Kratos) identityJSON(i Identity) map[string]any {
	state := "active"
	if i.Inactive {
		state = "inactive"
	}
	traits := map[string]any{"email": i.Email}
	if i.Name != "" {
		traits["name"] = i.Name
	}
	var mdPublic any
	if i.Role != "" {
		mdPublic = map[string]any{"role": i.Role}
	}
	status := "pending"
	if i.EmailVerified {
		status = "completed"
	}
	return map[string]any{
		"id": i.ID, "schema_id": "learner", "schema_url": "http://kratos.test/schemas/bGVhcm5lcg",
		"state": state, "state_changed_at": "2026-01-01T00:00:00Z", "traits": traits,
		"verifiable_addresses": []map[string]any{{
			"id": NewID(), "value": i.Email, "verified": i.EmailVerified, "via": "email", "status": status,
			"created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
		}},
		"recovery_addresses": []map[string]any{{"id": NewID(), "value": i.Email, "via": "email"}},
		"metadata_public":    mdPublic, "metadata_admin": nil,
		"created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z", "organization_id": nil,
	}
}

func (k *Kratos) sessionJSON(s *Session, withIdentity bool) map[string]any {
	var methods []map[string]any
	for _, m := range s.Methods {
		methods = append(methods, map[string]any{"method": m, "aal": "aal1", "completed_at": s.AuthenticatedAt})
	}
	out := map[string]any{
		"id": s.ID, "active": !s.Inactive, "expires_at": s.ExpiresAt, "authenticated_at": s.AuthenticatedAt,
		"authenticator_assurance_level": "aal1", "authentication_methods": methods, "issued_at": s.AuthenticatedAt,
		"devices": []map[string]any{{"id": NewID(), "ip_address": "127.0.0.1", "user_agent": "test", "location": ""}},
	}
	if i, ok := k.identities[s.IdentityID]; ok && withIdentity {
		out["identity"] = k.identityJSON(i)
	}
	return out
}

// browserSession finds the live session of a request's cookies (all Cookie
// headers, as Kratos reads them).
func (k *Kratos) browserSession(r *http.Request) *Session {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return nil
	}
	for _, s := range k.sessions {
		if s.Token == c.Value && !s.Inactive && s.ExpiresAt.After(time.Now()) {
			if i, ok := k.identities[s.IdentityID]; ok && !i.Inactive {
				return s
			}
		}
	}
	return nil
}

func (k *Kratos) whoami(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	s := k.browserSession(r)
	if s == nil {
		kratosError(w, http.StatusUnauthorized, "No valid session credentials found in the request.")
		return
	}
	writeJSON(w, http.StatusOK, k.sessionJSON(s, true))
}

func (k *Kratos) logoutBrowser(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	s := k.browserSession(r)
	if s == nil {
		kratosError(w, http.StatusUnauthorized, "No active session was found in this request.")
		return
	}
	token := "ory_lo_" + challenge()
	q := url.Values{"token": {token}}
	if rt := r.URL.Query().Get("return_to"); rt != "" {
		q.Set("return_to", rt)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"logout_url":   k.Public.URL + "/self-service/logout?" + q.Encode(),
		"logout_token": token,
	})
}

func (k *Kratos) getIdentity(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	i, ok := k.identities[r.PathValue("id")]
	if !ok {
		kratosError(w, http.StatusNotFound, "Unable to locate the resource")
		return
	}
	writeJSON(w, http.StatusOK, k.identityJSON(i))
}

func (k *Kratos) getSession(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	id := r.PathValue("id")
	if len(id) != 36 {
		kratosError(w, http.StatusBadRequest, "could not parse UUID")
		return
	}
	s, ok := k.sessions[id]
	if !ok {
		kratosError(w, http.StatusNotFound, "Unable to locate the resource")
		return
	}
	// The admin API answers a session whatever its state; active is the
	// stored flag, so an expired session still says active: true.
	withIdentity := false
	for _, e := range r.URL.Query()["expand"] {
		withIdentity = withIdentity || e == "identity"
	}
	writeJSON(w, http.StatusOK, k.sessionJSON(s, withIdentity))
}
