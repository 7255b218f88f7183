// Package hydra is the identity edge's small client of Ory Hydra's admin
// API: it ends what Hydra remembers of a user, so that signing out
// everywhere, deactivation and the admin API's session revocation also stop
// silent OAuth2 sign-in and refreshes.
//
// Hydra v2.3.0 (consent/handler.go), under the admin port's /admin prefix:
//
//	DELETE /admin/oauth2/auth/sessions/login?subject=ID
//	    forgets the subject's login sessions (no silent sign-in); 204
//	DELETE /admin/oauth2/auth/sessions/consent?subject=ID&all=true
//	    revokes every consent of the subject, and with them the access and
//	    refresh tokens Hydra issued under them; 204
//
// Both answer 204 when there was nothing to end; errors are Hydra's
// {"error", "error_description"}.
package hydra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ErrUnavailable: Hydra did not answer, or answered with a server error.
var ErrUnavailable = errors.New("hydra's admin API is unavailable")

// Client calls Hydra's admin API.
type Client struct {
	base *url.URL
	hc   *http.Client
}

// New returns a client for Hydra's admin API at adminURL (for example
// http://127.0.0.1:4445/). hc nil means a client with a 10 s timeout.
func New(adminURL string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(adminURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("hydra: admin URL %q is not an http(s) URL", adminURL)
	}
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	return &Client{base: u, hc: hc}, nil
}

// EndSessions ends the subject's login and consent sessions. Both are
// tried; the error names each that failed.
func (c *Client) EndSessions(ctx context.Context, subject string) error {
	return errors.Join(c.RevokeLoginSessions(ctx, subject), c.RevokeConsentSessions(ctx, subject))
}

// RevokeLoginSessions forgets every login session of subject: Hydra no
// longer skips the login for it.
func (c *Client) RevokeLoginSessions(ctx context.Context, subject string) error {
	return c.delete(ctx, "oauth2/auth/sessions/login", url.Values{"subject": {subject}})
}

// RevokeConsentSessions revokes every consent subject granted, to every
// client, and with them the tokens Hydra issued under them.
func (c *Client) RevokeConsentSessions(ctx context.Context, subject string) error {
	return c.delete(ctx, "oauth2/auth/sessions/consent", url.Values{"subject": {subject}, "all": {"true"}})
}

func (c *Client) delete(ctx context.Context, path string, q url.Values) error {
	if q.Get("subject") == "" {
		return errors.New("hydra: no subject")
	}
	u := c.base.JoinPath("admin", path)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	res, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w: DELETE /admin/%s: %v", ErrUnavailable, path, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	switch {
	case res.StatusCode == http.StatusNoContent || res.StatusCode == http.StatusOK:
		return nil
	case res.StatusCode == http.StatusNotFound && isHydraError(body):
		return nil // nothing to end
	case res.StatusCode >= 500 || res.StatusCode == http.StatusNotFound:
		// A 404 without Hydra's error body is not Hydra: a wrong admin_url.
		return fmt.Errorf("%w: DELETE /admin/%s answered %d: %s", ErrUnavailable, path, res.StatusCode, describe(body))
	}
	return fmt.Errorf("hydra: DELETE /admin/%s answered %d: %s", path, res.StatusCode, describe(body))
}

type hydraError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

func isHydraError(body []byte) bool {
	var e hydraError
	return json.Unmarshal(body, &e) == nil && e.Error != ""
}

// describe is Hydra's error (or the start of whatever answered).
func describe(body []byte) string {
	var e hydraError
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return strings.TrimSpace(e.Error + " " + e.Description)
	}
	if len(body) > 200 {
		body = body[:200]
	}
	return strings.TrimSpace(string(body))
}
