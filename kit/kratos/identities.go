package kratos

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	client "github.com/ory/kratos-client-go"

	"github.com/learnplatform/platform/kit/account"
)

// Identity is an identity as tokens describe it: the platform user and
// whether the account may sign in (Kratos state active).
type Identity struct {
	account.User
	Active bool
}

// User reads an identity's claims and state as they are now; ErrNotFound
// when there is no such identity.
func (c *Client) User(ctx context.Context, identityID string) (*Identity, error) {
	ident, res, err := c.admin.IdentityAPI.GetIdentity(ctx, identityID).Execute()
	if err != nil {
		return nil, fmt.Errorf("get identity: %w", adminError(res, err))
	}
	u := &Identity{User: account.User{ID: ident.Id, Role: RoleOf(ident.MetadataPublic)}, Active: ident.GetState() != "inactive"}
	u.Email, u.Name = traits(ident.Traits)
	for _, a := range ident.VerifiableAddresses {
		if strings.EqualFold(a.Value, u.Email) {
			u.EmailVerified = a.Verified
		}
	}
	return u, nil
}

// SessionActive reports whether a session is still live, from the admin
// API's GET /admin/sessions/{id}: a session Kratos answers 404 for (deleted,
// or its identity deleted), one with active: false (signed out, revoked by a
// password change or "sign out everywhere", disabled) or one past its
// expires_at has ended. An error means Kratos did not answer.
func (c *Client) SessionActive(ctx context.Context, sessionID string) (bool, error) {
	s, res, err := c.admin.IdentityAPI.GetSession(ctx, sessionID).Execute()
	if err != nil {
		if res != nil && (res.StatusCode == http.StatusNotFound || res.StatusCode == http.StatusBadRequest) {
			return false, nil // 400: not a session id Kratos could have issued
		}
		return false, fmt.Errorf("get session: %w", classify(res, err))
	}
	if !s.GetActive() {
		return false, nil
	}
	return s.ExpiresAt == nil || s.ExpiresAt.After(time.Now()), nil
}

// Ready checks that the admin API answers and Kratos can serve.
func (c *Client) Ready(ctx context.Context) error {
	_, res, err := c.admin.MetadataAPI.IsReady(ctx).Execute()
	if err := classify(res, err); err != nil {
		return fmt.Errorf("kratos admin API is not ready: %w", err)
	}
	return nil
}

// AdminIdentity is an identity as the admin API answers it (with its
// credentials when they were asked for), plus the JSON Kratos sent, so a
// backup can keep it whole.
type AdminIdentity struct {
	ID       string `json:"id"`
	SchemaID string `json:"schema_id"`
	// State is active or inactive.
	State  string `json:"state"`
	Traits struct {
		Email string  `json:"email"`
		Name  *string `json:"name"`
	} `json:"traits"`
	VerifiableAddresses []struct {
		Value    string `json:"value"`
		Via      string `json:"via"`
		Verified bool   `json:"verified"`
		Status   string `json:"status"`
	} `json:"verifiable_addresses"`
	// Credentials by type (password, oidc, code, ...).
	Credentials map[string]struct {
		Identifiers []string        `json:"identifiers"`
		Config      json.RawMessage `json:"config"`
	} `json:"credentials"`
	MetadataPublic json.RawMessage `json:"metadata_public"`
	MetadataAdmin  json.RawMessage `json:"metadata_admin"`
	Raw            json.RawMessage `json:"-"`
}

// Role is metadata_public.role ("" when unset; RoleOf gives the default).
func (i *AdminIdentity) Role() string {
	var m struct {
		Role string `json:"role"`
	}
	_ = json.Unmarshal(i.MetadataPublic, &m)
	return m.Role
}

// PasswordHash is the password credential's hash (listed with credentials).
func (i *AdminIdentity) PasswordHash() string {
	var c struct {
		HashedPassword string `json:"hashed_password"`
	}
	_ = json.Unmarshal(i.Credentials["password"].Config, &c)
	return c.HashedPassword
}

// Links are the identity's social sign-in links, "provider:subject", as
// Kratos indexes them (listed with credentials).
func (i *AdminIdentity) Links() []string { return i.Credentials["oidc"].Identifiers }

