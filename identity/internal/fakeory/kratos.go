// Package fakeory stands in for the parts of Ory Kratos v1.3.1's public and
// admin APIs and Ory Hydra v2.3.0's admin API that the identity edge uses,
// and for Hydra as a token issuer (JWKS and RS256 access tokens). The fakes
// are httptest servers answering the JSON the real services answer (shapes
// taken from Kratos' session, identity and settings packages and Hydra's
// consent handler at those versions), so tests drive the edge's real
// kratos-client-go client, its Hydra client and kit/token's validator.
//
// They hold state that tests set up, record what the edge sent, and can be
// told to fail. Only what the edge's tests need is there; grow them as the
// edge uses more.
package fakeory

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
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

// NewID returns a random UUID (v4), the form Kratos ids take.
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
	// Password signs in through the fake's login flows ("" cannot).
	Password string
}

// Session is a Kratos session.
type Session struct {
	ID         string // generated when empty
	IdentityID string
	Inactive   bool // active: false (signed out, disabled)
	// Token is both the browser's ory_kratos_session cookie value and a
	// native app's session token; generated when empty.
	Token string
}

// Cookie is the Cookie header of a browser signed in with s.
func (s Session) Cookie() string { return SessionCookie + "=" + s.Token }

// LogoutToken is the token of s's browser sign-out URL.
func (s Session) LogoutToken() string { return "ory_lo_" + strings.ReplaceAll(s.ID, "-", "") }

