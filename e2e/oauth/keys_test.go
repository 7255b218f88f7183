package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/learnplatform/platform/e2e/internal/e2etest"
	"github.com/learnplatform/platform/kit/token"
)

func jwksKids(t *testing.T, url string) map[string]bool {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
			Alg string `json:"alg"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(res.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, k := range set.Keys {
		out[k.Kid] = k.Alg == "RS256"
	}
	return out
}

// Key rotation as docs/operations.md describes it: a new RS256 key is added
// to Hydra's access-token key set, the JWKS lists both, new tokens are signed
// with the new key, and tokens signed with the old one keep validating.
func TestSigningKeyRotation(t *testing.T) {
	st := e2etest.Need(t)
	ctx := context.Background()
	v, err := token.New(token.Config{Issuer: st.URL("hydra")})
	if err != nil {
		t.Fatal(err)
	}
	learner := e2etest.NewLearner(t, "")
	before := learner.AccessToken
	oldKid, _ := e2etest.JWTHeader(t, before)["kid"].(string)
	if u, err := v.Validate(ctx, before); err != nil || u.ID != learner.ID || !u.EmailVerified || u.Role != "student" {
		t.Fatalf("validate before rotation: %+v %v", u, err)
	}

	newKid := "rotated-" + e2etest.State()[:8]
	body, _ := json.Marshal(map[string]string{"alg": "RS256", "use": "sig", "kid": newKid})
	res, err := http.Post(st.URL("hydra-admin")+"admin/keys/hydra.jwt.access-token", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create key: %s", res.Status)
	}
	// The other tests get the key set as they would have found it: Hydra
	// signs with the original key again once the new one is gone.
	t.Cleanup(func() { deleteKey(t, st.URL("hydra-admin")+"admin/keys/hydra.jwt.access-token/"+newKid) })
	kids := jwksKids(t, st.URL("hydra")+".well-known/jwks.json")
	if !kids[oldKid] || !kids[newKid] {
		t.Fatalf("JWKS must list both keys %s and %s: %v", oldKid, newKid, kids)
	}

	after := e2etest.Tokens(t, learner.Email, learner.Password).AccessToken
	if kid := e2etest.JWTHeader(t, after)["kid"]; kid != newKid {
		t.Fatalf("new tokens are signed with %v, want %s", kid, newKid)
	}
	// The validator has only the old key cached: the new kid makes it
	// refetch, at most once a second (kit/token's rate limit).
	deadline := time.Now().Add(3 * time.Second)
	for {
		u, err := v.Validate(ctx, after)
		if err == nil && u.ID == learner.ID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a token signed with the new key is still refused: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := v.Validate(ctx, before); err != nil {
		t.Fatalf("a token signed with the old key must keep validating: %v", err)
	}
}

// deleteKey removes one key of a Hydra key set through the admin API.
func deleteKey(t *testing.T, url string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodDelete, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("deleting the rotated key: %v", err)
		return
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		t.Errorf("deleting the rotated key: %s", res.Status)
	}
}
