package kratos

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/learnplatform/platform/kit/orytest"
)

func TestWhoami(t *testing.T) {
	k, c := newFake(t)
	ctx := context.Background()
	id := k.AddIdentity(orytest.Identity{Email: "ada@example.org", Name: "Ada", Role: "admin"})
	at := time.Now().Add(-time.Hour).Truncate(time.Second)
	s := k.PutSession(orytest.Session{IdentityID: id, AuthenticatedAt: at, Methods: []string{"password", "totp"}})
	for name, creds := range map[string][2]string{"cookie": {"other=1; " + s.Cookie(), ""}, "token": {"", s.Token}} {
		got, err := c.Whoami(ctx, creds[0], creds[1])
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.ID != s.ID || got.IdentityID != id || got.Email != "ada@example.org" || !got.EmailVerified || got.Name != "Ada" ||
			got.Role != "admin" || !got.AuthenticatedAt.Equal(at) || !got.ExpiresAt.Equal(s.ExpiresAt) || !slices.Equal(got.Methods, []string{"password", "totp"}) {
			t.Fatalf("%s: %+v", name, got)
		}
	}
	for name, cookie := range map[string]string{"none": "", "forged": orytest.SessionCookie + "=forged"} {
		if _, err := c.Whoami(ctx, cookie, ""); !errors.Is(err, ErrNoSession) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	k.SetInactive(id, true)
	if _, err := c.Whoami(ctx, s.Cookie(), ""); !errors.Is(err, ErrNoSession) {
		t.Fatalf("inactive identity: %v", err)
	}
	k.FailOn("", http.StatusInternalServerError)
	if _, err := c.Whoami(ctx, s.Cookie(), ""); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("kratos down: %v", err)
	}
	var ae *APIError
	if _, err := c.Whoami(ctx, s.Cookie(), ""); !errors.As(err, &ae) || ae.Status != http.StatusInternalServerError {
		t.Fatalf("status: %v", err)
	}
}

func TestLogoutURL(t *testing.T) {
	k, c := newFake(t)
	ctx := context.Background()
	s := k.AddSession(k.AddIdentity(orytest.Identity{Email: "ada@example.org"}))
	to, err := c.LogoutURL(ctx, s.Cookie(), "http://hydra.test/next")
	if err != nil || to != k.Public.URL+"/self-service/logout?return_to=http%3A%2F%2Fhydra.test%2Fnext&token="+s.LogoutToken() {
		t.Fatalf("%q %v", to, err)
	}
	if _, err := c.LogoutURL(ctx, "", "http://hydra.test/next"); !errors.Is(err, ErrNoSession) {
		t.Fatalf("signed out: %v", err)
	}
}

func TestFlows(t *testing.T) {
	k, c := newFake(t)
	ctx := context.Background()
	browser := k.NewLoginFlow("browser")
	f, err := c.Flow(ctx, Login, browser.ID, browser.Cookie, "")
	if err != nil || f.ID != browser.ID || !f.IsBrowser() || f.UI.Find("csrf_token").Value() != browser.CSRFToken {
		t.Fatalf("%+v %v", f, err)
	}
	f.AddMessage("password", Text{ID: 4000901, Type: "error", Text: "too short"})
	if !f.HasMessage(4000901) || f.UI.Find("password").Messages[0].IsError() != true {
		t.Fatal("message not added to the node")
	}
	for name, id := range map[string]string{"malformed": "../../admin", "unknown": orytest.NewID()} {
		if _, err := c.Flow(ctx, Login, id, browser.Cookie, ""); !errors.Is(err, ErrFlowGone) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, err := c.Flow(ctx, Login, browser.ID, "", ""); !errors.Is(err, ErrFlowGone) {
		t.Fatalf("another browser's flow: %v", err)
	}
}

func TestNewBrowserFlowAndErrors(t *testing.T) {
	k := orytest.NewKratos(t)
	ss := k.NewSelfService(t)
	c := New(ss.URL, k.Admin.URL, &http.Client{Transport: CookieTransport{}})
	ctx := context.Background()
	cr, err := c.NewBrowserFlow(ctx, Registration, "", "http://app.test/")
	if err != nil || cr.Flow.Kind != Registration || len(cr.SetCookies) == 0 {
		t.Fatalf("%+v %v", cr, err)
	}
	id := ss.AddError("", http.StatusForbidden, "no")
	if fe, err := c.Error(ctx, id); err != nil || fe.Code != http.StatusForbidden || fe.Reason != "no" {
		t.Fatalf("%+v %v", fe, err)
	}
	if _, err := c.Error(ctx, orytest.NewID()); !errors.Is(err, ErrFlowGone) {
		t.Fatalf("unknown error: %v", err)
	}
}

func TestMySessions(t *testing.T) {
	k, c := newFake(t)
	ctx := context.Background()
	id := k.AddIdentity(orytest.Identity{Email: "ada@example.org"})
	me, other, third := k.AddSession(id), k.AddSession(id), k.AddSession(id)
	devices, err := c.MySessions(ctx, me.Cookie())
	if err != nil || len(devices) != 3 || devices[0].ID != me.ID || !devices[0].Current || devices[1].IP == "" {
		t.Fatalf("%+v %v", devices, err)
	}
	if err := c.EndSession(ctx, me.Cookie(), other.ID); err != nil || k.Active(other.ID) {
		t.Fatalf("%v, still active %v", err, k.Active(other.ID))
	}
	if n, err := c.EndOtherSessions(ctx, me.Cookie()); err != nil || n != 1 || k.Active(third.ID) || !k.Active(me.ID) {
		t.Fatalf("%d %v", n, err)
	}
}

func TestLinkedMethods(t *testing.T) {
	k, c := newFake(t)
	id := k.AddIdentity(orytest.Identity{Email: "ada@example.org", PasswordHash: "h", Links: []string{"google:1", "github:2"}})
	got, err := c.LinkedMethods(context.Background(), id)
	if err != nil || !slices.Equal(got, []string{"Password", "Social sign-in: github", "Social sign-in: google"}) {
		t.Fatalf("%q %v", got, err)
	}
	social := k.AddIdentity(orytest.Identity{Email: "bob@example.org", Links: []string{"github:3"}})
	if got, err := c.LinkedMethods(context.Background(), social); err != nil || !slices.Equal(got, []string{"Social sign-in: github"}) {
		t.Fatalf("%q %v", got, err)
	}
}
