package kratos

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/learnplatform/platform/kit/account"
	"github.com/learnplatform/platform/kit/orytest"
)

func TestUser(t *testing.T) {
	k, c := newFake(t)
	ctx := context.Background()
	id := k.AddIdentity(orytest.Identity{Email: "ada@example.org", Name: "Ada", Role: account.RoleAdmin})
	u, err := c.User(ctx, id)
	want := Identity{User: account.User{ID: id, Email: "ada@example.org", EmailVerified: true, Name: "Ada", Role: account.RoleAdmin}, Active: true}
	if err != nil || *u != want {
		t.Fatalf("%+v %v", u, err)
	}
	plain := k.AddIdentity(orytest.Identity{Email: "bob@example.org", Inactive: true, Unverified: true})
	if u, err := c.User(ctx, plain); err != nil || u.Role != account.RoleStudent || u.Active || u.EmailVerified {
		t.Fatalf("%+v %v", u, err)
	}
	if _, err := c.User(ctx, orytest.NewID()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
	k.FailOn("", http.StatusInternalServerError)
	if _, err := c.User(ctx, id); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("kratos down: %v", err)
	}
}

func TestSessionActive(t *testing.T) {
	k, c := newFake(t)
	ctx := context.Background()
	id := k.AddIdentity(orytest.Identity{Email: "ada@example.org"})
	live := k.AddSession(id)
	revoked := k.AddSession(id)
	k.Revoke(revoked.ID)
	expired := k.PutSession(orytest.Session{IdentityID: id, AuthenticatedAt: time.Now().Add(-48 * time.Hour), ExpiresAt: time.Now().Add(-time.Hour)})
	deleted := k.AddSession(id)
	k.DeleteSession(deleted.ID)
	for _, s := range []struct {
		name, id string
		want     bool
	}{{"live", live.ID, true}, {"revoked", revoked.ID, false}, {"expired", expired.ID, false}, {"deleted", deleted.ID, false}, {"not an id", "not-a-uuid", false}} {
		got, err := c.SessionActive(ctx, s.id)
		if err != nil || got != s.want {
			t.Errorf("%s: %v %v, want %v", s.name, got, err, s.want)
		}
	}
	k.FailOn("", http.StatusInternalServerError)
	if _, err := c.SessionActive(ctx, live.ID); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("a failing Kratos must be an error, not an answer: %v", err)
	}
}

func TestReady(t *testing.T) {
	k, c := newFake(t)
	if err := c.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	k.FailOn("GET /health/ready", http.StatusServiceUnavailable)
	if err := c.Ready(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("not ready: %v", err)
	}
}

func name(s string) *string { return &s }

func TestImportIdentities(t *testing.T) {
	t.Run("created with credentials", func(t *testing.T) {
		k, c := newFake(t)
		ctx := context.Background()
		res, err := c.ImportIdentities(ctx, []ImportItem{
			{PatchID: "p1", Identity: NewIdentity{SchemaID: "learner", Email: "ada@example.org", Name: name("Ada"), EmailVerified: true,
				PasswordHash: "$2a$10$abc", Links: []SocialLink{{"google", "g-1"}}, MetadataPublic: map[string]any{"role": "instructor"},
				MetadataAdmin: map[string]any{"legacy_id": "7"}}},
			{PatchID: "p2", Identity: NewIdentity{SchemaID: "learner", Email: "bob@example.org", Inactive: true}},
		})
		if err != nil || len(res) != 2 || res[0].PatchID != "p1" || res[0].IdentityID == "" || res[1].IdentityID == "" || res[0].ErrStatus != 0 {
			t.Fatalf("%+v %v", res, err)
		}
		ada, _ := k.Identity(res[0].IdentityID)
		if ada.Email != "ada@example.org" || ada.Name != "Ada" || ada.Unverified || ada.PasswordHash != "$2a$10$abc" ||
			!slices.Equal(ada.Links, []string{"google:g-1"}) || ada.Role != "instructor" || ada.MetadataAdmin["legacy_id"] != "7" {
			t.Fatalf("stored %+v", ada)
		}
		if bob, _ := k.Identity(res[1].IdentityID); !bob.Inactive || !bob.Unverified || bob.PasswordHash != "" {
			t.Fatalf("stored %+v", bob)
		}
	})
	t.Run("a conflict fails its item and rolls back the batch", func(t *testing.T) {
		k, c := newFake(t)
		k.AddIdentity(orytest.Identity{Email: "taken@example.org"})
		res, err := c.ImportIdentities(context.Background(), []ImportItem{
			{PatchID: "p1", Identity: NewIdentity{SchemaID: "learner", Email: "new@example.org"}},
			{PatchID: "p2", Identity: NewIdentity{SchemaID: "learner", Email: "taken@example.org"}},
		})
		if err != nil || res[1].ErrStatus != http.StatusConflict || res[1].IdentityID != "" || res[1].ErrMessage == "" || res[0].IdentityID == "" {
			t.Fatalf("%+v %v", res, err)
		}
		if _, kept := k.Identity(res[0].IdentityID); kept {
			t.Fatal("Kratos v1.3.1 rolls the whole batch back")
		}
	})
	t.Run("a refused request is an APIError", func(t *testing.T) {
		_, c := newFake(t)
		_, err := c.ImportIdentities(context.Background(), []ImportItem{{PatchID: "p1", Identity: NewIdentity{SchemaID: "learner"}}})
		var ae *APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
			t.Fatalf("%v", err)
		}
	})
	t.Run("too many", func(t *testing.T) {
		k, c := newFake(t)
		if _, err := c.ImportIdentities(context.Background(), make([]ImportItem, MaxBatch+1)); err == nil || k.Called("PATCH") != 0 {
			t.Fatalf("%v, sent: %d", err, k.Called("PATCH"))
		}
	})
}