// Verified reports whether the verifiable address email is verified.
func (i *AdminIdentity) Verified(email string) bool {
	for _, a := range i.VerifiableAddresses {
		if a.Value == email {
			return a.Verified
		}
	}
	return false
}

// rawIdentities decodes a JSON array of identities, each keeping its JSON.
// The generated client has decoded it already; res.Body holds it again.
func rawIdentities(res *http.Response) ([]AdminIdentity, error) {
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("reading identities: %w", err)
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(data, &raws); err != nil {
		return nil, fmt.Errorf("decoding identities: %w", err)
	}
	out := make([]AdminIdentity, len(raws))
	for i, r := range raws {
		if err := json.Unmarshal(r, &out[i]); err != nil {
			return nil, fmt.Errorf("decoding identity: %w", err)
		}
		out[i].Raw = r
	}
	return out, nil
}

// IdentitiesByIdentifier returns the identities whose credentials use
// identifier (an email, or "provider:subject" for a social link).
func (c *Client) IdentitiesByIdentifier(ctx context.Context, identifier string) ([]AdminIdentity, error) {
	_, res, err := c.admin.IdentityAPI.ListIdentities(ctx).CredentialsIdentifier(identifier).Execute()
	if err := classify(res, err); err != nil {
		return nil, fmt.Errorf("find identities: %w", err)
	}
	return rawIdentities(res)
}

var nextLink = regexp.MustCompile(`<([^>]*)>;\s*rel="next"`)

// ListIdentities calls fn with every identity, a page (up to 1000) at a
// time, in Kratos' order (by id); withCredentials adds the password hashes and
// social links. An error of fn stops the listing and is returned.
func (c *Client) ListIdentities(ctx context.Context, withCredentials bool, fn func([]AdminIdentity) error) error {
	token := ""
	for {
		r := c.admin.IdentityAPI.ListIdentities(ctx).PageSize(c.listPage)
		if withCredentials {
			r = r.IncludeCredential([]string{"password", "oidc"})
		}
		if token != "" {
			r = r.PageToken(token)
		}
		_, res, err := r.Execute()
		if err := classify(res, err); err != nil {
			return fmt.Errorf("list identities: %w", err)
		}
		page, err := rawIdentities(res)
		if err != nil {
			return fmt.Errorf("list identities: %w", err)
		}
		if len(page) > 0 {
			if err := fn(page); err != nil {
				return err
			}
		}
		m := nextLink.FindStringSubmatch(res.Header.Get("Link"))
		if m == nil || len(page) == 0 {
			return nil
		}
		next, err := url.Parse(m[1])
		if err != nil {
			return fmt.Errorf("list identities: Link header %q: %w", m[1], err)
		}
		t := next.Query().Get("page_token")
		if t == "" || t == token {
			return nil
		}
		token = t
	}
}

// DeleteIdentity deletes an identity; one already gone is not an error.
func (c *Client) DeleteIdentity(ctx context.Context, identityID string) error {
	res, err := c.admin.IdentityAPI.DeleteIdentity(ctx, identityID).Execute()
	if err != nil && (res == nil || res.StatusCode != http.StatusNotFound) {
		return fmt.Errorf("delete identity: %w", classify(res, err))
	}
	return nil
}

// MaxBatch is the most identities Kratos v1.3.1 imports in one request
// (identity.BatchPatchIdentitiesLimit).
const MaxBatch = 1000

// NewIdentity is an identity to import with its credentials.
type NewIdentity struct {
	SchemaID string
	Email    string  // traits.email, also its verifiable address
	Name     *string // traits.name; nil leaves it out
	// EmailVerified imports the address as verified (status completed).
	EmailVerified bool
	// PasswordHash is a hash Kratos verifies at sign-in (bcrypt, argon2,
	// pbkdf2, ...); "" imports no password.
	PasswordHash string
	// Links are social sign-in links, imported as the oidc credential.
	Links          []SocialLink
	MetadataPublic map[string]any
	MetadataAdmin  map[string]any
	Inactive       bool
}

// SocialLink is an account at a social sign-in provider.
type SocialLink struct{ Provider, Subject string }

// Identifier is the link as Kratos indexes it, "provider:subject".
func (l SocialLink) Identifier() string { return l.Provider + ":" + l.Subject }

