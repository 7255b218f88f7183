package orytest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

type settingsFlow struct {
	id, identityID, typ string
	state               string
	messages            []map[string]any
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
		"identity":    k.identityJSON(k.identities[f.identityID], false),
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
	s := k.putSessionLocked(Session{IdentityID: who.ID})
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