func TestListAndFindIdentities(t *testing.T) {
	k, c := newFake(t)
	c.listPage = 3
	ctx := context.Background()
	var all []string
	for range 2*3 + 1 {
		all = append(all, k.AddIdentity(orytest.Identity{Email: orytest.NewID() + "@example.org"}))
	}
	ada := k.AddIdentity(orytest.Identity{Email: "ada@example.org", Name: "Ada", Role: "admin", PasswordHash: "h", Links: []string{"github:42"}})
	all = append(all, ada)

	var seen []string
	pages := 0
	err := c.ListIdentities(ctx, true, func(page []AdminIdentity) error {
		pages++
		for _, i := range page {
			seen = append(seen, i.ID)
			if i.ID == ada && (i.PasswordHash() != "h" || !slices.Equal(i.Links(), []string{"github:42"}) || i.Role() != "admin" ||
				*i.Traits.Name != "Ada" || !i.Verified("ada@example.org") || i.State != "active") {
				t.Errorf("ada listed as %+v", i)
			}
			var raw map[string]any
			if json.Unmarshal(i.Raw, &raw) != nil || raw["id"] != i.ID {
				t.Errorf("raw %s", i.Raw)
			}
		}
		return nil
	})
	slices.Sort(all)
	if err != nil || pages != 3 || !slices.Equal(seen, all) {
		t.Fatalf("%v: %d pages, %d of %d identities", err, pages, len(seen), len(all))
	}
	stop := errors.New("stop")
	if err := c.ListIdentities(ctx, false, func([]AdminIdentity) error { return stop }); err != stop {
		t.Fatalf("fn's error: %v", err)
	}

	for _, identifier := range []string{"ada@example.org", "github:42"} {
		found, err := c.IdentitiesByIdentifier(ctx, identifier)
		if err != nil || len(found) != 1 || found[0].ID != ada {
			t.Fatalf("%s: %+v %v", identifier, found, err)
		}
	}
	if found, err := c.IdentitiesByIdentifier(ctx, "nobody@example.org"); err != nil || len(found) != 0 {
		t.Fatalf("nobody: %+v %v", found, err)
	}
}

func TestDeleteIdentity(t *testing.T) {
	k, c := newFake(t)
	ctx := context.Background()
	id := k.AddIdentity(orytest.Identity{Email: "ada@example.org"})
	s := k.AddSession(id)
	if err := c.DeleteIdentity(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, ok := k.Identity(id); ok || k.Active(s.ID) {
		t.Fatal("identity or its session left")
	}
	if err := c.DeleteIdentity(ctx, id); err != nil {
		t.Fatalf("already gone: %v", err)
	}
	k.FailOn("DELETE", http.StatusBadGateway)
	if err := c.DeleteIdentity(ctx, id); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("kratos down: %v", err)
	}
}
