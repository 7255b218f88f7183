// Package kratos is the consent app's client of Kratos, built on
// github.com/ory/kratos-client-go: who is signed in (from the browser's
// session cookie), what an identity's claims are, and how to sign a browser
// out.
package kratos

import (
	"github.com/learnplatform/platform/kit/account"

	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	client "github.com/ory/kratos-client-go"

	"github.com/learnplatform/platform/consent"
)

// ErrNoSession: the browser is not signed in.
var ErrNoSession = errors.New("not signed in")

// ErrNotFound: no such identity.
var ErrNotFound = errors.New("identity not found")

// Client talks to Kratos.
type Client struct {
	public *client.APIClient
	admin  *client.APIClient
}

// New makes a client for Kratos' public and admin APIs.
func New(publicURL, adminURL string, hc *http.Client) *Client {
	mk := func(base string) *client.APIClient {
		cfg := client.NewConfiguration()
		cfg.Servers = client.ServerConfigurations{{URL: strings.TrimSuffix(base, "/")}}
		cfg.HTTPClient = hc
		cfg.UserAgent = "learnplatform-consent"
		return client.NewAPIClient(cfg)
	}
	return &Client{public: mk(publicURL), admin: mk(adminURL)}
}

// Session is a signed-in browser.
type Session struct {
	ID              string
	IdentityID      string
	AuthenticatedAt time.Time
	ExpiresAt       time.Time
	Methods         []string
}

// Whoami resolves the browser's cookies to a session.
func (c *Client) Whoami(ctx context.Context, cookie string) (*Session, error) {
	if cookie == "" {
		return nil, ErrNoSession
	}
	s, res, err := c.public.FrontendAPI.ToSession(ctx).Cookie(cookie).Execute()
	if err != nil {
		if res != nil && (res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden) {
			return nil, ErrNoSession
		}
		return nil, fmt.Errorf("kratos whoami: %w", err)
	}
	out := &Session{ID: s.Id}
	if s.Identity != nil {
		out.IdentityID = s.Identity.Id
	}
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
	return out, nil
}

// User reads an identity's claims as they are now.
func (c *Client) User(ctx context.Context, id string) (*consent.Identity, error) {
	ident, res, err := c.admin.IdentityAPI.GetIdentity(ctx, id).Execute()
	if err != nil {
		if res != nil && res.StatusCode == http.StatusNotFound {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("kratos get identity: %w", err)
	}
	u := &consent.Identity{User: account.User{ID: ident.Id, Role: account.RoleStudent}, Active: ident.GetState() != "inactive"}
	if t, ok := ident.Traits.(map[string]any); ok {
		u.Email, _ = t["email"].(string)
		u.Name, _ = t["name"].(string)
	}
	if m, ok := ident.MetadataPublic.(map[string]any); ok {
		if r, _ := m["role"].(string); r != "" {
			u.Role = r
		}
	}
	for _, a := range ident.VerifiableAddresses {
		if strings.EqualFold(a.Value, u.Email) {
			u.EmailVerified = a.Verified
		}
	}
	return u, nil
}

// LogoutURL is where the browser goes to end its Kratos session; Kratos then
// sends it on to returnTo.
func (c *Client) LogoutURL(ctx context.Context, cookie, returnTo string) (string, error) {
	f, res, err := c.public.FrontendAPI.CreateBrowserLogoutFlow(ctx).Cookie(cookie).ReturnTo(returnTo).Execute()
	if err != nil {
		if res != nil && res.StatusCode == http.StatusUnauthorized {
			return "", ErrNoSession
		}
		return "", fmt.Errorf("kratos logout flow: %w", err)
	}
	return f.LogoutUrl, nil
}

// SessionActive reports whether a Kratos session is still live, from the
// admin API's GET /admin/sessions/{id}: a session that Kratos answers 404
// for (deleted, or its identity deleted), one with active: false (signed
// out, revoked by a password change or "sign out everywhere", disabled) or
// one past its expires_at has ended. An error means Kratos did not answer.
func (c *Client) SessionActive(ctx context.Context, id string) (bool, error) {
	s, res, err := c.admin.IdentityAPI.GetSession(ctx, id).Execute()
	if err != nil {
		if res != nil && (res.StatusCode == http.StatusNotFound || res.StatusCode == http.StatusBadRequest) {
			return false, nil // 400: not a session id Kratos could have issued
		}
		return false, fmt.Errorf("kratos get session: %w", err)
	}
	if !s.GetActive() {
		return false, nil
	}
	if s.ExpiresAt != nil && !s.ExpiresAt.After(time.Now()) {
		return false, nil
	}
	return true, nil
}