type settingsFlow struct {
	id, identityID, typ string
	state               string
	messages            []map[string]any
}

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
	adm.HandleFunc("GET /admin/identities/{id}", k.getIdentity)
	adm.HandleFunc("PATCH /admin/identities/{id}", k.patchIdentity)
	adm.HandleFunc("DELETE /admin/identities/{id}/sessions", k.deleteIdentitySessions)
	adm.HandleFunc("GET /admin/sessions/{id}", k.getSession)
	adm.HandleFunc("GET /health/ready", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	wrap := func(mux *http.ServeMux) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			call := r.Method + " " + r.URL.Path
			k.mu.Lock()
			k.calls = append(k.calls, call)
			fail := 0
			for prefix, status := range k.failOn {
				if strings.HasPrefix(call, prefix) {
					fail = status
				}
			}
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

// FailOn makes every request whose "METHOD /path" starts with prefix
// answer status (0: answer normally again).
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

// AddSession stores an active session and returns it with its generated
// fields.
func (k *Kratos) AddSession(identityID string) Session {
	k.mu.Lock()
	defer k.mu.Unlock()
	s := &Session{ID: NewID(), IdentityID: identityID, Token: "ory_st_" + randomToken()}
	k.sessions[s.ID] = s
	return *s
}

// Active reports whether session id exists and is active.
func (k *Kratos) Active(id string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	s, ok := k.sessions[id]
	return ok && !s.Inactive
}

// AddSettingsFlow starts a settings flow (typ "browser" or "api") for an
// identity and returns its id.
func (k *Kratos) AddSettingsFlow(identityID, typ string) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	f := &settingsFlow{id: NewID(), identityID: identityID, typ: typ, state: "show_form"}
	k.flows[f.id] = f
	return f.id
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

func (k *Kratos) identityJSON(i *Identity) map[string]any {
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
	return map[string]any{
		"id": i.ID, "schema_id": "learner", "schema_url": k.Public.URL + "/schemas/bGVhcm5lcg",
		"state": state, "state_changed_at": stamp, "traits": traits,
		"verifiable_addresses": []map[string]any{{
			"id": NewID(), "value": i.Email, "verified": true, "via": "email", "status": "completed",
			"created_at": stamp, "updated_at": stamp,
		}},
		"recovery_addresses": []map[string]any{{"id": NewID(), "value": i.Email, "via": "email"}},
		"metadata_public":    mdPublic, "metadata_admin": nil,
		"created_at": stamp, "updated_at": stamp, "organization_id": nil,
	}
}

func (k *Kratos) sessionJSON(s *Session, withIdentity bool) map[string]any {
	now := time.Now().UTC()
	out := map[string]any{
		"id": s.ID, "active": !s.Inactive, "expires_at": now.Add(24 * time.Hour), "authenticated_at": now.Add(-time.Minute),
		"authenticator_assurance_level": "aal1", "issued_at": now.Add(-time.Minute),
		"authentication_methods": []map[string]any{{"method": "password", "aal": "aal1", "completed_at": now.Add(-time.Minute)}},
		"devices":                []map[string]any{{"id": NewID(), "ip_address": "127.0.0.1", "user_agent": "test", "location": ""}},
	}
	if i, ok := k.identities[s.IdentityID]; ok && withIdentity {
		out["identity"] = k.identityJSON(i)
	}
	return out
}

// requestSession is the live session of a request: its cookie, its
// X-Session-Token or its Authorization: Bearer token.
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

func (k *Kratos) sessionByToken(token string) *Session {
	if token == "" {
		return nil
	}
	for _, s := range k.sessions {
		if s.Token == token && !s.Inactive {
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

func (k *Kratos) flowJSON(f *settingsFlow) map[string]any {
	now := time.Now().UTC()
	msgs := f.messages
	if msgs == nil {
		msgs = []map[string]any{}
	}
	return map[string]any{
		"id": f.id, "type": f.typ, "state": f.state,
		"expires_at": now.Add(time.Hour), "issued_at": now,
		"request_url": k.Public.URL + "/self-service/settings/browser",
		"identity":    k.identityJSON(k.identities[f.identityID]),
		"ui": map[string]any{
			"action": k.Public.URL + "/self-service/settings?flow=" + f.id, "method": "POST",
			"nodes": []any{}, "messages": msgs,
		},
	}
}

// flowFor finds a settings flow the request's session may use.
func (k *Kratos) flowFor(w http.ResponseWriter, r *http.Request, id string) (*settingsFlow, *Session) {
	f, ok := k.flows[id]
	if !ok {
		kratosError(w, http.StatusNotFound, "Unable to locate the resource")
		return nil, nil
	}
	s := k.requestSession(r)
	if s == nil {
		kratosError(w, http.StatusUnauthorized, "No valid session credentials found in the request.")
		return nil, nil
	}
	if s.IdentityID != f.identityID {
		kratosError(w, http.StatusForbidden, "Access privileges are missing, invalid, or not sufficient to access this endpoint.")
		return nil, nil
	}
	return f, s
}

func (k *Kratos) getSettingsFlow(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	f, _ := k.flowFor(w, r, r.URL.Query().Get("id"))
	if f != nil {
		writeJSON(w, http.StatusOK, k.flowJSON(f))
	}
}

// updateSettingsFlow takes a password change. A success ends the
// identity's other sessions (the revoke_active_sessions hook); API flows and
// JSON requests get 200 with the flow, browser forms a 303 back to it.
func (k *Kratos) updateSettingsFlow(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	f, s := k.flowFor(w, r, r.URL.Query().Get("flow"))
	if f == nil {
		return
	}
	var method, password string
	body, _ := io.ReadAll(r.Body)
	isJSON := strings.HasPrefix(r.Header.Get("Content-Type"), "application/json")
	if isJSON {
		var b map[string]any
		_ = json.Unmarshal(body, &b)
		method, _ = b["method"].(string)
		password, _ = b["password"].(string)
	} else {
		form, _ := url.ParseQuery(string(body))
		method, password = form.Get("method"), form.Get("password")
	}
	ok := method == "password" && password != "" && password != RefusedPassword || method == "profile"
	if ok {
		f.state = "success"
		f.messages = []map[string]any{{"id": MsgSettingsSaved, "text": "Your changes have been saved!", "type": "success"}}
		if method == "password" {
			for _, o := range k.sessions {
				if o.IdentityID == s.IdentityID && o.ID != s.ID {
					o.Inactive = true
				}
			}
		}
	} else {
		f.state = "show_form"
		f.messages = []map[string]any{{"id": 4000034, "text": "The password has been found in data breaches and must no longer be used.", "type": "error"}}
	}
	if f.typ == "api" || isJSON || strings.Contains(r.Header.Get("Accept"), "application/json") {
		status := http.StatusOK
		if !ok {
			status = http.StatusBadRequest
		}
		writeJSON(w, status, k.flowJSON(f))
		return
	}
	http.Redirect(w, r, "/settings?flow="+f.id, http.StatusSeeOther)
}

func (k *Kratos) listIdentities(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := []map[string]any{}
	want := r.URL.Query().Get("credentials_identifier")
	for _, i := range k.identities {
		if want == "" || strings.EqualFold(i.Email, want) {
			out = append(out, k.identityJSON(i))
		}
	}
	writeJSON(w, http.StatusOK, out)
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

// patchIdentity applies the JSON patches the edge sends: metadata_public
// (roles) and state.
func (k *Kratos) patchIdentity(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	i, ok := k.identities[r.PathValue("id")]
	if !ok {
		kratosError(w, http.StatusNotFound, "Unable to locate the resource")
		return
	}
	var patches []struct {
		Op    string `json:"op"`
		Path  string `json:"path"`
		Value any    `json:"value"`
	}
	if err := json.NewDecoder(r.Body).Decode(&patches); err != nil {
		kratosError(w, http.StatusBadRequest, "not a JSON patch")
		return
	}
	next := *i
	for _, p := range patches {
		if p.Op != "add" && p.Op != "replace" {
			kratosError(w, http.StatusBadRequest, "the fake knows add and replace only")
			return
		}
		switch p.Path {
		case "/metadata_public":
			m, _ := p.Value.(map[string]any)
			next.Role, _ = m["role"].(string)
		case "/state":
			switch p.Value {
			case "active":
				next.Inactive = false
			case "inactive":
				next.Inactive = true
			default:
				kratosError(w, http.StatusBadRequest, "The supplied state was not valid.")
				return
			}
		default:
			kratosError(w, http.StatusBadRequest, "the fake cannot patch "+p.Path)
			return
		}
	}
	*i = next
	writeJSON(w, http.StatusOK, k.identityJSON(i))
}

// deleteIdentitySessions deletes every session of the identity; like
// Kratos v1.3.1 it answers 404 when there was none (also for an unknown
// identity).
func (k *Kratos) deleteIdentitySessions(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := 0
	for id, s := range k.sessions {
		if s.IdentityID == r.PathValue("id") {
			delete(k.sessions, id)
			n++
		}
	}
	if n == 0 {
		kratosError(w, http.StatusNotFound, "Unable to locate the resource")
		return
	}
	w.WriteHeader(http.StatusNoContent)
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
	withIdentity := false
	for _, e := range r.URL.Query()["expand"] {
		withIdentity = withIdentity || e == "identity"
	}
	writeJSON(w, http.StatusOK, k.sessionJSON(s, withIdentity))
}

// CSRFCookie is the name of the fake's CSRF cookie (Kratos names it
// csrf_token_<hash of the base URL>).
const CSRFCookie = "csrf_token_fake"

// MsgInvalidCredentials is Kratos' "The provided credentials are invalid".
const MsgInvalidCredentials = 4000006

type loginFlow struct {
	id, typ  string
	csrf     string // the browser's CSRF cookie value the flow is bound to
	messages []map[string]any
}

// LoginFlow is a login flow started in the fake.
type LoginFlow struct {
	ID string
	// Cookie is the browser's Cookie header for a browser flow (its CSRF
	// cookie); CSRFToken the form's csrf_token.
	Cookie    string
	CSRFToken string
}

// NewLoginFlow starts a login flow, typ "browser" (bound to a fresh CSRF
// cookie, as Kratos binds it) or "api".
func (k *Kratos) NewLoginFlow(typ string) LoginFlow {
	k.mu.Lock()
	defer k.mu.Unlock()
	f := &loginFlow{id: NewID(), typ: typ}
	out := LoginFlow{ID: f.id}
	if typ == "browser" {
		f.csrf = randomToken()
		out.Cookie, out.CSRFToken = CSRFCookie+"="+f.csrf, f.csrf
	}
	k.logins[f.id] = f
	return out
}

// SetLoginDelay makes every login post wait d before answering, so tests
// can have many in flight at once.
func (k *Kratos) SetLoginDelay(d time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.loginDelay = d
}

// PasswordChecks counts the passwords the login flows compared.
func (k *Kratos) PasswordChecks() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.passwordChecks
}

// CodesSent lists the addresses verification and recovery codes went to.
func (k *Kratos) CodesSent() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.codesSent...)
}

func (k *Kratos) loginFlowJSON(f *loginFlow) map[string]any {
	now := time.Now().UTC()
	msgs := f.messages
	if msgs == nil {
		msgs = []map[string]any{}
	}
	node := func(name, typ, value string) map[string]any {
		return map[string]any{"type": "input", "group": "default", "messages": []any{}, "meta": map[string]any{},
			"attributes": map[string]any{"node_type": "input", "name": name, "type": typ, "value": value, "disabled": false}}
	}
	nodes := []any{node("identifier", "text", ""), node("password", "password", ""), node("method", "submit", "password")}
	if f.typ == "browser" {
		nodes = append(nodes, node("csrf_token", "hidden", f.csrf))
	}
	return map[string]any{
		"id": f.id, "type": f.typ, "state": "choose_method", "expires_at": now.Add(time.Hour), "issued_at": now,
		"request_url": k.Public.URL + "/self-service/login/" + f.typ, "refresh": false, "requested_aal": "aal1",
		"ui": map[string]any{"action": k.Public.URL + "/self-service/login?flow=" + f.id, "method": "POST",
			"nodes": nodes, "messages": msgs},
	}
}

// csrfOf is the CSRF cookie among all the request's Cookie headers (as
// Kratos reads them all).
func csrfOf(r *http.Request) string {
	c, err := r.Cookie(CSRFCookie)
	if err != nil {
		return ""
	}
	return c.Value
}

// getLoginFlow answers a browser flow only to the browser it was started
// in (its CSRF cookie), as Kratos does.
func (k *Kratos) getLoginFlow(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	f, ok := k.logins[r.URL.Query().Get("id")]
	if !ok {
		kratosError(w, http.StatusNotFound, "Unable to locate the resource")
		return
	}
	if f.typ == "browser" && csrfOf(r) != f.csrf {
		kratosError(w, http.StatusForbidden, "The request was rejected to protect you from Cross-Site-Request-Forgery (CSRF).")
		return
	}
	writeJSON(w, http.StatusOK, k.loginFlowJSON(f))
}

// updateLoginFlow checks a password like Kratos: a browser post must carry
// a csrf_token matching the browser's CSRF cookie (any one, as Kratos does
// not tie the token to the flow's own cookie), then success sets the
// session cookie (browser, 303) or answers 200 with a session (API);
// wrong credentials store 4000006 in the flow and send the browser back
// to it (303) or answer 400 with the flow.
func (k *Kratos) updateLoginFlow(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	delay := k.loginDelay
	k.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	f, ok := k.logins[r.URL.Query().Get("flow")]
	if !ok {
		kratosError(w, http.StatusGone, "The login flow has expired")
		return
	}
	body, _ := io.ReadAll(r.Body)
	var ident, password, csrf string
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var b map[string]any
		_ = json.Unmarshal(body, &b)
		ident, _ = b["identifier"].(string)
		password, _ = b["password"].(string)
		csrf, _ = b["csrf_token"].(string)
	} else {
		form, _ := url.ParseQuery(string(body))
		ident, password, csrf = form.Get("identifier"), form.Get("password"), form.Get("csrf_token")
	}
	browser := f.typ == "browser"
	if browser && (csrf == "" || csrf != csrfOf(r)) {
		http.Redirect(w, r, "/error?id="+NewID(), http.StatusSeeOther)
		return
	}
	k.passwordChecks++
	var who *Identity
	for _, i := range k.identities {
		if strings.EqualFold(i.Email, strings.TrimSpace(ident)) && i.Password != "" && i.Password == password && !i.Inactive {
			who = i
		}
	}
	if who == nil {
		f.messages = []map[string]any{{"id": MsgInvalidCredentials, "type": "error",
			"text": "The provided credentials are invalid, check for spelling mistakes in your password or username, email address, or phone number."}}
		if browser {
			http.Redirect(w, r, "/login?flow="+f.id, http.StatusSeeOther)
			return
		}
		writeJSON(w, http.StatusBadRequest, k.loginFlowJSON(f))
		return
	}
	s := &Session{ID: NewID(), IdentityID: who.ID, Token: "ory_st_" + randomToken()}
	k.sessions[s.ID] = s
	delete(k.logins, f.id)
	if browser {
		http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: s.Token, Path: "/", HttpOnly: true})
		http.Redirect(w, r, "/welcome", http.StatusSeeOther)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"session_token": s.Token, "session": k.sessionJSON(s, true)})
}

