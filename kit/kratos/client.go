package kratos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	client "github.com/ory/kratos-client-go"

	"github.com/learnplatform/platform/kit/account"
)

// Errors a request can end in; callers map them to pages or answers. Every
// one that Kratos answered also wraps an *APIError with the status.
var (
	// ErrFlowGone: the flow id is unknown, expired, belongs to another
	// browser (CSRF cookie mismatch) or is not a browser flow. The UI starts
	// a new flow.
	ErrFlowGone = errors.New("the flow is unknown or has expired")
	// ErrNoSession: the request needs a signed-in user.
	ErrNoSession = errors.New("not signed in")
	// ErrUnavailable: Kratos did not answer.
	ErrUnavailable = errors.New("the identity service is unavailable")
)

// RedirectError: Kratos asks the browser to go elsewhere first (for example
// to sign in again before a privileged settings change).
type RedirectError struct{ To string }

func (e *RedirectError) Error() string { return "kratos asks to continue at " + e.To }

// APIError is Kratos' answer to a request it refused: the HTTP status and
// the reason from its error body.
type APIError struct {
	Status int
	Reason string
}

func (e *APIError) Error() string { return fmt.Sprintf("kratos answered %d: %s", e.Status, e.Reason) }

// Client talks to Kratos' public API (as the browser's proxy) and admin API.
type Client struct {
	public *client.APIClient
	admin  *client.APIClient
	// listPage is how many identities ListIdentities asks for at a time.
	listPage int64
}

// New makes a client for Kratos at the given public and admin base URLs.
func New(publicURL, adminURL string, hc *http.Client) *Client {
	mk := func(base string) *client.APIClient {
		cfg := client.NewConfiguration()
		cfg.Servers = client.ServerConfigurations{{URL: strings.TrimSuffix(base, "/")}}
		cfg.HTTPClient = hc
		cfg.UserAgent = "learnplatform"
		return client.NewAPIClient(cfg)
	}
	return &Client{public: mk(publicURL), admin: mk(adminURL), listPage: 1000}
}

// classify turns a client error into one of this package's errors.
func classify(res *http.Response, err error) error {
	if err == nil {
		return nil
	}
	if res == nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	var body []byte
	var oe *client.GenericOpenAPIError
	if errors.As(err, &oe) {
		body = oe.Body()
	}
	answer := &APIError{Status: res.StatusCode, Reason: reason(body)}
	switch res.StatusCode {
	case http.StatusNotFound, http.StatusGone, http.StatusForbidden, http.StatusBadRequest:
		return fmt.Errorf("%w: %w", ErrFlowGone, answer)
	case http.StatusUnauthorized:
		return fmt.Errorf("%w: %w", ErrNoSession, answer)
	case http.StatusUnprocessableEntity:
		var e struct {
			RedirectBrowserTo string `json:"redirect_browser_to"`
		}
		if json.Unmarshal(body, &e) == nil && e.RedirectBrowserTo != "" {
			return &RedirectError{To: e.RedirectBrowserTo}
		}
	}
	if res.StatusCode >= 500 {
		return fmt.Errorf("%w: %w", ErrUnavailable, answer)
	}
	return answer
}

