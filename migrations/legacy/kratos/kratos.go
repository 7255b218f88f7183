// Package kratos is the migration's client of Kratos' admin API: batch
// import, lookup by credential identifier, listing and deleting
// identities. The migration talks to Kratos through nothing else.
package kratos

//lint:file-ignore ST1005 error messages begin with the name Kratos, a proper noun

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/learnplatform/platform/migrations/legacy"
)

// Client is the part of Kratos' admin API the migration uses: batch import
// (PATCH /admin/identities), lookup by credential identifier, listing,
// deleting. Plain net/http and JSON: the requests are few and simple.
type Client struct {
	base *url.URL
	http *http.Client
	// SchemaID is the identity schema new identities get.
	SchemaID string
}

// MaxBatch is the most identities Kratos v1.3.1 accepts in one batch
// import (identity.BatchPatchIdentitiesLimit).
const MaxBatch = 1000

// New returns a client for the admin API at adminURL.
func New(adminURL string) (*Client, error) {
	u, err := url.Parse(adminURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("Kratos admin URL %q: want http(s)://host:port/", adminURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return &Client{base: u, http: &http.Client{Timeout: 5 * time.Minute}, SchemaID: "default"}, nil
}

// APIError is an error answer of Kratos.
type APIError struct {
	Status  int
	Message string
	Reason  string
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("Kratos answered %d", e.Status)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Reason != "" && e.Reason != e.Message {
		msg += " (" + e.Reason + ")"
	}
	return msg
}

// do sends one request and decodes a 2xx JSON answer into out. Network
// errors and 502/503/504 are retried a few times: every request the
// migration sends may be repeated (a repeated create meets a conflict and
// is resolved by lookup).
func (k *Client) do(ctx context.Context, method, path string, query url.Values, body any, out any) (http.Header, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	u := *k.base
	u.Path += path
	u.RawQuery = query.Encode()
	var last error
	for attempt := 0; attempt < 4; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Duration(attempt*attempt) * 500 * time.Millisecond):
			}
		}
		req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(payload))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/json")
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := k.http.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			last = fmt.Errorf("Kratos admin API %s %s: %w", method, path, err)
			continue
		}
		data, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			last = fmt.Errorf("Kratos admin API %s %s: %w", method, path, err)
			continue
		}
		switch {
		case res.StatusCode >= 200 && res.StatusCode < 300:
			if out != nil && len(data) > 0 {
				if err := json.Unmarshal(data, out); err != nil {
					return nil, fmt.Errorf("Kratos admin API %s %s: answer is not the expected JSON: %w", method, path, err)
				}
			}
			return res.Header, nil
		case res.StatusCode == http.StatusBadGateway || res.StatusCode == http.StatusServiceUnavailable || res.StatusCode == http.StatusGatewayTimeout:
			last = apiError(res.StatusCode, data)
			continue
		default:
			return nil, apiError(res.StatusCode, data)
		}
	}
	return nil, last
}

func apiError(status int, data []byte) *APIError {
	var e struct {
		Error struct {
			Message string `json:"message"`
			Reason  string `json:"reason"`
		} `json:"error"`
	}
	_ = json.Unmarshal(data, &e)
	if e.Error.Message == "" {
		e.Error.Message = strings.TrimSpace(string(data))
		if len(e.Error.Message) > 200 {
			e.Error.Message = e.Error.Message[:200]
		}
	}
	return &APIError{Status: status, Message: e.Error.Message, Reason: e.Error.Reason}
}

// Ready checks that the admin API answers.
func (k *Client) Ready(ctx context.Context) error {
	_, err := k.do(ctx, http.MethodGet, "/admin/health/ready", nil, nil, nil)
	if err != nil {
		return fmt.Errorf("Kratos admin API at %s is not ready: %w", k.base, err)
	}
	return nil
}

