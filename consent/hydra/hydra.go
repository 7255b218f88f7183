// Package hydra is the consent app's client of Hydra's admin API, built on
// github.com/ory/hydra-client-go/v2: the login, consent and logout requests
// Hydra hands over, and the OAuth2 clients applied from clients.yaml.
package hydra

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	client "github.com/ory/hydra-client-go/v2"

	"github.com/learnplatform/platform/consent"
)

// ErrGone: the challenge is unknown, already handled or expired.
var ErrGone = errors.New("the sign-in request is unknown or has expired")

// ErrUnavailable: Hydra did not answer.
var ErrUnavailable = errors.New("the authorization server is unavailable")

// Admin talks to Hydra's admin API.
type Admin struct {
	api client.OAuth2API
}

// New makes a client for Hydra's admin API at adminURL.
func New(adminURL string, hc *http.Client) *Admin {
	cfg := client.NewConfiguration()
	cfg.Servers = client.ServerConfigurations{{URL: strings.TrimSuffix(adminURL, "/")}}
	cfg.HTTPClient = hc
	cfg.UserAgent = "learnplatform-consent"
	return &Admin{api: client.NewAPIClient(cfg).OAuth2API}
}

func classify(res *http.Response, err error) error {
	if err == nil {
		return nil
	}
	if res == nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	switch {
	case res.StatusCode == http.StatusNotFound, res.StatusCode == http.StatusGone,
		res.StatusCode == http.StatusConflict, res.StatusCode == http.StatusBadRequest:
		return fmt.Errorf("%w (%s)", ErrGone, res.Status)
	case res.StatusCode >= 500:
		return fmt.Errorf("%w: %s", ErrUnavailable, res.Status)
	}
	var oe *client.GenericOpenAPIError
	if errors.As(err, &oe) {
		return fmt.Errorf("hydra answered %s: %s", res.Status, oe.Body())
	}
	return fmt.Errorf("hydra answered %s: %w", res.Status, err)
}

// LoginRequest is what Hydra asks the login provider.
type LoginRequest struct {
	Challenge  string
	Skip       bool   // Hydra remembers this user: accept without asking
	Subject    string // set when Skip
	ClientID   string
	RequestURL string
	// Prompt is the OIDC request's prompt values (none, login, consent,
	// select_account), read from request_url: Hydra v2.3.0's login request
	// has no field of its own for them.
	Prompt []string
	// MaxAge is the OIDC request's max_age in seconds, -1 when absent; also
	// read from request_url (oidc_context has acr_values, display,
	// id_token_hint_claims, login_hint and ui_locales only).
	MaxAge int64
}

// HasPrompt reports whether the request asked for prompt p.
func (lr *LoginRequest) HasPrompt(p string) bool { return slices.Contains(lr.Prompt, p) }

// Login fetches a login request.
func (a *Admin) Login(ctx context.Context, challenge string) (*LoginRequest, error) {
	lr, res, err := a.api.GetOAuth2LoginRequest(ctx).LoginChallenge(challenge).Execute()
	if err := classify(res, err); err != nil {
		return nil, err
	}
	out := &LoginRequest{Challenge: lr.Challenge, Skip: lr.Skip, Subject: lr.Subject, RequestURL: lr.RequestUrl, MaxAge: -1}
	out.ClientID = lr.Client.GetClientId()
	if u, err := url.Parse(lr.RequestUrl); err == nil {
		q := u.Query()
		out.Prompt = strings.Fields(q.Get("prompt"))
		if v, err := strconv.ParseInt(q.Get("max_age"), 10, 64); err == nil && v >= 0 {
			out.MaxAge = v
		}
	}
	return out, nil
}

// LoginContext is what the consent app hands from login to consent through
// Hydra: accept-login's context comes back as the consent request's context.
type LoginContext struct {
	// KratosSessionID is the Kratos session the login was accepted with.
	KratosSessionID string `json:"kratos_session_id,omitempty"`
}

// LoginAcceptance is the answer to a login request.
type LoginAcceptance struct {
	Subject         string
	KratosSessionID string // also sent as identity_provider_session_id
	Remember        bool
	RememberFor     int64 // seconds
	AMR             []string
}

