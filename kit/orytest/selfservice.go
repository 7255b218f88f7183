package orytest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// SelfService is Kratos' public API as the edge's hosted pages use it: in
// front of k.Public it adds registration flows, browser flows created on
// request (GET /self-service/{kind}/browser, as Kratos answers a JSON
// client), flow errors (GET /self-service/errors) and the browser sign-out
// URL (GET /self-service/logout/browser) and native apps' settings flows
// (GET /self-service/settings/api); everything else goes on to
// k.Public. Its requests count in k.Calls and obey k.FailOn. Give the edge
// its URL as Kratos' public URL.
type SelfService struct {
	*httptest.Server
	k *Kratos

	mu            sync.Mutex
	registrations map[string]*registrationFlow
	errors        map[string]map[string]any
}

type registrationFlow struct {
	id, typ string
	csrf    string
	// messages are the flow's own (a failed post's).
	messages []map[string]any
}

// NewSelfService starts the server in front of k, closed when the test
// ends.
func (k *Kratos) NewSelfService(t testing.TB) *SelfService {
	s := &SelfService{k: k, registrations: map[string]*registrationFlow{}, errors: map[string]map[string]any{}}
	target, err := url.Parse(k.Public.URL)
	if err != nil {
		t.Fatal(err)
	}
	rest := httputil.NewSingleHostReverseProxy(target)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /self-service/registration/flows", s.getRegistrationFlow)
	mux.HandleFunc("POST /self-service/registration", s.register)
	mux.HandleFunc("GET /self-service/{kind}/browser", s.createBrowserFlow)
	mux.HandleFunc("GET /self-service/errors", s.getError)
	mux.HandleFunc("GET /self-service/logout/browser", s.logoutURL)
	mux.HandleFunc("GET /self-service/settings/api", s.createAPISettingsFlow)
	mux.Handle("/", rest)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "/" {
			if status := k.record(r); status != 0 {
				kratosError(w, status, "the fake was told to fail")
				return
			}
			mux.ServeHTTP(w, r)
			return
		}
		rest.ServeHTTP(w, r) // k.Public records and fails itself
	}))
	t.Cleanup(s.Close)
	return s
}

// NewRegistrationFlow starts a registration flow, typ "browser" (bound to
// a fresh CSRF cookie) or "api".
func (s *SelfService) NewRegistrationFlow(typ string) LoginFlow {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := &registrationFlow{id: NewID(), typ: typ}
	out := LoginFlow{ID: f.id}
	if typ == "browser" {
		f.csrf = randomToken()
		out.Cookie, out.CSRFToken = CSRFCookie+"="+f.csrf, f.csrf
	}
	s.registrations[f.id] = f
	return out
}

// AddError stores a flow error as Kratos records one for the error page
// and returns its id.
func (s *SelfService) AddError(id string, code int, reason string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id == "" {
		id = NewID()
	}
	s.errors[id] = map[string]any{"id": id, "created_at": stamp, "updated_at": stamp,
		"error": map[string]any{"code": code, "status": http.StatusText(code), "reason": reason, "message": http.StatusText(code)}}
	return id
}

func input(group, name, typ string, value any) map[string]any {
	return map[string]any{"type": "input", "group": group, "messages": []any{}, "meta": map[string]any{},
		"attributes": map[string]any{"node_type": "input", "name": name, "type": typ, "value": value, "disabled": false}}
}

func (s *SelfService) flowJSON(kind, id, typ, csrf string, nodes []any, messages []map[string]any) map[string]any {
	now := time.Now().UTC()
	if messages == nil {
		messages = []map[string]any{}
	}
	if typ == "browser" {
		nodes = append(nodes, input("default", "csrf_token", "hidden", csrf))
	}
	return map[string]any{
		"id": id, "type": typ, "state": "choose_method", "expires_at": now.Add(time.Hour), "issued_at": now,
		"request_url": s.URL + "/self-service/" + kind + "/" + typ,
		"ui": map[string]any{"action": s.URL + "/self-service/" + kind + "?flow=" + id, "method": "POST",
			"nodes": nodes, "messages": messages},
	}
}

func (s *SelfService) registrationJSON(f *registrationFlow) map[string]any {
	nodes := []any{input("default", "traits.email", "email", ""), input("password", "password", "password", ""),
		input("password", "method", "submit", "password")}
	return s.flowJSON("registration", f.id, f.typ, f.csrf, nodes, f.messages)
}

func (s *SelfService) getRegistrationFlow(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.registrations[r.URL.Query().Get("id")]
	if !ok {
		kratosError(w, http.StatusNotFound, "Unable to locate the resource")
		return
	}
	if f.typ == "browser" && csrfOf(r) != f.csrf {
		kratosError(w, http.StatusForbidden, "The request was rejected to protect you from Cross-Site-Request-Forgery (CSRF).")
		return
	}
	writeJSON(w, http.StatusOK, s.registrationJSON(f))
}

