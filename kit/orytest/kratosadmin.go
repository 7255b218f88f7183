package orytest

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// pageSize is the listing's page size when the request names none.
const pageSize = 250

// holds reports whether identifier is one of i's credential identifiers:
// its email or a social link.
func (i *Identity) holds(identifier string) bool {
	return strings.EqualFold(i.Email, identifier) || slices.Contains(i.Links, identifier)
}

// listIdentities answers the identities in id order, those of a
// credentials_identifier only, a page_size at a time: the Link header's
// rel="next" names the next page's page_token (here, the last id sent).
func (k *Kratos) listIdentities(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	q := r.URL.Query()
	want := q.Get("credentials_identifier")
	size := pageSize
	if n, err := strconv.Atoi(q.Get("page_size")); err == nil && n > 0 {
		size = n
	}
	ids := slices.Sorted(maps.Keys(k.identities))
	if after := q.Get("page_token"); after != "" {
		ids = ids[sort.SearchStrings(ids, after):]
		if len(ids) > 0 && ids[0] == after {
			ids = ids[1:]
		}
	}
	out := []map[string]any{}
	for n, id := range ids {
		i := k.identities[id]
		if want != "" && !i.holds(want) {
			continue
		}
		if want == "" && len(out) == size {
			next := url.Values{"page_size": {strconv.Itoa(size)}, "page_token": {ids[n-1]}}
			w.Header().Set("Link", "<"+k.Admin.URL+"/admin/identities?"+next.Encode()+`>; rel="next"`)
			break
		}
		out = append(out, k.identityJSON(i, q.Has("include_credential")))
	}
	writeJSON(w, http.StatusOK, out)
}

func (k *Kratos) getIdentity(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	i, ok := k.identities[r.PathValue("id")]
	if !ok {
		kratosError(w, http.StatusNotFound, "Unable to locate the resource")
		return
	}
	writeJSON(w, http.StatusOK, k.identityJSON(i, r.URL.Query().Has("include_credential")))
}

func (k *Kratos) deleteIdentity(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	id := r.PathValue("id")
	if _, ok := k.identities[id]; !ok {
		kratosError(w, http.StatusNotFound, "Unable to locate the resource")
		return
	}
	k.deleteIdentityLocked(id)
	w.WriteHeader(http.StatusNoContent)
}

// importBody is PATCH /admin/identities' body, the parts the fake keeps.
type importBody struct {
	Identities []struct {
		PatchID string `json:"patch_id"`
		Create  *struct {
			SchemaID string `json:"schema_id"`
			Traits   struct {
				Email string `json:"email"`
				Name  string `json:"name"`
			} `json:"traits"`
			VerifiableAddresses []struct {
				Verified bool `json:"verified"`
			} `json:"verifiable_addresses"`
			Credentials struct {
				Password struct {
					Config struct {
						HashedPassword string `json:"hashed_password"`
					} `json:"config"`
				} `json:"password"`
				OIDC struct {
					Config struct {
						Providers []struct{ Provider, Subject string } `json:"providers"`
					} `json:"config"`
				} `json:"oidc"`
			} `json:"credentials"`
			MetadataPublic struct {
				Role string `json:"role"`
			} `json:"metadata_public"`
			MetadataAdmin map[string]any `json:"metadata_admin"`
			State         string         `json:"state"`
		} `json:"create"`
	} `json:"identities"`
}