// AcceptLogin tells Hydra who signed in; it returns where the browser goes next.
func (a *Admin) AcceptLogin(ctx context.Context, challenge string, acc LoginAcceptance) (string, error) {
	body := client.NewAcceptOAuth2LoginRequest(acc.Subject)
	body.SetRemember(acc.Remember)
	body.SetRememberFor(acc.RememberFor)
	if acc.KratosSessionID != "" {
		body.SetIdentityProviderSessionId(acc.KratosSessionID)
		body.SetContext(LoginContext{KratosSessionID: acc.KratosSessionID})
	}
	if len(acc.AMR) > 0 {
		body.SetAmr(acc.AMR)
	}
	r, res, err := a.api.AcceptOAuth2LoginRequest(ctx).LoginChallenge(challenge).AcceptOAuth2LoginRequest(*body).Execute()
	if err := classify(res, err); err != nil {
		return "", err
	}
	return r.RedirectTo, nil
}

// RejectLogin ends a login request with an OAuth2 error.
func (a *Admin) RejectLogin(ctx context.Context, challenge, code, description string) (string, error) {
	body := client.NewRejectOAuth2Request()
	body.SetError(code)
	body.SetErrorDescription(description)
	r, res, err := a.api.RejectOAuth2LoginRequest(ctx).LoginChallenge(challenge).RejectOAuth2Request(*body).Execute()
	if err := classify(res, err); err != nil {
		return "", err
	}
	return r.RedirectTo, nil
}

// ConsentRequest is what Hydra asks the consent provider.
type ConsentRequest struct {
	Challenge       string
	Skip            bool // the user consented before and asked to be remembered
	Subject         string
	ClientID        string
	ClientName      string
	FirstParty      bool
	RequestedScopes []string
	RequestedAud    []string
	LoginSessionID  string // Hydra's own login session (the ID token's sid)
	// KratosSessionID comes from the LoginContext the login was accepted
	// with; empty for logins accepted before it was sent.
	KratosSessionID string
}

// Consent fetches a consent request.
func (a *Admin) Consent(ctx context.Context, challenge string) (*ConsentRequest, error) {
	cr, res, err := a.api.GetOAuth2ConsentRequest(ctx).ConsentChallenge(challenge).Execute()
	if err := classify(res, err); err != nil {
		return nil, err
	}
	out := &ConsentRequest{
		Challenge: cr.Challenge, Skip: cr.GetSkip(), Subject: cr.GetSubject(),
		RequestedScopes: cr.RequestedScope, RequestedAud: cr.RequestedAccessTokenAudience,
		LoginSessionID: cr.GetLoginSessionId(),
	}
	if m, ok := cr.Context.(map[string]any); ok {
		out.KratosSessionID, _ = m["kratos_session_id"].(string)
	}
	if c := cr.Client; c != nil {
		out.ClientID = c.GetClientId()
		out.ClientName = c.GetClientName()
		out.FirstParty = firstParty(c)
	}
	if out.ClientName == "" {
		out.ClientName = out.ClientID
	}
	return out, nil
}

func firstParty(c *client.OAuth2Client) bool {
	m, _ := c.Metadata.(map[string]any)
	fp, _ := m["first_party"].(bool)
	return fp
}

// AcceptConsent grants scopes and sets the claims of the ID token (and so of
// /userinfo) and of the access token; it returns where the browser goes next.
func (a *Admin) AcceptConsent(ctx context.Context, cr *ConsentRequest, scopes []string, idToken, accessToken map[string]any, remember bool, rememberFor int64) (string, error) {
	body := client.NewAcceptOAuth2ConsentRequest()
	body.SetGrantScope(scopes)
	body.SetGrantAccessTokenAudience(cr.RequestedAud)
	body.SetRemember(remember)
	body.SetRememberFor(rememberFor)
	session := client.NewAcceptOAuth2ConsentRequestSession()
	session.SetIdToken(idToken)
	session.SetAccessToken(accessToken)
	body.SetSession(*session)
	r, res, err := a.api.AcceptOAuth2ConsentRequest(ctx).ConsentChallenge(cr.Challenge).AcceptOAuth2ConsentRequest(*body).Execute()
	if err := classify(res, err); err != nil {
		return "", err
	}
	return r.RedirectTo, nil
}

// RejectConsent ends a consent request with access_denied.
func (a *Admin) RejectConsent(ctx context.Context, challenge, description string) (string, error) {
	body := client.NewRejectOAuth2Request()
	body.SetError("access_denied")
	body.SetErrorDescription(description)
	r, res, err := a.api.RejectOAuth2ConsentRequest(ctx).ConsentChallenge(challenge).RejectOAuth2Request(*body).Execute()
	if err := classify(res, err); err != nil {
		return "", err
	}
	return r.RedirectTo, nil
}