// register creates an identity with the posted email and password (any
// password: the fake has no policy of its own); browsers are sent to
// /welcome, API clients get the identity.
func (s *SelfService) register(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	f, ok := s.registrations[r.URL.Query().Get("flow")]
	s.mu.Unlock()
	if !ok {
		kratosError(w, http.StatusGone, "The registration flow has expired")
		return
	}
	body, _ := io.ReadAll(r.Body)
	var email, password string
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var b struct {
			Traits   struct{ Email string } `json:"traits"`
			Password string                 `json:"password"`
		}
		_ = json.Unmarshal(body, &b)
		email, password = b.Traits.Email, b.Password
	} else {
		form, _ := url.ParseQuery(string(body))
		email, password = form.Get("traits.email"), form.Get("password")
	}
	if email == "" || password == "" {
		s.mu.Lock()
		f.messages = []map[string]any{{"id": 4000002, "type": "error", "text": "Property email is missing."}}
		out := s.registrationJSON(f)
		s.mu.Unlock()
		writeJSON(w, http.StatusBadRequest, out)
		return
	}
	id := s.k.AddIdentity(Identity{Email: email, Password: password})
	s.mu.Lock()
	delete(s.registrations, f.id)
	s.mu.Unlock()
	if f.typ == "browser" {
		http.Redirect(w, r, "/welcome", http.StatusSeeOther)
		return
	}
	i, _ := s.k.Identity(id)
	s.k.mu.Lock()
	out := map[string]any{"identity": s.k.identityJSON(&i, false)}
	s.k.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// createBrowserFlow answers a JSON client's GET /self-service/{kind}/browser
// with a new browser flow and its CSRF cookie. Registration while signed
// in is refused (400), settings without a session too (401).
func (s *SelfService) createBrowserFlow(w http.ResponseWriter, r *http.Request) {
	kind := r.PathValue("kind")
	csrf := randomToken()
	id := NewID()
	var out map[string]any
	switch kind {
	case "login":
		s.k.mu.Lock()
		s.k.logins[id] = &loginFlow{id: id, typ: "browser", csrf: csrf}
		out = s.k.loginFlowJSON(s.k.logins[id])
		s.k.mu.Unlock()
	case "registration":
		s.k.mu.Lock()
		signedIn := s.k.requestSession(r) != nil
		s.k.mu.Unlock()
		if signedIn {
			kratosError(w, http.StatusBadRequest, "A valid session was detected and thus registration is not possible.")
			return
		}
		s.mu.Lock()
		f := &registrationFlow{id: id, typ: "browser", csrf: csrf}
		s.registrations[id] = f
		out = s.registrationJSON(f)
		s.mu.Unlock()
	case "settings":
		s.k.mu.Lock()
		sess := s.k.requestSession(r)
		if sess == nil {
			s.k.mu.Unlock()
			kratosError(w, http.StatusUnauthorized, "No valid session credentials found in the request.")
			return
		}
		f := &settingsFlow{id: id, identityID: sess.IdentityID, typ: "browser", state: "show_form"}
		s.k.flows[id] = f
		out = s.k.flowJSON(f)
		s.k.mu.Unlock()
	case "verification", "recovery":
		out = s.flowJSON(kind, id, "browser", csrf, []any{input("code", "email", "email", ""), input("code", "method", "submit", "code")}, nil)
	default:
		kratosError(w, http.StatusNotFound, "Unable to locate the resource")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: CSRFCookie, Value: csrf, Path: "/", HttpOnly: true})
	writeJSON(w, http.StatusOK, out)
}

func (s *SelfService) getError(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	e, ok := s.errors[r.URL.Query().Get("id")]
	s.mu.Unlock()
	if !ok {
		kratosError(w, http.StatusNotFound, "Unable to locate the resource")
		return
	}
	writeJSON(w, http.StatusOK, e)
}

// logoutURL answers a signed-in browser its sign-out URL (the fake's
// /self-service/logout with the session's logout token).
func (s *SelfService) logoutURL(w http.ResponseWriter, r *http.Request) {
	s.k.mu.Lock()
	sess := s.k.requestSession(r)
	s.k.mu.Unlock()
	if sess == nil {
		kratosError(w, http.StatusUnauthorized, "No valid session credentials found in the request.")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"logout_token": sess.LogoutToken(),
		"logout_url": s.URL + "/self-service/logout?token=" + sess.LogoutToken()})
}

// createAPISettingsFlow starts a settings flow for a native app's session
// (X-Session-Token).
func (s *SelfService) createAPISettingsFlow(w http.ResponseWriter, r *http.Request) {
	s.k.mu.Lock()
	defer s.k.mu.Unlock()
	sess := s.k.requestSession(r)
	if sess == nil {
		kratosError(w, http.StatusUnauthorized, "No valid session credentials found in the request.")
		return
	}
	f := &settingsFlow{id: NewID(), identityID: sess.IdentityID, typ: "api", state: "show_form"}
	s.k.flows[f.id] = f
	writeJSON(w, http.StatusOK, s.k.flowJSON(f))
}
