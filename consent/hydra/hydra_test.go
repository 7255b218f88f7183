package hydra_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/learnplatform/platform/consent"
	"github.com/learnplatform/platform/consent/hydra"
	"github.com/learnplatform/platform/kit/orytest"
)

func setup(t *testing.T) (*orytest.Hydra, *hydra.Admin) {
	f := orytest.NewHydra(t)
	f.AddClient(orytest.Client{ID: "web", Name: "Learning Platform", FirstParty: true, Public: true})
	f.AddClient(orytest.Client{ID: "buddy", Name: "Study Buddy"})
	return f, hydra.New(f.Admin.URL, http.DefaultClient)
}

func TestLoginReadsPromptAndMaxAge(t *testing.T) {
	f, a := setup(t)
	ctx := context.Background()
	cases := []struct {
		q      url.Values
		prompt []string
		maxAge int64
	}{
		{nil, nil, -1},
		{url.Values{"prompt": {"login"}}, []string{"login"}, -1},
		{url.Values{"prompt": {"login consent"}}, []string{"login", "consent"}, -1},
		{url.Values{"max_age": {"0"}}, nil, 0},
		{url.Values{"max_age": {"300"}, "prompt": {"none"}}, []string{"none"}, 300},
		{url.Values{"max_age": {"-5"}}, nil, -1},
		{url.Values{"max_age": {"soon"}}, nil, -1},
		{url.Values{"xprompt": {"login"}}, nil, -1}, // not prompt
	}
	for _, c := range cases {
		ch := f.AddLogin(orytest.LoginRequest{ClientID: "web", Scopes: []string{"openid"}, Query: c.q})
		lr, err := a.Login(ctx, ch)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(lr.Prompt, c.prompt) || lr.MaxAge != c.maxAge || lr.ClientID != "web" || lr.Challenge != ch {
			t.Errorf("%v: got prompt %v max_age %d client %q", c.q, lr.Prompt, lr.MaxAge, lr.ClientID)
		}
	}
}

func TestLoginContextReachesConsent(t *testing.T) {
	f, a := setup(t)
	ctx := context.Background()
	login := f.AddLogin(orytest.LoginRequest{ClientID: "buddy", Scopes: []string{"openid", "email"}})
	to, err := a.AcceptLogin(ctx, login, hydra.LoginAcceptance{Subject: "u1", KratosSessionID: "k1", Remember: true, RememberFor: 60, AMR: []string{"password"}})
	if err != nil || to != f.LoginVerifierURL(login) {
		t.Fatalf("accept: %q %v", to, err)
	}
	acc, _ := f.LoginAccepted(login)
	if acc.Subject != "u1" || acc.IdentityProviderSessionID != "k1" || !acc.Remember || acc.RememberFor != 60 || !slices.Equal(acc.AMR, []string{"password"}) {
		t.Fatalf("accepted %+v", acc)
	}
	var lc hydra.LoginContext
	if err := json.Unmarshal(acc.Context, &lc); err != nil || lc.KratosSessionID != "k1" {
		t.Fatalf("context %s: %v", acc.Context, err)
	}
	cons := f.AddConsent(orytest.ConsentRequest{ClientID: "buddy", Subject: "u1", Scopes: []string{"openid", "email"}, LoginChallenge: login})
	cr, err := a.Consent(ctx, cons)
	if err != nil {
		t.Fatal(err)
	}
	if cr.KratosSessionID != "k1" || cr.FirstParty || cr.ClientName != "Study Buddy" || cr.Subject != "u1" || cr.LoginSessionID == "" {
		t.Fatalf("consent request %+v", cr)
	}

	// A login accepted without a Kratos session id sends no context.
	login2 := f.AddLogin(orytest.LoginRequest{ClientID: "web"})
	if _, err := a.AcceptLogin(ctx, login2, hydra.LoginAcceptance{Subject: "u1"}); err != nil {
		t.Fatal(err)
	}
	cons2 := f.AddConsent(orytest.ConsentRequest{ClientID: "web", Subject: "u1", LoginChallenge: login2})
	if cr, err := a.Consent(ctx, cons2); err != nil || cr.KratosSessionID != "" || !cr.FirstParty {
		t.Fatalf("%+v %v", cr, err)
	}
}

