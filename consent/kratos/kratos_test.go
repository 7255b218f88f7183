package kratos_test

import (
	"github.com/learnplatform/platform/kit/account"

	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/learnplatform/platform/consent"
	"github.com/learnplatform/platform/consent/internal/fakeory"
	"github.com/learnplatform/platform/consent/kratos"
)

func setup(t *testing.T) (*fakeory.Kratos, *kratos.Client) {
	f := fakeory.NewKratos(t)
	return f, kratos.New(f.Public.URL, f.Admin.URL, &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }})
}

func TestWhoamiAndUser(t *testing.T) {
	f, c := setup(t)
	ctx := context.Background()
	id := f.AddIdentity(fakeory.Identity{Email: "ada@example.org", EmailVerified: true, Name: "Ada", Role: "admin"})
	at := time.Now().Add(-time.Hour).Truncate(time.Second)
	s := f.AddSession(fakeory.Session{IdentityID: id, AuthenticatedAt: at, Methods: []string{"password", "totp"}})

	got, err := c.Whoami(ctx, "other=1; "+fakeory.Cookie(s))
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != s.ID || got.IdentityID != id || !got.AuthenticatedAt.Equal(at) || !slices.Equal(got.Methods, []string{"password", "totp"}) {
		t.Fatalf("%+v", got)
	}
	if _, err := c.Whoami(ctx, ""); !errors.Is(err, kratos.ErrNoSession) {
		t.Fatal(err)
	}
	if _, err := c.Whoami(ctx, "ory_kratos_session=forged"); !errors.Is(err, kratos.ErrNoSession) {
		t.Fatal(err)
	}

	u, err := c.User(ctx, id)
	if err != nil || *u != (consent.Identity{User: account.User{ID: id, Email: "ada@example.org", EmailVerified: true, Name: "Ada", Role: account.RoleAdmin}, Active: true}) {
		t.Fatalf("%+v %v", u, err)
	}
	plain := f.AddIdentity(fakeory.Identity{Email: "bob@example.org", Inactive: true})
	if u, err := c.User(ctx, plain); err != nil || u.Role != account.RoleStudent || u.Active || u.EmailVerified {
		t.Fatalf("%+v %v", u, err)
	}
	if _, err := c.User(ctx, fakeory.NewID()); !errors.Is(err, kratos.ErrNotFound) {
		t.Fatal(err)
	}

	lo, err := c.LogoutURL(ctx, fakeory.Cookie(s), "http://hydra.test/next")
	if err != nil || lo == "" {
		t.Fatalf("%q %v", lo, err)
	}
	if _, err := c.LogoutURL(ctx, "", "http://hydra.test/next"); !errors.Is(err, kratos.ErrNoSession) {
		t.Fatal(err)
	}
}

func TestSessionActive(t *testing.T) {
	f, c := setup(t)
	ctx := context.Background()
	id := f.AddIdentity(fakeory.Identity{Email: "ada@example.org"})
	live := f.AddSession(fakeory.Session{IdentityID: id})
	revoked := f.AddSession(fakeory.Session{IdentityID: id})
	f.Revoke(revoked.ID)
	expired := f.AddSession(fakeory.Session{IdentityID: id, AuthenticatedAt: time.Now().Add(-48 * time.Hour), ExpiresAt: time.Now().Add(-time.Hour)})
	deleted := f.AddSession(fakeory.Session{IdentityID: id})
	f.DeleteSession(deleted.ID)

	for _, c2 := range []struct {
		id   string
		want bool
	}{{live.ID, true}, {revoked.ID, false}, {expired.ID, false}, {deleted.ID, false}, {"not-a-uuid", false}} {
		got, err := c.SessionActive(ctx, c2.id)
		if err != nil || got != c2.want {
			t.Errorf("%s: %v %v, want %v", c2.id, got, err, c2.want)
		}
	}
	f.Fail(http.StatusInternalServerError)
	if _, err := c.SessionActive(ctx, live.ID); err == nil {
		t.Fatal("a failing Kratos must be an error, not an answer")
	}
}