// importIdentities is Kratos v1.3.1's batch import: at most 1000
// identities, each created or answered with an error (409 when its email or
// a social link is already held). Like Kratos it creates the batch in one
// transaction: when any item fails nothing is stored, although the others
// are still answered "create" with an id.
func (k *Kratos) importIdentities(w http.ResponseWriter, r *http.Request) {
	var b importBody
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		kratosError(w, http.StatusBadRequest, "The request body is not a batch of identities.")
		return
	}
	if len(b.Identities) > 1000 {
		kratosError(w, http.StatusBadRequest, "The maximum number of identities per batch is 1000.")
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	var made []*Identity
	results := make([]map[string]any, len(b.Identities))
	failed := false
	taken := func(identifier string) bool {
		for _, i := range k.identities {
			if i.holds(identifier) {
				return true
			}
		}
		for _, i := range made {
			if i.holds(identifier) {
				return true
			}
		}
		return false
	}
	for n, p := range b.Identities {
		c := p.Create
		if c == nil || c.SchemaID == "" || c.Traits.Email == "" {
			kratosError(w, http.StatusBadRequest, "Every identity needs a schema_id and traits.email.")
			return
		}
		i := &Identity{ID: NewID(), Email: c.Traits.Email, Name: c.Traits.Name, Role: c.MetadataPublic.Role,
			Inactive: c.State == "inactive", Unverified: len(c.VerifiableAddresses) == 0 || !c.VerifiableAddresses[0].Verified,
			PasswordHash: c.Credentials.Password.Config.HashedPassword, MetadataAdmin: c.MetadataAdmin}
		for _, pr := range c.Credentials.OIDC.Config.Providers {
			i.Links = append(i.Links, pr.Provider+":"+pr.Subject)
		}
		conflict := taken(i.Email)
		for _, l := range i.Links {
			conflict = conflict || taken(l)
		}
		if conflict {
			failed = true
			results[n] = map[string]any{"action": "error", "patch_id": p.PatchID, "error": map[string]any{
				"code": http.StatusConflict, "status": "Conflict", "message": "an identity with the same identifier already exists",
				"reason": "This identity conflicts with another identity that already exists."}}
			continue
		}
		made = append(made, i)
		results[n] = map[string]any{"action": "create", "identity": i.ID, "patch_id": p.PatchID}
	}
	if !failed {
		for _, i := range made {
			k.identities[i.ID] = i
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"identities": results})
}

// patchIdentity applies the JSON patches the edge sends: metadata_public
// (roles) and state.
func (k *Kratos) patchIdentity(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	i, ok := k.identities[r.PathValue("id")]
	if !ok {
		kratosError(w, http.StatusNotFound, "Unable to locate the resource")
		return
	}
	var patches []struct {
		Op    string `json:"op"`
		Path  string `json:"path"`
		Value any    `json:"value"`
	}
	if err := json.NewDecoder(r.Body).Decode(&patches); err != nil {
		kratosError(w, http.StatusBadRequest, "not a JSON patch")
		return
	}
	next := *i
	for _, p := range patches {
		if p.Op != "add" && p.Op != "replace" {
			kratosError(w, http.StatusBadRequest, "the fake knows add and replace only")
			return
		}
		switch p.Path {
		case "/metadata_public":
			m, _ := p.Value.(map[string]any)
			next.Role, _ = m["role"].(string)
		case "/state":
			switch p.Value {
			case "active":
				next.Inactive = false
			case "inactive":
				next.Inactive = true
			default:
				kratosError(w, http.StatusBadRequest, "The supplied state was not valid.")
				return
			}
		default:
			kratosError(w, http.StatusBadRequest, "the fake cannot patch "+p.Path)
			return
		}
	}
	*i = next
	writeJSON(w, http.StatusOK, k.identityJSON(i, false))
}

// deleteIdentitySessions deletes every session of the identity; like
// Kratos v1.3.1 it answers 404 when there was none (also for an unknown
// identity).
func (k *Kratos) deleteIdentitySessions(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := 0
	for id, s := range k.sessions {
		if s.IdentityID == r.PathValue("id") {
			delete(k.sessions, id)
			n++
		}
	}
	if n == 0 {
		kratosError(w, http.StatusNotFound, "Unable to locate the resource")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (k *Kratos) getSession(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	id := r.PathValue("id")
	if len(id) != 36 {
		kratosError(w, http.StatusBadRequest, "could not parse UUID")
		return
	}
	s, ok := k.sessions[id]
	if !ok {
		kratosError(w, http.StatusNotFound, "Unable to locate the resource")
		return
	}
	withIdentity := false
	for _, e := range r.URL.Query()["expand"] {
		withIdentity = withIdentity || e == "identity"
	}
	writeJSON(w, http.StatusOK, k.sessionJSON(s, withIdentity))
}

// CSRFCookie is the name of the fake's CSRF cookie (Kratos names it