// ImportItem is one identity of a batch import; PatchID (a UUID) comes back
// with its result.
type ImportItem struct {
	PatchID  string
	Identity NewIdentity
}

// ImportResult is Kratos' answer for one ImportItem.
type ImportResult struct {
	PatchID    string
	IdentityID string // set when created
	// ErrStatus is the item's error status (409 when the email or a social
	// link already belongs to an identity), 0 when created.
	ErrStatus  int
	ErrMessage string
}

// body is the item as Kratos' CreateIdentityBody.
func (n NewIdentity) body() client.CreateIdentityBody {
	traits := map[string]any{"email": n.Email}
	if n.Name != nil {
		traits["name"] = *n.Name
	}
	status := "pending"
	if n.EmailVerified {
		status = "completed"
	}
	state := "active"
	if n.Inactive {
		state = "inactive"
	}
	b := client.CreateIdentityBody{
		SchemaId: n.SchemaID, Traits: traits, State: &state,
		VerifiableAddresses: []client.VerifiableIdentityAddress{{Value: n.Email, Via: "email", Verified: n.EmailVerified, Status: status}},
	}
	if n.MetadataPublic != nil {
		b.MetadataPublic = n.MetadataPublic
	}
	if n.MetadataAdmin != nil {
		b.MetadataAdmin = n.MetadataAdmin
	}
	var creds client.IdentityWithCredentials
	if n.PasswordHash != "" {
		creds.Password = &client.IdentityWithCredentialsPassword{Config: &client.IdentityWithCredentialsPasswordConfig{HashedPassword: &n.PasswordHash}}
	}
	if len(n.Links) > 0 {
		providers := make([]client.IdentityWithCredentialsOidcConfigProvider, len(n.Links))
		for i, l := range n.Links {
			providers[i] = client.IdentityWithCredentialsOidcConfigProvider{Provider: l.Provider, Subject: l.Subject}
		}
		creds.Oidc = &client.IdentityWithCredentialsOidc{Config: &client.IdentityWithCredentialsOidcConfig{Providers: providers}}
	}
	if creds.Password != nil || creds.Oidc != nil {
		b.Credentials = &creds
	}
	return b
}

// ImportIdentities creates up to MaxBatch identities in one request
// (PATCH /admin/identities). An error means Kratos refused the whole
// request and created none; an *APIError in it carries the status. Kratos
// v1.3.1 creates a batch in one transaction: when an item fails, the others
// may have been rolled back although they came back with an id.
func (c *Client) ImportIdentities(ctx context.Context, items []ImportItem) ([]ImportResult, error) {
	if len(items) > MaxBatch {
		return nil, fmt.Errorf("import of %d identities: Kratos takes at most %d", len(items), MaxBatch)
	}
	patches := make([]client.IdentityPatch, len(items))
	for i, it := range items {
		body := it.Identity.body()
		patches[i] = client.IdentityPatch{Create: &body, PatchId: &it.PatchID}
	}
	out, res, err := c.admin.IdentityAPI.BatchPatchIdentities(ctx).PatchIdentitiesBody(client.PatchIdentitiesBody{Identities: patches}).Execute()
	if err := classify(res, err); err != nil {
		return nil, fmt.Errorf("import identities: %w", err)
	}
	if len(out.Identities) != len(items) {
		return nil, fmt.Errorf("import identities: Kratos answered %d results for %d identities", len(out.Identities), len(items))
	}
	results := make([]ImportResult, len(items))
	for i, r := range out.Identities {
		results[i] = ImportResult{PatchID: r.GetPatchId(), IdentityID: r.GetIdentity()}
		if r.Error == nil && r.GetAction() != "error" {
			continue
		}
		results[i].IdentityID = ""
		results[i].ErrStatus = http.StatusInternalServerError
		var e struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Reason  string `json:"reason"`
		}
		if raw, err := json.Marshal(r.Error); err == nil && json.Unmarshal(raw, &e) == nil && e.Code != 0 {
			results[i].ErrStatus, results[i].ErrMessage = e.Code, e.Message
			if e.Reason != "" && e.Reason != e.Message {
				results[i].ErrMessage += " (" + e.Reason + ")"
			}
		}
	}
	return results, nil
}
