package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/learnplatform/platform/identity"
	"github.com/learnplatform/platform/identity/kratos"
	"github.com/learnplatform/platform/kit/server"
)

// newProxy forwards Kratos' public API. Paths are cleaned first, so the
// checks below see the path Kratos will route.
func (h *Handler) newProxy() http.Handler {
	target := h.opts.KratosPublic
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
			pr.Out.Host = pr.In.Host
			// Kratos sees the client's address as the edge determined it
			// (trusted_proxies), never a list the client wrote itself.
			ip := h.clientOf(pr.In).IP
			pr.Out.Header.Set("X-Forwarded-For", ip)
			// Kratos passes only a few headers to its web hooks; this one
			// carries the client's address into the auth event log.
			pr.Out.Header.Set("True-Client-Ip", ip)
			if id := server.RequestID(pr.In.Context()); id != "" {
				pr.Out.Header.Set(server.RequestIDHeader, id)
			}
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			h.proxyFailed(r, err)
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				h.showError(w, r, http.StatusRequestEntityTooLarge, "too_large",
					"The request is larger than "+strconv.FormatInt(tooLarge.Limit, 10)+" bytes.")
				return
			}
			h.unavailable(w, r, err)
		},
		ModifyResponse: h.observe,
		// Request ids (and traces, when on) follow the browser's request
		// into Kratos.
		Transport: server.RequestIDTransport{},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.URL.Path = path.Clean("/" + r.URL.Path)
		r.URL.RawPath = ""
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes)
		}
		ex := &exchange{client: h.clientOf(r)}
		lower := strings.ToLower(r.URL.Path)
		if kind, ok := flowPosts[lower]; ok && r.Method == http.MethodPost {
			sub, err := readSubmission(r)
			if err != nil {
				bad := &errBadBody{http.StatusBadRequest, "bad_request", "The request body could not be read."}
				errors.As(err, &bad) // every error readSubmission returns is one; the default guards a new one
				h.showError(w, r, bad.status, bad.code, bad.msg)
				return
			}
			ex.kind, ex.sub = kind, sub
			switch kind {
			case kratos.Registration, kratos.Settings:
				if !h.enforcePassword(w, r, kind, sub) {
					return
				}
				if kind == kratos.Settings && sub.method == "password" {
					// Who changes their password: once it is saved, the
					// tokens of every other session are revoked.
					ex.session = h.sessionOf(r, "")
				}
			case kratos.Login:
				if !h.guardLogin(w, r, ex) {
					return
				}
				r = takeRemember(r, ex)
			case kratos.Verification, kratos.Recovery:
				if !h.guardMail(w, r, ex) {
					return
				}
			}
		}
		if lower == "/self-service/logout" || lower == "/self-service/logout/api" {
			ex.logout = true
			ex.session = h.whoIsLeaving(r)
		}
		rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), exchangeKey{}, ex)))
	})
}

// whoIsLeaving finds the session a sign-out ends: the browser's cookie, or
// a native app's session token in the body (put back for Kratos).
func (h *Handler) whoIsLeaving(r *http.Request) *kratos.Session {
	token := ""
	if r.Method == http.MethodDelete && r.Body != nil {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return nil
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var b struct {
			SessionToken string `json:"session_token"`
		}
		_ = json.Unmarshal(body, &b)
		token = b.SessionToken
	}
	return h.sessionOf(r, token)
}

// sessionOf is the session of a request to Kratos' public API: its
// cookie, token (from the body), X-Session-Token or Authorization: Bearer
// header; nil when none is valid.
func (h *Handler) sessionOf(r *http.Request, token string) *kratos.Session {
	if token == "" {
		token = r.Header.Get("X-Session-Token")
	}
	if scheme, rest, ok := strings.Cut(r.Header.Get("Authorization"), " "); token == "" && ok && strings.EqualFold(scheme, "Bearer") {
		token = strings.TrimSpace(rest)
	}
	s, err := h.opts.Kratos.Whoami(r.Context(), r.Header.Get("Cookie"), token)
	if err != nil {
		return nil
	}
	return s
}

// flowPosts are the flow submissions the edge reads before Kratos does:
// registration and settings (where new passwords are chosen; recovery ends
// in settings), login (lockout), verification and recovery (the auth event
// log records codes being sent).
var flowPosts = map[string]kratos.Kind{
	"/self-service/login":        kratos.Login,
	"/self-service/registration": kratos.Registration,
	"/self-service/settings":     kratos.Settings,
	"/self-service/verification": kratos.Verification,
	"/self-service/recovery":     kratos.Recovery,
}

// submission is what a flow POST carries, decoded from a form or JSON.
type submission struct {
	method   string
	password *string
	values   map[string]any // everything, to refill the form
	form     url.Values     // set for form posts
	isJSON   bool
}

// without re-encodes the body minus one field (one Kratos does not know).
func (s *submission) without(field string) []byte {
	if s.isJSON {
		m := make(map[string]any, len(s.values))
		for k, v := range s.values {
			if k != field {
				m[k] = v
			}
		}
		b, _ := json.Marshal(m)
		return b
	}
	f := url.Values{}
	for k, v := range s.form {
		if k != field {
			f[k] = v
		}
	}
	return []byte(f.Encode())
}

// errBadBody carries the status and message for an unusable body.
type errBadBody struct {
	status int
	code   string
	msg    string
}

func (e *errBadBody) Error() string { return e.msg }

