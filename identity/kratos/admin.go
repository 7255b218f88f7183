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

// Roles a platform user can have (metadata_public.role).
var Roles = []string{"student", "instructor", "admin"}

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
