package kratos

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/learnplatform/platform/kit/orytest"
)

func newFake(t *testing.T) (*orytest.Kratos, *Client) {
	k := orytest.NewKratos(t)
	return k, New(k.Public.URL, k.Admin.URL, &http.Client{})
}

func TestSetRole(t *testing.T) {
	k, c := newFake(t)
	ctx := context.Background()
	id := k.AddIdentity(orytest.Identity{Email: "a@example.org"})
	if prev, err := c.SetRole(ctx, id, "instructor"); err != nil || prev != "student" {
		t.Fatalf("%q %v", prev, err)
	}
	if i, _ := k.Identity(id); i.Role != "instructor" {
		t.Fatalf("role %q", i.Role)
	}
	if _, err := c.SetRole(ctx, orytest.NewID(), "admin"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
}

func TestSetState(t *testing.T) {
	k, c := newFake(t)
	ctx := context.Background()
	id := k.AddIdentity(orytest.Identity{Email: "a@example.org"})
	if prev, err := c.SetState(ctx, id, "inactive"); err != nil || prev != "active" {
		t.Fatalf("%q %v", prev, err)
	}
	if i, _ := k.Identity(id); !i.Inactive {
		t.Fatal("not inactive")
	}
	patches := k.Called("PATCH")
	if prev, err := c.SetState(ctx, id, "inactive"); err != nil || prev != "inactive" || k.Called("PATCH") != patches {
		t.Fatalf("unchanged: %q %v, patched again: %v", prev, err, k.Called("PATCH") != patches)
	}
	if _, err := c.SetState(ctx, orytest.NewID(), "inactive"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
	k.FailOn("PATCH", http.StatusInternalServerError)
	if _, err := c.SetState(ctx, id, "active"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("kratos down: %v", err)
	}
}

// Kratos v1.3.1 answers 404 to DELETE /admin/identities/{id}/sessions both
// for an identity without sessions and for an unknown identity.
func TestEndSessions(t *testing.T) {
	k, c := newFake(t)
	ctx := context.Background()
	id := k.AddIdentity(orytest.Identity{Email: "a@example.org"})
	s := k.AddSession(id)
	if err := c.EndSessions(ctx, id); err != nil || k.Active(s.ID) {
		t.Fatalf("%v, still active %v", err, k.Active(s.ID))
	}
	if err := c.EndSessions(ctx, id); err != nil {
		t.Fatalf("no sessions left: %v", err)
	}
	if err := c.EndSessions(ctx, orytest.NewID()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown identity: %v", err)
	}
	k.FailOn("DELETE", http.StatusServiceUnavailable)
	if err := c.EndSessions(ctx, id); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("kratos down: %v", err)
	}
}

func TestSessionOwner(t *testing.T) {
	k, c := newFake(t)
	ctx := context.Background()
	id := k.AddIdentity(orytest.Identity{Email: "a@example.org"})
	s := k.AddSession(id)
	if owner, err := c.SessionOwner(ctx, s.ID); err != nil || owner != id {
		t.Fatalf("%q %v", owner, err)
	}
	for _, bad := range []string{orytest.NewID(), "not-a-session"} {
		if _, err := c.SessionOwner(ctx, bad); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s: %v", bad, err)
		}
	}
}

func TestIdentityByEmailAndEmailOf(t *testing.T) {
	k, c := newFake(t)
	ctx := context.Background()
	id := k.AddIdentity(orytest.Identity{Email: "Ada@example.org"})
	if got, err := c.IdentityByEmail(ctx, "ada@example.org"); err != nil || got != id {
		t.Fatalf("%q %v", got, err)
	}
	if _, err := c.IdentityByEmail(ctx, "nobody@example.org"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
	if got, err := c.EmailOf(ctx, id); err != nil || got != "Ada@example.org" {
		t.Fatalf("%q %v", got, err)
	}
	if _, err := c.EmailOf(ctx, orytest.NewID()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
}