// readSubmission reads and decodes a flow POST body, then puts the bytes
// back for the proxy.
func readSubmission(r *http.Request) (*submission, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, &errBadBody{http.StatusRequestEntityTooLarge, "too_large",
				"The request is larger than " + strconv.FormatInt(tooLarge.Limit, 10) + " bytes."}
		}
		return nil, &errBadBody{http.StatusBadRequest, "bad_request", "The request body could not be read."}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	if !utf8.Valid(body) {
		return nil, &errBadBody{http.StatusBadRequest, "bad_encoding", "The request is not valid UTF-8 text."}
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	sub := &submission{values: map[string]any{}}
	switch ct {
	case "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, &errBadBody{http.StatusBadRequest, "bad_form", "The form data is malformed."}
		}
		sub.form = form
		for k, vs := range form {
			// Two different passwords (or methods) in one form could slip one
			// past the check. Kratos' own forms may repeat a field with one
			// value (a hidden method next to the submit button).
			if len(vs) > 1 && (k == "password" || k == "method") && slices.ContainsFunc(vs, func(v string) bool { return v != vs[0] }) {
				return nil, &errBadBody{http.StatusBadRequest, "bad_form", "The form repeats the field " + k + "."}
			}
			sub.values[k] = vs[0]
		}
	case "application/json":
		sub.isJSON = true
		dec := json.NewDecoder(bytes.NewReader(body))
		if err := dec.Decode(&sub.values); err != nil || sub.values == nil {
			return nil, &errBadBody{http.StatusBadRequest, "bad_json", "The request body is not a JSON object."}
		}
		if dec.More() {
			return nil, &errBadBody{http.StatusBadRequest, "bad_json", "The request body holds more than one JSON value."}
		}
		// With a key twice, parsers disagree on which one counts: the
		// password checked here must be the one Kratos stores.
		if dup := duplicateKey(body); dup != "" {
			return nil, &errBadBody{http.StatusBadRequest, "bad_json", "The JSON object repeats the member " + strconv.Quote(dup) + "."}
		}
	default:
		return nil, &errBadBody{http.StatusUnsupportedMediaType, "unsupported_media_type",
			"Send the form as application/x-www-form-urlencoded or application/json."}
	}
	sub.method, _ = sub.values["method"].(string)
	if p, present := sub.values["password"]; present {
		s, ok := p.(string)
		if !ok {
			return nil, &errBadBody{http.StatusBadRequest, "bad_request", "The password must be a string."}
		}
		sub.password = &s
	}
	return sub, nil
}

// duplicateKey returns a member name the top-level JSON object has twice.
func duplicateKey(body []byte) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return ""
		}
		key, _ := t.(string)
		if seen[key] {
			return key
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return ""
		}
	}
	return ""
}

// enforcePassword checks a new password against the policy before Kratos
// sees it. It answers the request itself and returns false when the request
// must not go on: nothing reaches Kratos, so nothing is stored.
func (h *Handler) enforcePassword(w http.ResponseWriter, r *http.Request, kind kratos.Kind, sub *submission) bool {
	if sub.method != "password" || sub.password == nil {
		return true
	}
	violations := h.opts.Password.Check(*sub.password)
	if len(violations) == 0 {
		return true
	}
	f, err := h.opts.Kratos.Flow(r.Context(), kind, r.URL.Query().Get("flow"), r.Header.Get("Cookie"), r.Header.Get("X-Session-Token"))
	if err != nil {
		// Without the flow there is no form to return; say what was wrong
		// and, in a browser, start over.
		if wantsJSON(r) {
			writePolicyError(w, violations)
			return false
		}
		var texts []string
		for _, v := range violations {
			texts = append(texts, v.Text)
		}
		returnTo, _ := h.returnTo("")
		h.restart(w, r, kind, returnTo, notice(MsgFlowRestarted, "error", strings.Join(texts, " ")))
		return false
	}
	refill(f, sub)
	for _, v := range violations {
		h.metrics.policy.WithLabelValues(v.Rule).Inc()
		f.AddMessage("password", kratos.Text{ID: v.ID, Type: "error", Text: v.Text, Context: map[string]any{"rule": v.Rule}})
	}
	h.opts.Logger.Info("password refused by policy", "flow", f.ID, "kind", kind, "rules", ruleNames(violations))
	if wantsJSON(r) || !f.IsBrowser() {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(f)
		return false
	}
	h.showFlow(w, r, http.StatusBadRequest, f)
	return false
}

// refill puts what the user typed back into the form, never secrets.
func refill(f *kratos.Flow, sub *submission) {
	flat := map[string]any{}
	flatten("", sub.values, flat)
	for i := range f.UI.Nodes {
		n := &f.UI.Nodes[i]
		name := n.Name()
		if n.Type != "input" || name == "password" || name == "csrf_token" || n.InputType() == "submit" || n.InputType() == "hidden" {
			continue
		}
		if v, ok := flat[name]; ok {
			n.SetValue(v)
		}
	}
}

// flatten turns {"traits":{"email":"x"}} into {"traits.email":"x"}, the
// names Kratos gives its inputs; form posts are flat already.
func flatten(prefix string, v any, out map[string]any) {
	m, ok := v.(map[string]any)
	if !ok {
		out[prefix] = v
		return
	}
	for k, c := range m {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		flatten(key, c, out)
	}
}

func ruleNames(vs []identity.Violation) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Rule
	}
	return out
}

func writePolicyError(w http.ResponseWriter, vs []identity.Violation) {
	type rule struct {
		Rule string `json:"rule"`
		ID   int64  `json:"id"`
		Text string `json:"text"`
	}
	body := struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Rules   []rule `json:"rules"`
		} `json:"error"`
	}{}
	body.Error.Code = "password_policy"
	body.Error.Message = "The password does not meet the password policy."
	for _, v := range vs {
		body.Error.Rules = append(body.Error.Rules, rule{v.Rule, v.ID, v.Text})
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(body)
}

func writeJSONError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}