// CreateBody is the import form of one identity (CreateIdentityBody).
func (k *Client) CreateBody(id *legacy.Identity, withoutLinks map[string]bool) map[string]any {
	traits := map[string]any{"email": id.Email}
	if id.HasName {
		traits["name"] = id.Name
	}
	creds := map[string]any{}
	if id.PasswordHash != "" {
		creds["password"] = map[string]any{"config": map[string]any{"hashed_password": id.PasswordHash}}
	}
	var providers []map[string]string
	for _, l := range id.Social {
		if !withoutLinks[l.Identifier()] {
			providers = append(providers, map[string]string{"provider": l.Provider, "subject": l.Subject})
		}
	}
	if len(providers) > 0 {
		creds["oidc"] = map[string]any{"config": map[string]any{"providers": providers}}
	}
	status := "pending"
	if id.Verified {
		status = "completed"
	}
	state := "active"
	if !id.Active {
		state = "inactive"
	}
	body := map[string]any{
		"schema_id": k.SchemaID,
		"traits":    traits,
		"verifiable_addresses": []map[string]any{
			{"value": id.Email, "via": "email", "verified": id.Verified, "status": status},
		},
		"metadata_public": map[string]any{"role": id.Role},
		"metadata_admin":  id.MetadataAdmin(),
		"state":           state,
	}
	if len(creds) > 0 {
		body["credentials"] = creds
	}
	return body
}

// BatchItem is one identity of a batch import: PatchID (a UUID) comes back
// with its result.
type BatchItem struct {
	PatchID string
	Body    map[string]any
}

// BatchResult is Kratos' answer for one BatchItem.
type BatchResult struct {
	PatchID    string
	IdentityID string // set when created
	// ErrStatus is the item's error status (409 when the email or a social
	// link already belongs to an identity), 0 when created.
	ErrStatus  int
	ErrMessage string
}

// BatchCreate imports up to MaxBatch identities in one request. An error
// means the whole request was refused (nothing created).
func (k *Client) BatchCreate(ctx context.Context, items []BatchItem) ([]BatchResult, error) {
	if len(items) > MaxBatch {
		return nil, fmt.Errorf("batch of %d identities: Kratos takes at most %d", len(items), MaxBatch)
	}
	type patch struct {
		PatchID string         `json:"patch_id"`
		Create  map[string]any `json:"create"`
	}
	req := struct {
		Identities []patch `json:"identities"`
	}{}
	for _, it := range items {
		req.Identities = append(req.Identities, patch{PatchID: it.PatchID, Create: it.Body})
	}
	var res struct {
		Identities []struct {
			Action   string `json:"action"`
			Identity string `json:"identity"`
			PatchID  string `json:"patch_id"`
			Error    *struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
				Reason  string `json:"reason"`
			} `json:"error"`
		} `json:"identities"`
	}
	if _, err := k.do(ctx, http.MethodPatch, "/admin/identities", nil, req, &res); err != nil {
		return nil, err
	}
	if len(res.Identities) != len(items) {
		return nil, fmt.Errorf("Kratos answered %d results for a batch of %d", len(res.Identities), len(items))
	}
	out := make([]BatchResult, len(items))
	for i, r := range res.Identities {
		out[i] = BatchResult{PatchID: r.PatchID, IdentityID: r.Identity}
		if r.Error != nil || r.Action == "error" {
			out[i].IdentityID = ""
			out[i].ErrStatus = http.StatusInternalServerError
			if r.Error != nil {
				out[i].ErrStatus = r.Error.Code
				out[i].ErrMessage = r.Error.Message
				if r.Error.Reason != "" && r.Error.Reason != r.Error.Message {
					out[i].ErrMessage += " (" + r.Error.Reason + ")"
				}
			}
		}
	}
	return out, nil
}

// Identity is the admin API's view of an identity, the parts the
// migration reads, plus the raw JSON for backups.
type Identity struct {
	ID       string `json:"id"`
	SchemaID string `json:"schema_id"`
	State    string `json:"state"`
	Traits   struct {
		Email string  `json:"email"`
		Name  *string `json:"name"`
	} `json:"traits"`
	VerifiableAddresses []struct {
		Value    string `json:"value"`
		Via      string `json:"via"`
		Verified bool   `json:"verified"`
		Status   string `json:"status"`
	} `json:"verifiable_addresses"`
	Credentials map[string]struct {
		Identifiers []string        `json:"identifiers"`
		Config      json.RawMessage `json:"config"`
	} `json:"credentials"`
	MetadataPublic json.RawMessage `json:"metadata_public"`
	MetadataAdmin  json.RawMessage `json:"metadata_admin"`
	Raw            json.RawMessage `json:"-"`
}

