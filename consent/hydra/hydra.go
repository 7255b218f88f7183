// Package hydra is the consent app's client of Hydra's admin API, built on
// github.com/ory/hydra-client-go/v2: the login, consent and logout requests
// Hydra hands over, and the OAuth2 clients applied from clients.yaml.
package hydra

import (
	"context"
	"errors"
	"fmt"
	"net/http"
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
	Prompt     string
}

// Login fetches a login request.
func (a *Admin) Login(ctx context.Context, challenge string) (*LoginRequest, error) {
	lr, res, err := a.api.GetOAuth2LoginRequest(ctx).LoginChallenge(challenge).Execute()
	if err := classify(res, err); err != nil {
		return nil, err
	}
	out := &LoginRequest{Challenge: lr.Challenge, Skip: lr.Skip, Subject: lr.Subject, RequestURL: lr.RequestUrl}
	out.ClientID = lr.Client.GetClientId()
	if i := strings.Index(lr.RequestUrl, "prompt="); i >= 0 {
		out.Prompt = strings.SplitN(lr.RequestUrl[i+len("prompt="):], "&", 2)[0]
	}
	return out, nil
}

// AcceptLogin tells Hydra who signed in; it returns where the browser goes next.
func (a *Admin) AcceptLogin(ctx context.Context, challenge, subject, kratosSessionID string, remember bool, rememberFor int64, amr []string) (string, error) {
	body := client.NewAcceptOAuth2LoginRequest(subject)
	body.SetRemember(remember)
	body.SetRememberFor(rememberFor)
	if kratosSessionID != "" {
		body.SetIdentityProviderSessionId(kratosSessionID)
	}
	if len(amr) > 0 {
		body.SetAmr(amr)
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
	LoginSessionID  string
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
	if c := cr.Client; c != nil {
		out.ClientID = c.GetClientId()
		out.ClientName = c.GetClientName()
		if m, ok := c.Metadata.(map[string]any); ok {
			out.FirstParty, _ = m["first_party"].(bool)
		}
	}
	if out.ClientName == "" {
		out.ClientName = out.ClientID
	}
	return out, nil
}

// AcceptConsent grants scopes and sets the claims of the ID token and the
// access token; it returns where the browser goes next.
func (a *Admin) AcceptConsent(ctx context.Context, cr *ConsentRequest, scopes []string, claims map[string]any, remember bool, rememberFor int64) (string, error) {
	body := client.NewAcceptOAuth2ConsentRequest()
	body.SetGrantScope(scopes)
	body.SetGrantAccessTokenAudience(cr.RequestedAud)
	body.SetRemember(remember)
	body.SetRememberFor(rememberFor)
	session := client.NewAcceptOAuth2ConsentRequestSession()
	session.SetIdToken(claims)
	session.SetAccessToken(claims)
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
	SessionID string
	ClientID  string
}

// Logout fetches a logout request.
func (a *Admin) Logout(ctx context.Context, challenge string) (*LogoutRequest, error) {
	lr, res, err := a.api.GetOAuth2LogoutRequest(ctx).LogoutChallenge(challenge).Execute()
	if err := classify(res, err); err != nil {
		return nil, err
	}
	out := &LogoutRequest{Challenge: challenge, Subject: lr.GetSubject(), SessionID: lr.GetSid()}
	if lr.Client != nil {
		out.ClientID = lr.Client.GetClientId()
	}
	return out, nil
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