// LogoutRequest is an RP-initiated (or Hydra-initiated) logout.
type LogoutRequest struct {
	Challenge string
	Subject   string
	SessionID string // Hydra's login session (sid)
	// RPInitiated is true only when the logout came with a valid
	// id_token_hint; Hydra then also names the client it was issued to.
	RPInitiated bool
	ClientID    string
}

// Logout fetches a logout request.
func (a *Admin) Logout(ctx context.Context, challenge string) (*LogoutRequest, error) {
	lr, res, err := a.api.GetOAuth2LogoutRequest(ctx).LogoutChallenge(challenge).Execute()
	if err := classify(res, err); err != nil {
		return nil, err
	}
	out := &LogoutRequest{Challenge: challenge, Subject: lr.GetSubject(), SessionID: lr.GetSid(), RPInitiated: lr.GetRpInitiated()}
	if lr.Client != nil {
		out.ClientID = lr.Client.GetClientId()
	}
	return out, nil
}

// RejectLogout keeps the sessions: Hydra answers 204 and the browser is the
// logout provider's to send on.
func (a *Admin) RejectLogout(ctx context.Context, challenge string) error {
	res, err := a.api.RejectOAuth2LogoutRequest(ctx).LogoutChallenge(challenge).Execute()
	return classify(res, err)
}

// ClientInfo is what the token hook needs of an OAuth2 client.
type ClientInfo struct {
	ID         string
	FirstParty bool
}

// ErrNoClient: Hydra has no such client.
var ErrNoClient = errors.New("no such OAuth2 client")

// Client reads an OAuth2 client (GET /admin/clients/{id}).
func (a *Admin) Client(ctx context.Context, id string) (*ClientInfo, error) {
	c, res, err := a.api.GetOAuth2Client(ctx, id).Execute()
	if err != nil && res != nil && res.StatusCode == http.StatusNotFound {
		return nil, fmt.Errorf("%w: %s", ErrNoClient, id)
	}
	if err := classify(res, err); err != nil {
		return nil, err
	}
	return &ClientInfo{ID: c.GetClientId(), FirstParty: firstParty(c)}, nil
}

// AcceptLogout ends Hydra's session; it returns where the browser goes next.
func (a *Admin) AcceptLogout(ctx context.Context, challenge string) (string, error) {
	r, res, err := a.api.AcceptOAuth2LogoutRequest(ctx).LogoutChallenge(challenge).Execute()
	if err := classify(res, err); err != nil {
		return "", err
	}
	return r.RedirectTo, nil
}

// ApplyClient creates the client, or updates it to match when it exists.
// It reports which it did.
func (a *Admin) ApplyClient(ctx context.Context, c consent.Client) (string, error) {
	body := client.NewOAuth2Client()
	body.SetClientId(c.ID)
	body.SetClientName(c.Name)
	body.SetGrantTypes(c.GrantTypes)
	body.SetResponseTypes(c.ResponseTypes)
	body.SetScope(strings.Join(c.Scopes, " "))
	body.SetAudience(c.Audience)
	body.SetRedirectUris(c.RedirectURIs)
	body.SetPostLogoutRedirectUris(c.PostLogoutRedirectURIs)
	body.SetMetadata(map[string]any{"first_party": c.FirstParty})
	body.SetSkipConsent(false) // first-party skipping is the consent app's decision, visible in one place
	if c.Public {
		body.SetTokenEndpointAuthMethod("none")
	} else {
		body.SetTokenEndpointAuthMethod("client_secret_basic")
		body.SetClientSecret(c.Secret)
	}
	_, res, err := a.api.GetOAuth2Client(ctx, c.ID).Execute()
	if err != nil && res != nil && res.StatusCode == http.StatusNotFound {
		_, res, err = a.api.CreateOAuth2Client(ctx).OAuth2Client(*body).Execute()
		if err := classify(res, err); err != nil {
			return "", fmt.Errorf("create client %s: %w", c.ID, err)
		}
		return "created", nil
	}
	if err := classify(res, err); err != nil {
		return "", fmt.Errorf("read client %s: %w", c.ID, err)
	}
	_, res, err = a.api.SetOAuth2Client(ctx, c.ID).OAuth2Client(*body).Execute()
	if err := classify(res, err); err != nil {
		return "", fmt.Errorf("update client %s: %w", c.ID, err)
	}
	return "updated", nil
}