// reason digs Kratos' error reason out of an error body.
func reason(body []byte) string {
	var e struct {
		Error struct {
			ID      string `json:"id"`
			Reason  string `json:"reason"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && (e.Error.Reason != "" || e.Error.Message != "") {
		return strings.TrimSpace(e.Error.ID + " " + e.Error.Message + " " + e.Error.Reason)
	}
	if len(body) > 200 {
		body = body[:200]
	}
	return string(body)
}

func toFlow(kind Kind, v any, res *http.Response, err error) (*Flow, error) {
	if err := classify(res, err); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return decodeFlow(kind, raw)
}

// Flow fetches a flow. cookie is the browser's Cookie header (browser flows
// are bound to the CSRF cookie); a native app's settings flow needs its
// session token instead.
func (c *Client) Flow(ctx context.Context, kind Kind, id, cookie, sessionToken string) (*Flow, error) {
	if !validID(id) {
		return nil, fmt.Errorf("%w: malformed id", ErrFlowGone)
	}
	api := c.public.FrontendAPI
	switch kind {
	case Login:
		f, res, err := api.GetLoginFlow(ctx).Id(id).Cookie(cookie).Execute()
		return toFlow(kind, f, res, err)
	case Registration:
		f, res, err := api.GetRegistrationFlow(ctx).Id(id).Cookie(cookie).Execute()
		return toFlow(kind, f, res, err)
	case Verification:
		f, res, err := api.GetVerificationFlow(ctx).Id(id).Cookie(cookie).Execute()
		return toFlow(kind, f, res, err)
	case Recovery:
		f, res, err := api.GetRecoveryFlow(ctx).Id(id).Cookie(cookie).Execute()
		return toFlow(kind, f, res, err)
	case Settings:
		r := api.GetSettingsFlow(ctx).Id(id).Cookie(cookie)
		if sessionToken != "" {
			r = r.XSessionToken(sessionToken)
		}
		f, res, err := r.Execute()
		return toFlow(kind, f, res, err)
	}
	return nil, fmt.Errorf("kratos: unknown flow kind %q", kind)
}

// validID accepts the UUIDs Kratos uses as flow ids.
func validID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i, c := range id {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// Created is a browser flow made on the browser's behalf, with the cookies
// (CSRF) Kratos set that the browser must now get.
type Created struct {
	Flow       *Flow
	SetCookies []string
}

// NewBrowserFlow creates a browser flow for the browser whose Cookie header
// is cookie, as if it had called /self-service/<kind>/browser itself.
func (c *Client) NewBrowserFlow(ctx context.Context, kind Kind, cookie, returnTo string) (*Created, error) {
	api := c.public.FrontendAPI
	ctx = withCookie(ctx, cookie)
	var (
		v   any
		res *http.Response
		err error
	)
	switch kind {
	case Login:
		r := api.CreateBrowserLoginFlow(ctx).Cookie(cookie)
		if returnTo != "" {
			r = r.ReturnTo(returnTo)
		}
		v, res, err = r.Execute()
	case Registration:
		r := api.CreateBrowserRegistrationFlow(ctx)
		if returnTo != "" {
			r = r.ReturnTo(returnTo)
		}
		v, res, err = r.Execute()
	case Verification:
		r := api.CreateBrowserVerificationFlow(ctx)
		if returnTo != "" {
			r = r.ReturnTo(returnTo)
		}
		v, res, err = r.Execute()
	case Recovery:
		r := api.CreateBrowserRecoveryFlow(ctx)
		if returnTo != "" {
			r = r.ReturnTo(returnTo)
		}
		v, res, err = r.Execute()
	case Settings:
		r := api.CreateBrowserSettingsFlow(ctx).Cookie(cookie)
		if returnTo != "" {
			r = r.ReturnTo(returnTo)
		}
		v, res, err = r.Execute()
	default:
		return nil, fmt.Errorf("kratos: unknown flow kind %q", kind)
	}
	f, err := toFlow(kind, v, res, err)
	if err != nil {
		return nil, err
	}
	return &Created{Flow: f, SetCookies: res.Header.Values("Set-Cookie")}, nil
}

// Session is who is signed in, as the edge needs it.
type Session struct {
	ID              string
	IdentityID      string
	Email           string
	EmailVerified   bool
	Name            string
	Role            string
	AuthenticatedAt time.Time
	ExpiresAt       time.Time
	Methods         []string
}

// Whoami resolves the browser's session cookie (or a session token) to a
// Session; ErrNoSession when there is none.
func (c *Client) Whoami(ctx context.Context, cookie, token string) (*Session, error) {
	r := c.public.FrontendAPI.ToSession(ctx)
	if cookie != "" {
		r = r.Cookie(cookie)
	}
	if token != "" {
		r = r.XSessionToken(token)
	}
	s, res, err := r.Execute()
	if err := classify(res, err); err != nil {
		if errors.Is(err, ErrFlowGone) { // 403 here means a session without enough assurance
			return nil, ErrNoSession
		}
		return nil, err
	}
	out := &Session{ID: s.Id}
	if s.AuthenticatedAt != nil {
		out.AuthenticatedAt = *s.AuthenticatedAt
	}
	if s.ExpiresAt != nil {
		out.ExpiresAt = *s.ExpiresAt
	}
	for _, m := range s.AuthenticationMethods {
		if m.Method != nil {
			out.Methods = append(out.Methods, *m.Method)
		}
	}
	if s.Identity != nil {
		out.IdentityID = s.Identity.Id
		out.Email, out.Name = traits(s.Identity.Traits)
		out.Role = RoleOf(s.Identity.MetadataPublic)
		for _, a := range s.Identity.VerifiableAddresses {
			if strings.EqualFold(a.Value, out.Email) {
				out.EmailVerified = a.Verified
			}
		}
	}
	return out, nil
}

func traits(v any) (email, name string) {
	m, _ := v.(map[string]any)
	email, _ = m["email"].(string)
	name, _ = m["name"].(string)
	return email, name
}

// RoleOf reads the role from an identity's metadata_public.
func RoleOf(metadataPublic any) string {
	m, _ := metadataPublic.(map[string]any)
	if r, _ := m["role"].(string); r != "" {
		return r
	}
	return account.RoleStudent
}

// LogoutURL asks Kratos for the browser's sign-out URL.
func (c *Client) LogoutURL(ctx context.Context, cookie, returnTo string) (string, error) {
	r := c.public.FrontendAPI.CreateBrowserLogoutFlow(ctx).Cookie(cookie)
	if returnTo != "" {
		r = r.ReturnTo(returnTo)
	}
	f, res, err := r.Execute()
	if err := classify(res, err); err != nil {
		return "", err
	}
	return f.LogoutUrl, nil
}

// FlowError is an error Kratos recorded for the UI to show.
type FlowError struct {
	ID      string
	Code    int
	Status  string
	Message string
	Reason  string
}

// Error fetches the error with the given id.
func (c *Client) Error(ctx context.Context, id string) (*FlowError, error) {
	e, res, err := c.public.FrontendAPI.GetFlowError(ctx).Id(id).Execute()
	if err := classify(res, err); err != nil {
		return nil, err
	}
	out := &FlowError{ID: e.Id}
	str := func(k string) string { s, _ := e.Error[k].(string); return s }
	out.Status, out.Message, out.Reason = str("status"), str("message"), str("reason")
	if f, ok := e.Error["code"].(float64); ok {
		out.Code = int(f)
	}
	return out, nil
}

// LinkedMethods lists the ways the identity can sign in: "Password" when a
// password is set (Kratos keeps a password credential without a hash for
// social-only accounts), and one "Social sign-in: <provider>" per linked
// provider, sorted. Other credential kinds (the code method) are not
// sign-in methods of their own here.
func (c *Client) LinkedMethods(ctx context.Context, identityID string) ([]string, error) {
	id, res, err := c.admin.IdentityAPI.GetIdentity(ctx, identityID).IncludeCredential([]string{"oidc", "password"}).Execute()
	if err := classify(res, err); err != nil {
		return nil, err
	}
	var out []string
	if id.Credentials == nil {
		return out, nil
	}
	for typ, cred := range *id.Credentials {
		switch typ {
		case "password":
			if hashed, _ := cred.Config["hashed_password"].(string); hashed != "" {
				out = append(out, "Password")
			}
		case "oidc":
			providers, _ := cred.Config["providers"].([]any)
			for _, p := range providers {
				if m, ok := p.(map[string]any); ok {
					if name, _ := m["provider"].(string); name != "" {
						out = append(out, "Social sign-in: "+name)
					}
				}
			}
		}
	}
	sort.Strings(out)
	return slices.Compact(out), nil
}

type cookieKey struct{}

func withCookie(ctx context.Context, cookie string) context.Context {
	if cookie == "" {
		return ctx
	}
	return context.WithValue(ctx, cookieKey{}, cookie)
}

// CookieTransport adds the browser's cookies (carried in the context) to
// requests whose generated client call has no cookie parameter.
type CookieTransport struct{ Base http.RoundTripper }

// RoundTrip implements http.RoundTripper.
func (t CookieTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if c, ok := r.Context().Value(cookieKey{}).(string); ok && r.Header.Get("Cookie") == "" {
		r = r.Clone(r.Context())
		r.Header.Set("Cookie", c)
	}
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(r)
}

// NewAPISettingsFlow starts a settings flow for a native app's session.
func (c *Client) NewAPISettingsFlow(ctx context.Context, sessionToken string) (*Flow, error) {
	f, res, err := c.public.FrontendAPI.CreateNativeSettingsFlow(ctx).XSessionToken(sessionToken).Execute()
	return toFlow(Settings, f, res, err)
}