func (k *Kratos) codeFlowJSON(kind, id string) map[string]any {
	now := time.Now().UTC()
	return map[string]any{
		"id": id, "type": "api", "state": "choose_method", "expires_at": now.Add(time.Hour), "issued_at": now,
		"request_url": k.Public.URL + "/self-service/" + kind + "/api",
		"ui": map[string]any{"action": k.Public.URL + "/self-service/" + kind + "?flow=" + id, "method": "POST",
			"nodes": []any{}, "messages": []any{}},
	}
}

func (k *Kratos) getCodeFlow(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, k.codeFlowJSON(kind, r.URL.Query().Get("id")))
	}
}

// sendCode "mails" a code to the address asked for (recovery only to an
// account's address); a missing address is a validation error (400).
func (k *Kratos) sendCode(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		k.mu.Lock()
		defer k.mu.Unlock()
		body, _ := io.ReadAll(r.Body)
		var email string
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			var b map[string]any
			_ = json.Unmarshal(body, &b)
			email, _ = b["email"].(string)
		} else {
			form, _ := url.ParseQuery(string(body))
			email = form.Get("email")
		}
		id := r.URL.Query().Get("flow")
		if email == "" || !strings.Contains(email, "@") {
			writeJSON(w, http.StatusBadRequest, k.codeFlowJSON(kind, id))
			return
		}
		k.codesSent = append(k.codesSent, strings.ToLower(strings.TrimSpace(email)))
		if strings.Contains(r.Header.Get("Accept"), "application/json") || strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			writeJSON(w, http.StatusOK, k.codeFlowJSON(kind, id))
			return
		}
		http.Redirect(w, r, "/"+kind+"?flow="+id, http.StatusSeeOther)
	}
}
