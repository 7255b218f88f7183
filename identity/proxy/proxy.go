// Package proxy is the only public path to Kratos' public API: the edge
// reverse-proxies /self-service/*, /sessions/*, /.well-known/ory/* and
// /schemas/* to Kratos under its own origin, and checks what passes.
//
// On the way in paths are cleaned, bodies limited, and the flow posts read:
// new passwords must meet the password policy (policy.go), password
// sign-ins and code requests are counted against the limits
// (identity/limits), and the login form's "keep me signed in" box is taken
// out (remember.go). On the way back (observe.go) the sign-in is settled,
// a password that falls short of the policy is sent to be changed
// (stale.go), and sign-outs and password changes void the tokens they
// should. cmd/identity wires the package.
package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/learnplatform/platform/identity"
	"github.com/learnplatform/platform/identity/internal/edge"
	"github.com/learnplatform/platform/identity/limits"
	"github.com/learnplatform/platform/identity/pages"
	"github.com/learnplatform/platform/kit/kratos"
	"github.com/learnplatform/platform/kit/server"
)

// Options configure the proxy.
type Options struct {
	Kratos *kratos.Client
	// KratosPublic is Kratos' own public address, private to the edge.
	KratosPublic *url.URL
	// PublicURL is the edge's address as browsers see it.
	PublicURL *url.URL
	// Pages answers browsers. Required.
	Pages *pages.UI
	// Limits counts sign-ins and code requests. Required.
	Limits *limits.Guard
	// Password is the active password profile.
	Password     identity.PasswordRules
	MaxBodyBytes int64
	// Events is the auth event log (nil: nothing recorded).
	Events identity.EventLog
	// Revocations voids the tokens of sessions that sign out and of
	// identities whose password changed. Required.
	Revocations *edge.Revocations
	// TrustedProxies are the proxies whose X-Forwarded-For is believed
	// (nil: none; the peer's address is the client's).
	TrustedProxies []netip.Prefix
	Logger         *slog.Logger
	// Registerer receives the policy metrics (nil: not exported).
	Registerer prometheus.Registerer
}

// Proxy forwards Kratos' public API.
type Proxy struct {
	opts Options
	rp   *httputil.ReverseProxy
	// refused are new passwords the policy refused, by rule.
	refused *prometheus.CounterVec
}

// New prepares the proxy.
func New(opts Options) (*Proxy, error) {
	switch {
	case opts.Pages == nil:
		return nil, errors.New("proxy: Options.Pages is required")
	case opts.Limits == nil:
		return nil, errors.New("proxy: Options.Limits is required")
	case opts.Revocations == nil:
		return nil, errors.New("proxy: Options.Revocations is required: sign-outs and password changes must void access tokens")
	}
	p := &Proxy{opts: opts, refused: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "identity_password_policy_refusals_total", Help: "New passwords refused by the policy, by unmet rule.",
	}, []string{"rule"})}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(p.refused)
	}
	target := opts.KratosPublic
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
			pr.Out.Host = pr.In.Host
			// Kratos sees the client's address as the edge determined it
			// (trusted_proxies), never a list the client wrote itself.
			ip := p.clientOf(pr.In).IP
			pr.Out.Header.Set("X-Forwarded-For", ip)
			// Kratos passes only a few headers to its web hooks; this one
			// carries the client's address into the auth event log.
			pr.Out.Header.Set("True-Client-Ip", ip)
			if id := server.RequestID(pr.In.Context()); id != "" {
				pr.Out.Header.Set(server.RequestIDHeader, id)
			}
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			p.unanswered(r, err)
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				p.opts.Pages.ShowError(w, r, http.StatusRequestEntityTooLarge, "too_large",
					"The request is larger than "+strconv.FormatInt(tooLarge.Limit, 10)+" bytes.")
				return
			}
			p.opts.Pages.Unavailable(w, r, err)
		},
		ModifyResponse: p.observe,
		// Request ids (and traces, when on) follow the browser's request
		// into Kratos.
		Transport: server.RequestIDTransport{},
	}
	return p, nil
}

// Mount adds Kratos' public API, under the edge's origin.
func (p *Proxy) Mount(r chi.Router) {
	for _, prefix := range []string{"/self-service/*", "/sessions/*", "/.well-known/ory/*", "/schemas/*"} {
		r.Handle(prefix, p)
	}
}