func TestAcceptConsentSendsBothClaimSets(t *testing.T) {
	f, a := setup(t)
	ch := f.AddConsent(orytest.ConsentRequest{ClientID: "buddy", Subject: "u1", Scopes: []string{"openid"}, Audience: []string{"tutor"}})
	cr, err := a.Consent(context.Background(), ch)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.AcceptConsent(context.Background(), cr, []string{"openid"}, map[string]any{"a": 1}, map[string]any{"b": "x"}, false, 0); err != nil {
		t.Fatal(err)
	}
	acc, _ := f.ConsentAccepted(ch)
	if acc.Session.IDToken["a"] != float64(1) || acc.Session.AccessToken["b"] != "x" || len(acc.Session.IDToken) != 1 ||
		!slices.Equal(acc.GrantAudience, []string{"tutor"}) || !slices.Equal(acc.GrantScope, []string{"openid"}) {
		t.Fatalf("accepted %+v", acc)
	}
}

func TestLogoutRequests(t *testing.T) {
	f, a := setup(t)
	ctx := context.Background()
	rp := f.AddLogout(orytest.LogoutRequest{Subject: "u1", SID: "sid1", RPInitiated: true, ClientID: "web"})
	lr, err := a.Logout(ctx, rp)
	if err != nil || !lr.RPInitiated || lr.ClientID != "web" || lr.SessionID != "sid1" || lr.Subject != "u1" {
		t.Fatalf("%+v %v", lr, err)
	}
	bare := f.AddLogout(orytest.LogoutRequest{Subject: "u1", SID: "sid1"})
	lr, err = a.Logout(ctx, bare)
	if err != nil || lr.RPInitiated || lr.ClientID != "" {
		t.Fatalf("%+v %v", lr, err)
	}
	if err := a.RejectLogout(ctx, bare); err != nil {
		t.Fatal(err)
	}
	if f.LogoutOutcome(bare) != "rejected" {
		t.Fatal("not rejected")
	}
	if _, err := a.Logout(ctx, bare); !errors.Is(err, hydra.ErrGone) {
		t.Fatalf("handled logout: %v", err)
	}
	if err := a.RejectLogout(ctx, "nope"); !errors.Is(err, hydra.ErrGone) {
		t.Fatalf("unknown logout: %v", err)
	}
}

func TestClientAndErrors(t *testing.T) {
	f, a := setup(t)
	ctx := context.Background()
	if c, err := a.Client(ctx, "web"); err != nil || !c.FirstParty {
		t.Fatalf("%+v %v", c, err)
	}
	if c, err := a.Client(ctx, "buddy"); err != nil || c.FirstParty {
		t.Fatalf("%+v %v", c, err)
	}
	f.AddClient(orytest.Client{ID: "odd", Metadata: map[string]any{"first_party": "yes"}})
	if c, err := a.Client(ctx, "odd"); err != nil || c.FirstParty {
		t.Fatalf("a non-boolean first_party must not count: %+v %v", c, err)
	}
	if _, err := a.Client(ctx, "nope"); !errors.Is(err, hydra.ErrNoClient) {
		t.Fatalf("unknown client: %v", err)
	}
	f.Fail(http.StatusServiceUnavailable)
	if _, err := a.Client(ctx, "web"); !errors.Is(err, hydra.ErrUnavailable) {
		t.Fatalf("503: %v", err)
	}
	f.Fail(0)
	f.Admin.Close()
	if _, err := a.Login(ctx, "x"); !errors.Is(err, hydra.ErrUnavailable) {
		t.Fatalf("closed: %v", err)
	}
}

func TestApplyClient(t *testing.T) {
	f, a := setup(t)
	ctx := context.Background()
	c := consent.Client{ID: "new", Name: "New", FirstParty: true, Public: true, GrantTypes: []string{"authorization_code"}, Scopes: []string{"openid", "role"}}
	if did, err := a.ApplyClient(ctx, c); err != nil || did != "created" {
		t.Fatalf("%q %v", did, err)
	}
	c.Name = "Renamed"
	if did, err := a.ApplyClient(ctx, c); err != nil || did != "updated" {
		t.Fatalf("%q %v", did, err)
	}
	got, _ := f.ClientByID("new")
	if got.Name != "Renamed" || !got.FirstParty || !got.Public || !slices.Equal(got.Scopes, []string{"openid", "role"}) {
		t.Fatalf("%+v", got)
	}
}

