package orytest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// SessionCookie is Kratos' default session cookie name.
const SessionCookie = "ory_kratos_session"

// MsgSettingsSaved is Kratos' "Your changes have been saved!".
const MsgSettingsSaved = 1050001

// RefusedPassword is a password the fake Kratos refuses in a settings flow
// (as Kratos refuses one found in breaches), for tests of failed changes.
const RefusedPassword = "Refused-By-Kratos-1!"

// NewID returns a random UUID (v4), the form Kratos and Hydra ids take.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func randomToken() string { return strings.ReplaceAll(NewID(), "-", "") }

// Identity is a Kratos identity as the fake stores it.
type Identity struct {
	ID       string // generated when empty
	Email    string
	Name     string
	Role     string // metadata_public.role; omitted when empty
	Inactive bool   // state: inactive
	// Unverified leaves the email address unverified (it is verified
	// otherwise).
	Unverified bool
	// Password signs in through the fake's login flows ("" cannot).
	Password string
	// PasswordHash is an imported password credential's hash; listed (as
	// is "(hash)" for a Password) when credentials are asked for.
	PasswordHash string
	// Links are social sign-in links, "provider:subject" (the oidc
	// credential's identifiers).
	Links []string
	// MetadataAdmin is metadata_admin; null when nil.
	MetadataAdmin map[string]any
}

// Session is a Kratos session.
type Session struct {
	ID         string // generated when empty
	IdentityID string
	Inactive   bool // active: false (signed out, revoked, disabled)
	// Token is both the browser's ory_kratos_session cookie value and a
	// native app's session token; generated when empty.
	Token string
	// AuthenticatedAt defaults to a minute ago, ExpiresAt to a day after
	// it; a session past ExpiresAt signs nobody in.
	AuthenticatedAt time.Time
	ExpiresAt       time.Time
	// Methods are authentication_methods[].method; default password.
	Methods []string
}

// Cookie is the Cookie header of a browser signed in with s.
func (s Session) Cookie() string { return SessionCookie + "=" + s.Token }

// LogoutToken is the token of s's browser sign-out URL.
func (s Session) LogoutToken() string { return "ory_lo_" + strings.ReplaceAll(s.ID, "-", "") }

// Kratos is a fake of Kratos' public and admin APIs.
type Kratos struct {
	Public *httptest.Server
	Admin  *httptest.Server

	mu         sync.Mutex
	identities map[string]*Identity
	sessions   map[string]*Session
	flows      map[string]*settingsFlow
	calls      []string
	failOn     map[string]int
	logins     map[string]*loginFlow
	// passwordChecks counts the passwords the login flows compared.
	passwordChecks int
	loginDelay     time.Duration
	codesSent      []string // addresses verification and recovery codes went to
}