// SingleCookie refuses a request with more than one Cookie header. Go's
// Header.Get sees only the first while Kratos reads them all, so a second
// header would let the edge and Kratos disagree about the browser's
// cookies (the edge once re-read a flow with the wrong ones and counted
// nothing). Browsers send one; HTTP/2 splits are joined by the server.
// Every route of the edge goes through it.
func (p *Proxy) SingleCookie(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.Header.Values("Cookie")) > 1 {
			p.opts.Pages.ShowError(w, r, http.StatusBadRequest, "duplicate_cookie_header",
				"The request carries more than one Cookie header. Send all cookies in one.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// flowPosts are the flow submissions the edge reads before Kratos does:
// registration and settings (where new passwords are chosen; recovery ends
// in settings), login (lockout), verification and recovery (mail limits;
// the auth event log records codes being sent).
var flowPosts = map[string]kratos.Kind{
	"/self-service/login":        kratos.Login,
	"/self-service/registration": kratos.Registration,
	"/self-service/settings":     kratos.Settings,
	"/self-service/verification": kratos.Verification,
	"/self-service/recovery":     kratos.Recovery,
}

// exchange is what the proxy learns about one request on its way to Kratos,
// for the checks on the way back (ModifyResponse).
type exchange struct {
	client   edge.Client
	kind     kratos.Kind
	sub      *submission
	remember *bool
	// login is set for password sign-ins, which count towards lockout.
	login *limits.Attempt
	// mail is set for code requests counted against the mail limits.
	mail *limits.MailRequest
	// logout is set for sign-outs.
	logout bool
	// session is who signs out, or who changes their password.
	session *kratos.Session
}

type exchangeKey struct{}

// ServeHTTP checks a request on its way to Kratos and forwards it. Paths
// are cleaned first, so the checks see the path Kratos will route.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.URL.Path = path.Clean("/" + r.URL.Path)
	r.URL.RawPath = ""
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = http.MaxBytesReader(w, r.Body, p.opts.MaxBodyBytes)
	}
	ex := &exchange{client: p.clientOf(r)}
	lower := strings.ToLower(r.URL.Path)
	if kind, ok := flowPosts[lower]; ok && r.Method == http.MethodPost {
		sub, err := readSubmission(r)
		if err != nil {
			bad := &errBadBody{http.StatusBadRequest, "bad_request", "The request body could not be read."}
			errors.As(err, &bad) // every error readSubmission returns is one; the default guards a new one
			p.opts.Pages.ShowError(w, r, bad.status, bad.code, bad.msg)
			return
		}
		ex.kind, ex.sub = kind, sub
		if !p.checkFlowPost(w, r, ex) {
			return
		}
		if kind == kratos.Login {
			r = takeRemember(r, ex)
		}
	}
	if lower == "/self-service/logout" || lower == "/self-service/logout/api" {
		ex.logout = true
		ex.session = p.whoIsLeaving(r)
	}
	p.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), exchangeKey{}, ex)))
}

// checkFlowPost runs the checks of a flow post before Kratos sees it. It
// answers the request itself and returns false when the request must stop.
func (p *Proxy) checkFlowPost(w http.ResponseWriter, r *http.Request, ex *exchange) bool {
	sub := ex.sub
	switch ex.kind {
	case kratos.Registration, kratos.Settings:
		if !p.enforcePassword(w, r, ex.kind, sub) {
			return false
		}
		if ex.kind == kratos.Settings && sub.method == "password" {
			// Who changes their password: once it is saved, the
			// tokens of every other session are revoked.
			ex.session = p.sessionOf(r, "")
		}
	case kratos.Login:
		if sub.method != "password" {
			return true // social sign-ins pass through
		}
		identifier, _ := sub.values["identifier"].(string)
		if identifier == "" {
			identifier, _ = sub.values["password_identifier"].(string) // Kratos' older field name
		}
		a, ok := p.opts.Limits.Login(w, r, ex.client, identifier)
		ex.login = a
		return ok
	case kratos.Verification, kratos.Recovery:
		email, _ := sub.values["email"].(string)
		if sub.method != "code" || email == "" || sub.values["code"] != nil {
			return true // not a request for a code
		}
		m, ok := p.opts.Limits.Mail(w, r, ex.client, ex.kind, email)
		ex.mail = m
		return ok
	}
	return true
}

// unanswered settles what a request that got no answer from Kratos had
// counted.
func (p *Proxy) unanswered(r *http.Request, err error) {
	ex, _ := r.Context().Value(exchangeKey{}).(*exchange)
	if ex == nil {
		return
	}
	ctx := context.WithoutCancel(r.Context())
	if ex.mail != nil {
		ex.mail.Unanswered(ctx, err)
	}
	if ex.login != nil {
		ex.login.Unanswered(ctx, err)
	}
}

func (p *Proxy) clientOf(r *http.Request) edge.Client { return edge.ClientOf(r, p.opts.TrustedProxies) }

// whoIsLeaving finds the session a sign-out ends: the browser's cookie, or
// a native app's session token in the body (put back for Kratos).
func (p *Proxy) whoIsLeaving(r *http.Request) *kratos.Session {
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
	return p.sessionOf(r, token)
}

// sessionOf is the session of a request to Kratos' public API: its
// cookie, token (from the body), X-Session-Token or Authorization: Bearer
// header; nil when none is valid.
func (p *Proxy) sessionOf(r *http.Request, token string) *kratos.Session {
	if token == "" {
		token = r.Header.Get("X-Session-Token")
	}
	if scheme, rest, ok := strings.Cut(r.Header.Get("Authorization"), " "); token == "" && ok && strings.EqualFold(scheme, "Bearer") {
		token = strings.TrimSpace(rest)
	}
	s, err := p.opts.Kratos.Whoami(r.Context(), r.Header.Get("Cookie"), token)
	if err != nil {
		return nil
	}
	return s
}