func TestRejections(t *testing.T) {
	ctx := context.Background()
	t.Run("login", func(t *testing.T) {
		f, a := setup(t)
		ch := f.AddLogin(orytest.LoginRequest{ClientID: "web"})
		to, err := a.RejectLogin(ctx, ch, "login_required", "not signed in")
		if err != nil || to != f.RejectedURL(ch) {
			t.Fatalf("%q %v", to, err)
		}
		if rej, _ := f.LoginRejected(ch); rej.Error != "login_required" || rej.Description != "not signed in" {
			t.Fatalf("%+v", rej)
		}
		if _, err := a.Login(ctx, ch); !errors.Is(err, hydra.ErrGone) {
			t.Fatalf("handled login: %v", err)
		}
	})
	t.Run("consent", func(t *testing.T) {
		f, a := setup(t)
		ch := f.AddConsent(orytest.ConsentRequest{ClientID: "buddy", Subject: "u1"})
		to, err := a.RejectConsent(ctx, ch, "denied")
		if err != nil || to != f.RejectedURL(ch) {
			t.Fatalf("%q %v", to, err)
		}
		if rej, _ := f.ConsentRejected(ch); rej.Error != "access_denied" || rej.Description != "denied" {
			t.Fatalf("%+v", rej)
		}
		if _, err := a.RejectConsent(ctx, ch, "again"); !errors.Is(err, hydra.ErrGone) {
			t.Fatalf("twice: %v", err)
		}
	})
}

func TestAcceptLogout(t *testing.T) {
	f, a := setup(t)
	ctx := context.Background()
	ch := f.AddLogout(orytest.LogoutRequest{Subject: "u1", SID: "sid1"})
	if to, err := a.AcceptLogout(ctx, ch); err != nil || to != f.LogoutVerifierURL(ch) || f.LogoutOutcome(ch) != "accepted" {
		t.Fatalf("%q %v %q", to, err, f.LogoutOutcome(ch))
	}
	if _, err := a.AcceptLogout(ctx, ch); !errors.Is(err, hydra.ErrGone) {
		t.Fatalf("twice: %v", err)
	}
}

// Unknown or used challenges are ErrGone (the page says "expired"), an
// unreachable or failing Hydra ErrUnavailable: never an unclassified error.
func TestChallengeErrors(t *testing.T) {
	ctx := context.Background()
	calls := map[string]func(a *hydra.Admin) error{
		"login": func(a *hydra.Admin) error { _, err := a.Login(ctx, "nope"); return err },
		"accept login": func(a *hydra.Admin) error {
			_, err := a.AcceptLogin(ctx, "nope", hydra.LoginAcceptance{Subject: "u"})
			return err
		},
		"consent": func(a *hydra.Admin) error { _, err := a.Consent(ctx, "nope"); return err },
		"accept consent": func(a *hydra.Admin) error {
			_, err := a.AcceptConsent(ctx, &hydra.ConsentRequest{Challenge: "nope"}, nil, nil, nil, false, 0)
			return err
		},
		"logout": func(a *hydra.Admin) error { _, err := a.Logout(ctx, "nope"); return err },
	}
	for name, call := range calls {
		t.Run(name+" unknown", func(t *testing.T) {
			_, a := setup(t)
			if err := call(a); !errors.Is(err, hydra.ErrGone) {
				t.Fatalf("%v", err)
			}
		})
		t.Run(name+" hydra failing", func(t *testing.T) {
			f, a := setup(t)
			f.Fail(http.StatusInternalServerError)
			if err := call(a); !errors.Is(err, hydra.ErrUnavailable) {
				t.Fatalf("%v", err)
			}
		})
	}
}

func TestApplyClientErrors(t *testing.T) {
	f, a := setup(t)
	f.Fail(http.StatusServiceUnavailable)
	_, err := a.ApplyClient(context.Background(), consent.Client{ID: "new", GrantTypes: []string{"client_credentials"}})
	if !errors.Is(err, hydra.ErrUnavailable) || !strings.Contains(err.Error(), "new") {
		t.Fatalf("%v", err)
	}
}