// NewKratos starts fake Kratos public and admin APIs, closed when the test ends.
func NewKratos(t testing.TB) *Kratos {
	k := &Kratos{identities: map[string]*Identity{}, sessions: map[string]*Session{},
		flows: map[string]*settingsFlow{}, failOn: map[string]int{}, logins: map[string]*loginFlow{}}
	pub := http.NewServeMux()
	pub.HandleFunc("GET /sessions/whoami", k.whoami)
	pub.HandleFunc("GET /sessions", k.listMySessions)
	pub.HandleFunc("DELETE /sessions", k.disableMyOtherSessions)
	pub.HandleFunc("DELETE /sessions/{id}", k.disableMySession)
	pub.HandleFunc("GET /self-service/logout/browser", k.logoutURL)
	pub.HandleFunc("GET /self-service/logout", k.logout)
	pub.HandleFunc("DELETE /self-service/logout/api", k.logoutAPI)
	pub.HandleFunc("GET /self-service/settings/flows", k.getSettingsFlow)
	pub.HandleFunc("POST /self-service/settings", k.updateSettingsFlow)
	pub.HandleFunc("GET /self-service/login/flows", k.getLoginFlow)
	pub.HandleFunc("POST /self-service/login", k.updateLoginFlow)
	for _, kind := range []string{"verification", "recovery"} {
		pub.HandleFunc("GET /self-service/"+kind+"/flows", k.getCodeFlow(kind))
		pub.HandleFunc("POST /self-service/"+kind, k.sendCode(kind))
	}
	adm := http.NewServeMux()
	adm.HandleFunc("GET /admin/identities", k.listIdentities)
	adm.HandleFunc("PATCH /admin/identities", k.importIdentities)
	adm.HandleFunc("GET /admin/identities/{id}", k.getIdentity)
	adm.HandleFunc("PATCH /admin/identities/{id}", k.patchIdentity)
	adm.HandleFunc("DELETE /admin/identities/{id}", k.deleteIdentity)
	adm.HandleFunc("DELETE /admin/identities/{id}/sessions", k.deleteIdentitySessions)
	adm.HandleFunc("GET /admin/sessions/{id}", k.getSession)
	adm.HandleFunc("GET /health/ready", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	wrap := func(mux *http.ServeMux) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if status := k.record(r); status != 0 {
				kratosError(w, status, "the fake was told to fail")
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

// record notes a call and returns the status FailOn set for it (0: answer
// normally).
func (k *Kratos) record(r *http.Request) int {
	call := r.Method + " " + r.URL.Path
	k.mu.Lock()
	defer k.mu.Unlock()
	k.calls = append(k.calls, call)
	fail := 0
	for prefix, status := range k.failOn {
		if strings.HasPrefix(call, prefix) {
			fail = status
		}
	}
	return fail
}

// FailOn makes every request whose "METHOD /path" starts with prefix
// answer status (0: answer normally again); prefix "" fails them all.
func (k *Kratos) FailOn(prefix string, status int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if status == 0 {
		delete(k.failOn, prefix)
		return
	}
	k.failOn[prefix] = status
}

// Calls lists the requests received, as "METHOD /path".
func (k *Kratos) Calls() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.calls...)
}

// Called counts the requests that were "METHOD /path" starting with prefix.
func (k *Kratos) Called(prefix string) int {
	n := 0
	for _, c := range k.Calls() {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

// AddIdentity stores an identity and returns its id.
func (k *Kratos) AddIdentity(i Identity) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	if i.ID == "" {
		i.ID = NewID()
	}
	k.identities[i.ID] = &i
	return i.ID
}

// Identity returns the identity as stored now.
func (k *Kratos) Identity(id string) (Identity, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	i, ok := k.identities[id]
	if !ok {
		return Identity{}, false
	}
	return *i, true
}

// DeleteIdentity removes an identity and, as Kratos does, its sessions.
func (k *Kratos) DeleteIdentity(id string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.deleteIdentityLocked(id)
}

func (k *Kratos) deleteIdentityLocked(id string) {
	delete(k.identities, id)
	for sid, s := range k.sessions {
		if s.IdentityID == id {
			delete(k.sessions, sid)
		}
	}
}

// SetInactive sets an identity's state (inactive or active).
func (k *Kratos) SetInactive(id string, inactive bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if i := k.identities[id]; i != nil {
		i.Inactive = inactive
	}
}

// AddSession stores an active session and returns it with its generated
// fields.
func (k *Kratos) AddSession(identityID string) Session {
	return k.PutSession(Session{IdentityID: identityID})
}

// PutSession stores s, filling in what it leaves empty (id, token, times,
// methods), and returns it so filled.
func (k *Kratos) PutSession(s Session) Session {
	k.mu.Lock()
	defer k.mu.Unlock()
	return *k.putSessionLocked(s)
}

func (k *Kratos) putSessionLocked(s Session) *Session {
	if s.ID == "" {
		s.ID = NewID()
	}
	if s.Token == "" {
		s.Token = "ory_st_" + randomToken()
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
	k.sessions[s.ID] = &s
	return &s
}

// Active reports whether session id exists and is active.
func (k *Kratos) Active(id string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	s, ok := k.sessions[id]
	return ok && !s.Inactive
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

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// kratosError writes Kratos' error body (herodot's {"error": {...}}).
func kratosError(w http.ResponseWriter, status int, reason string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"code": status, "status": http.StatusText(status), "reason": reason, "message": http.StatusText(status),
	}})
}

const stamp = "2026-01-01T00:00:00Z"

// identityJSON is i as the admin API answers it; withCredentials adds the
// password and oidc credentials (include_credential).
func (k *Kratos) identityJSON(i *Identity, withCredentials bool) map[string]any {
	state := "active"
	if i.Inactive {
		state = "inactive"
	}
	traits := map[string]any{"email": i.Email}
	if i.Name != "" {
		traits["name"] = i.Name
	}
	var mdPublic, mdAdmin any
	if i.Role != "" {
		mdPublic = map[string]any{"role": i.Role}
	}
	if i.MetadataAdmin != nil {
		mdAdmin = i.MetadataAdmin
	}
	status := "completed"
	if i.Unverified {
		status = "pending"
	}
	out := map[string]any{
		"id": i.ID, "schema_id": "learner", "schema_url": k.Public.URL + "/schemas/bGVhcm5lcg",
		"state": state, "state_changed_at": stamp, "traits": traits,
		"verifiable_addresses": []map[string]any{{
			"id": NewID(), "value": i.Email, "verified": !i.Unverified, "via": "email", "status": status,
			"created_at": stamp, "updated_at": stamp,
		}},
		"recovery_addresses": []map[string]any{{"id": NewID(), "value": i.Email, "via": "email"}},
		"metadata_public":    mdPublic, "metadata_admin": mdAdmin,
		"created_at": stamp, "updated_at": stamp, "organization_id": nil,
	}
	if withCredentials {
		creds := map[string]any{}
		hash := i.PasswordHash
		if hash == "" && i.Password != "" {
			hash = "(hash)"
		}
		if hash != "" {
			creds["password"] = map[string]any{"type": "password", "identifiers": []string{i.Email}, "version": 0,
				"config": map[string]any{"hashed_password": hash}, "created_at": stamp, "updated_at": stamp}
		}
		if len(i.Links) > 0 {
			var providers []map[string]any
			for _, l := range i.Links {
				p, s, _ := strings.Cut(l, ":")
				providers = append(providers, map[string]any{"provider": p, "subject": s})
			}
			creds["oidc"] = map[string]any{"type": "oidc", "identifiers": i.Links, "version": 0,
				"config": map[string]any{"providers": providers}, "created_at": stamp, "updated_at": stamp}
		}
		out["credentials"] = creds
	}
	return out
}

func (k *Kratos) sessionJSON(s *Session, withIdentity bool) map[string]any {
	var methods []map[string]any
	for _, m := range s.Methods {
		methods = append(methods, map[string]any{"method": m, "aal": "aal1", "completed_at": s.AuthenticatedAt})
	}
	out := map[string]any{
		"id": s.ID, "active": !s.Inactive, "expires_at": s.ExpiresAt, "authenticated_at": s.AuthenticatedAt,
		"authenticator_assurance_level": "aal1", "issued_at": s.AuthenticatedAt, "authentication_methods": methods,
		"devices": []map[string]any{{"id": NewID(), "ip_address": "127.0.0.1", "user_agent": "test", "location": ""}},
	}
	if i, ok := k.identities[s.IdentityID]; ok && withIdentity {
		out["identity"] = k.identityJSON(i, false)
	}
	return out
}

// requestSession is the live session of a request: its cookie (any of its
// Cookie headers, as Kratos reads them all), its X-Session-Token or its
// Authorization: Bearer token.
func (k *Kratos) requestSession(r *http.Request) *Session {
	token := r.Header.Get("X-Session-Token")
	if token == "" {
		token = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	if c, err := r.Cookie(SessionCookie); token == "" && err == nil {
		token = c.Value
	}
	return k.sessionByToken(token)
}

// sessionByToken is the live session with token: active, not expired, of
// an active identity.
func (k *Kratos) sessionByToken(token string) *Session {
	if token == "" {
		return nil
	}
	for _, s := range k.sessions {
		if s.Token == token && !s.Inactive && s.ExpiresAt.After(time.Now()) {
			if i, ok := k.identities[s.IdentityID]; ok && !i.Inactive {
				return s
			}
		}
	}
	return nil
}

// logoutURL answers a signed-in browser its sign-out URL (the fake's
// /self-service/logout with the session's logout token and return_to).
func (k *Kratos) logoutURL(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	s := k.requestSession(r)
	if s == nil {
		kratosError(w, http.StatusUnauthorized, "No active session was found in this request.")
		return
	}
	q := url.Values{"token": {s.LogoutToken()}}
	if rt := r.URL.Query().Get("return_to"); rt != "" {
		q.Set("return_to", rt)
	}
	writeJSON(w, http.StatusOK, map[string]any{"logout_token": s.LogoutToken(),
		"logout_url": k.Public.URL + "/self-service/logout?" + q.Encode()})
}

func (k *Kratos) whoami(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	s := k.requestSession(r)
	if s == nil {
		kratosError(w, http.StatusUnauthorized, "No valid session credentials found in the request.")
		return
	}
	writeJSON(w, http.StatusOK, k.sessionJSON(s, true))
}

// listMySessions answers the identity's other active sessions.
func (k *Kratos) listMySessions(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	cur := k.requestSession(r)
	if cur == nil {
		kratosError(w, http.StatusUnauthorized, "No valid session credentials found in the request.")
		return
	}
	out := []map[string]any{}
	for _, s := range k.sessions {
		if s.IdentityID == cur.IdentityID && s.ID != cur.ID && !s.Inactive {
			out = append(out, k.sessionJSON(s, false))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (k *Kratos) disableMyOtherSessions(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	cur := k.requestSession(r)
	if cur == nil {
		kratosError(w, http.StatusUnauthorized, "No valid session credentials found in the request.")
		return
	}
	n := 0
	for _, s := range k.sessions {
		if s.IdentityID == cur.IdentityID && s.ID != cur.ID && !s.Inactive {
			s.Inactive = true
			n++
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": n})
}

// disableMySession: Kratos refuses the current session (400) and answers
// 404 for a session that is not the identity's.
func (k *Kratos) disableMySession(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	cur := k.requestSession(r)
	if cur == nil {
		kratosError(w, http.StatusUnauthorized, "No valid session credentials found in the request.")
		return
	}
	id := r.PathValue("id")
	if id == cur.ID {
		kratosError(w, http.StatusBadRequest, "You can not revoke the current session.")
		return
	}
	s, ok := k.sessions[id]
	if !ok || s.IdentityID != cur.IdentityID {
		kratosError(w, http.StatusNotFound, "Unable to locate the resource")
		return
	}
	s.Inactive = true
	w.WriteHeader(http.StatusNoContent)
}

// logout is the browser's sign-out URL: with the session's logout token it
// ends the session, clears the cookie and redirects to return_to; anything
// else goes to the error page with the cookie untouched.
func (k *Kratos) logout(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	s := k.requestSession(r)
	if s == nil || r.URL.Query().Get("token") != s.LogoutToken() {
		http.Redirect(w, r, "/error?id="+NewID(), http.StatusSeeOther)
		return
	}
	s.Inactive = true
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true})
	to := r.URL.Query().Get("return_to")
	if to == "" {
		to = "/login"
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func (k *Kratos) logoutAPI(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var b struct {
		SessionToken string `json:"session_token"`
	}
	_ = json.NewDecoder(r.Body).Decode(&b)
	s := k.sessionByToken(b.SessionToken)
	if s == nil {
		kratosError(w, http.StatusForbidden, "The provided Ory Session Token is invalid.")
		return
	}
	s.Inactive = true
	w.WriteHeader(http.StatusNoContent)
}