// LegacyID is metadata_admin.legacy_id of an identity this migration
// created (imported_by says so), "" for any other.
func (i *Identity) LegacyID() string {
	var m struct {
		ImportedBy string `json:"imported_by"`
		LegacyID   string `json:"legacy_id"`
	}
	if json.Unmarshal(i.MetadataAdmin, &m) != nil || m.ImportedBy != legacy.ImportedBy {
		return ""
	}
	return m.LegacyID
}

// Role is metadata_public.role.
func (i *Identity) Role() string {
	var m struct {
		Role string `json:"role"`
	}
	_ = json.Unmarshal(i.MetadataPublic, &m)
	return m.Role
}

// PasswordHash is the password credential's hash (listed with credentials).
func (i *Identity) PasswordHash() string {
	var c struct {
		HashedPassword string `json:"hashed_password"`
	}
	_ = json.Unmarshal(i.Credentials["password"].Config, &c)
	return c.HashedPassword
}

// Links are the identity's social links, "provider:subject", as Kratos
// indexes them.
func (i *Identity) Links() []string { return i.Credentials["oidc"].Identifiers }

// Verified reports whether the verifiable address for email is verified.
func (i *Identity) Verified(email string) bool {
	for _, a := range i.VerifiableAddresses {
		if a.Value == email {
			return a.Verified
		}
	}
	return false
}

func decodeIdentities(data json.RawMessage) ([]Identity, error) {
	var raws []json.RawMessage
	if err := json.Unmarshal(data, &raws); err != nil {
		return nil, err
	}
	out := make([]Identity, len(raws))
	for i, r := range raws {
		if err := json.Unmarshal(r, &out[i]); err != nil {
			return nil, err
		}
		out[i].Raw = r
	}
	return out, nil
}

// FindByIdentifier returns the identities whose credentials use identifier
// (an email, or "provider:subject" for a social link).
func (k *Client) FindByIdentifier(ctx context.Context, identifier string) ([]Identity, error) {
	var raw json.RawMessage
	if _, err := k.do(ctx, http.MethodGet, "/admin/identities", url.Values{"credentials_identifier": {identifier}}, nil, &raw); err != nil {
		return nil, err
	}
	return decodeIdentities(raw)
}

var nextLink = regexp.MustCompile(`<([^>]*)>;\s*rel="next"`)

// List calls fn with every identity, a page at a time, in id order. With
// credentials the password hashes and social links are included.
func (k *Client) List(ctx context.Context, credentials bool, fn func([]Identity) error) error {
	q := url.Values{"page_size": {"1000"}}
	if credentials {
		q["include_credential"] = []string{"password", "oidc"}
	}
	for {
		var raw json.RawMessage
		h, err := k.do(ctx, http.MethodGet, "/admin/identities", q, nil, &raw)
		if err != nil {
			return err
		}
		page, err := decodeIdentities(raw)
		if err != nil {
			return fmt.Errorf("Kratos admin API: listing identities: %w", err)
		}
		if len(page) > 0 {
			if err := fn(page); err != nil {
				return err
			}
		}
		m := nextLink.FindStringSubmatch(h.Get("Link"))
		if m == nil || len(page) == 0 {
			return nil
		}
		next, err := url.Parse(m[1])
		if err != nil {
			return fmt.Errorf("Kratos admin API: Link header %q: %w", m[1], err)
		}
		token := next.Query().Get("page_token")
		if token == "" || token == q.Get("page_token") {
			return nil
		}
		q.Set("page_token", token)
	}
}

// Delete deletes an identity; one that is already gone is not an error.
func (k *Client) Delete(ctx context.Context, id string) error {
	_, err := k.do(ctx, http.MethodDelete, "/admin/identities/"+url.PathEscape(id), nil, nil, nil)
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return nil
	}
	return err
}
