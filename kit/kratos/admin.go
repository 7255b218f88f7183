package kratos

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	client "github.com/ory/kratos-client-go"
)

// ErrNotFound: no such identity.
var ErrNotFound = errors.New("identity not found")

// SetRole writes metadata_public.role, keeping the rest of metadata_public,
// and returns the role before.
func (c *Client) SetRole(ctx context.Context, identityID, role string) (string, error) {
	ident, res, err := c.admin.IdentityAPI.GetIdentity(ctx, identityID).Execute()
	if err != nil {
		if res != nil && res.StatusCode == http.StatusNotFound {
			return "", ErrNotFound
		}
		return "", classify(res, err)
	}
	previous := RoleOf(ident.MetadataPublic)
	meta, _ := ident.MetadataPublic.(map[string]any)
	merged := map[string]any{}
	for k, v := range meta {
		merged[k] = v
	}
	merged["role"] = role
	patch := client.JsonPatch{Op: "add", Path: "/metadata_public", Value: merged}
	_, res, err = c.admin.IdentityAPI.PatchIdentity(ctx, identityID).JsonPatch([]client.JsonPatch{patch}).Execute()
	if err != nil {
		if res != nil && res.StatusCode == http.StatusNotFound {
			return "", ErrNotFound
		}
		return "", fmt.Errorf("set role: %w", classify(res, err))
	}
	return previous, nil
}

// IdentityByEmail finds the identity whose password identifier is email.
func (c *Client) IdentityByEmail(ctx context.Context, email string) (string, error) {
	ids, res, err := c.admin.IdentityAPI.ListIdentities(ctx).CredentialsIdentifier(email).Execute()
	if err != nil {
		return "", classify(res, err)
	}
	if len(ids) == 0 {
		return "", ErrNotFound
	}
	return ids[0].Id, nil
}

// EmailOf is the identity's address (traits.email), "" when it has none.
func (c *Client) EmailOf(ctx context.Context, identityID string) (string, error) {
	ident, res, err := c.admin.IdentityAPI.GetIdentity(ctx, identityID).Execute()
	if err != nil {
		return "", adminError(res, err)
	}
	email, _ := traits(ident.Traits)
	return email, nil
}

// adminError turns an admin API error into ErrNotFound for a 404, else
// classify's error.
func adminError(res *http.Response, err error) error {
	if res != nil && res.StatusCode == http.StatusNotFound {
		return ErrNotFound
	}
	return classify(res, err)
}

// SetState sets the identity's state (active or inactive) and returns the
// state before. An inactive identity cannot sign in, and the consent app's
// token hook refuses its refreshes.
func (c *Client) SetState(ctx context.Context, identityID, state string) (string, error) {
	ident, res, err := c.admin.IdentityAPI.GetIdentity(ctx, identityID).Execute()
	if err != nil {
		return "", adminError(res, err)
	}
	previous := ident.GetState()
	if previous == "" {
		previous = "active"
	}
	if previous == state {
		return previous, nil
	}
	patch := client.JsonPatch{Op: "replace", Path: "/state", Value: state}
	_, res, err = c.admin.IdentityAPI.PatchIdentity(ctx, identityID).JsonPatch([]client.JsonPatch{patch}).Execute()
	if err != nil {
		return "", fmt.Errorf("set state: %w", adminError(res, err))
	}
	return previous, nil
}

// EndSessions ends every session of the identity (DELETE
// /admin/identities/{id}/sessions). Kratos answers 404 both for an identity
// without sessions and for an unknown identity; the second is ErrNotFound.
func (c *Client) EndSessions(ctx context.Context, identityID string) error {
	res, err := c.admin.IdentityAPI.DeleteIdentitySessions(ctx, identityID).Execute()
	if err == nil {
		return nil
	}
	if res == nil || res.StatusCode != http.StatusNotFound {
		return fmt.Errorf("end sessions: %w", classify(res, err))
	}
	_, res, err = c.admin.IdentityAPI.GetIdentity(ctx, identityID).Execute()
	if err != nil {
		return adminError(res, err)
	}
	return nil
}

// SessionOwner returns the identity a session (active or not) belongs to;
// ErrNotFound when there is no such session.
func (c *Client) SessionOwner(ctx context.Context, sessionID string) (string, error) {
	s, res, err := c.admin.IdentityAPI.GetSession(ctx, sessionID).Expand([]string{"identity"}).Execute()
	if err != nil {
		if res != nil && res.StatusCode == http.StatusBadRequest {
			return "", ErrNotFound // not a session id
		}
		return "", adminError(res, err)
	}
	if s.Identity == nil {
		return "", fmt.Errorf("kratos: session %s came without its identity", sessionID)
	}
	return s.Identity.Id, nil
}
