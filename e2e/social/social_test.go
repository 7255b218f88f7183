// Package social tests social sign-in end to end: the real stack, with a
// real OpenID Connect provider started on this machine (oidcprovider)
// standing in for Google and GitHub. Kratos knows it as two generic
// providers that use the shipped mappers, ory-config/kratos/oidc/google.jsonnet
// and github.jsonnet, so the mapping path is the production one.
package social

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/learnplatform/platform/e2e/internal/e2etest"
	"github.com/learnplatform/platform/e2e/internal/oidcprovider"
	"github.com/learnplatform/platform/stack"
	"github.com/learnplatform/platform/stack/oryconfig"
)

const (
	// viaGoogle is the local provider with Google's mapper.
	viaGoogle = "local"
	// viaGitHub is the same provider with GitHub's mapper.
	viaGitHub = "local-github"
)

var labels = map[string]string{viaGoogle: "Local ID", viaGitHub: "Local GitHub"}

// idp is the test's OpenID Connect provider. Tests set its user, so they
// do not run in parallel.
var idp *oidcprovider.Provider

func TestMain(m *testing.M) {
	// Only the local provider: Google or GitHub credentials in the
	// developer's environment must not add buttons to this stack.
	for _, k := range oryconfig.ProviderEnv() {
		os.Unsetenv(k)
	}
	var err error
	idp, err = oidcprovider.Start(oidcprovider.Config{ClientID: "learnplatform-kratos", ClientSecret: random()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "social: starting the OpenID Connect provider:", err)
		os.Exit(1)
	}
	e2etest.MainWith(m, func(o *stack.Options) {
		var callbacks []string
		for _, id := range []string{viaGoogle, viaGitHub} {
			mapper := map[string]string{viaGoogle: "google.jsonnet", viaGitHub: "github.jsonnet"}[id]
			o.OIDCProviders = append(o.OIDCProviders, oryconfig.OIDCProvider{
				ID: id, Provider: "generic", Label: labels[id], IssuerURL: idp.Issuer(),
				ClientID: idp.ClientID(), ClientSecret: idp.ClientSecret(),
				Mapper: mapper, Scope: []string{"email", "profile"},
			})
			// Kratos' callback is on its public base URL, the edge.
			callbacks = append(callbacks, fmt.Sprintf("http://127.0.0.1:%d/self-service/methods/oidc/callback/%s", o.Ports.Identity, id))
		}
		idp.SetRedirectURIs(callbacks...)
	})
}

func random() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newUser is a provider account nobody has used yet.
func newUser(verified bool) oidcprovider.User {
	return oidcprovider.User{
		Subject: "sub-" + random(), Email: e2etest.UniqueEmail("social"), EmailVerified: verified, Name: "Ada Social",
	}
}

// signInWith clicks provider's button on the hosted login page and follows
// the browser's way through Kratos, the provider and back; it returns where
// that ends and the page shown there.
func signInWith(t *testing.T, c *e2etest.Client, provider string) (string, *e2etest.Response) {
	t.Helper()
	at, page := c.Follow(c.Base+"login", "")
	if page.Status != http.StatusOK || !strings.Contains(at, "/login?flow=") {
		t.Fatalf("login page: %d at %s", page.Status, at)
	}
	f := e2etest.PageForm(t, page, "oidc")
	if f == nil {
		t.Fatalf("the login page has no social sign-in form:\n%s", page.Body)
	}
	before := idp.Authorizations()
	res := c.Press(f, "provider", provider, nil)
	if res.Status != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), idp.Issuer()+"/authorize?") {
		t.Fatalf("pressing %s: %d to %q\n%s", provider, res.Status, res.Header.Get("Location"), res.Body)
	}
	at, page = c.FollowFrom(at, res)
	if idp.Authorizations() != before+1 {
		t.Fatalf("the provider was asked %d times", idp.Authorizations()-before)
	}
	return at, page
}

// identity is the part of Kratos' admin view the tests read.
type identity struct {
	ID     string `json:"id"`
	Traits struct {
		Email string `json:"email"`
		Name  string `json:"name"`
	} `json:"traits"`
	VerifiableAddresses []struct {
		Value    string `json:"value"`
		Verified bool   `json:"verified"`
		Status   string `json:"status"`
	} `json:"verifiable_addresses"`
	Credentials map[string]struct {
		Identifiers []string `json:"identifiers"`
		Config      struct {
			HashedPassword string `json:"hashed_password"`
		} `json:"config"`
	} `json:"credentials"`
}

// lookup lists identities by credential identifier (an email, or
// "<provider>:<subject>" for a social link) through Kratos' admin API.
func lookup(t *testing.T, identifier string) []identity {
	t.Helper()
	var out []identity
	for _, raw := range e2etest.AdminIdentities(t, identifier) {
		b, _ := json.Marshal(raw)
		var i identity
		if err := json.Unmarshal(b, &i); err != nil {
			t.Fatal(err)
		}
		out = append(out, i)
	}
	return out
}

// withCredentials fetches one identity with its oidc and password credentials.
func withCredentials(t *testing.T, id string) identity {
	t.Helper()
	u := e2etest.Need(t).URL("kratos-admin") + "admin/identities/" + id + "?include_credential=oidc&include_credential=password"
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var i identity
	if res.StatusCode != http.StatusOK || json.NewDecoder(res.Body).Decode(&i) != nil {
		t.Fatalf("GET %s: %s", u, res.Status)
	}
	return i
}

// oidcLinks are the identity's social links ("<provider>:<subject>").
func (i identity) oidcLinks() []string { return i.Credentials["oidc"].Identifiers }

// whoami returns the identity id of c's session.
func whoami(t *testing.T, c *e2etest.Client) string {
	t.Helper()
	res := c.Do("GET", "/sessions/whoami", nil)
	if res.Status != http.StatusOK {
		t.Fatalf("whoami: %d %s", res.Status, res.Body)
	}
	var s struct {
		Identity struct {
			ID string `json:"id"`
		} `json:"identity"`
		AuthenticationMethods []struct {
			Method   string `json:"method"`
			Provider string `json:"provider"`
		} `json:"authentication_methods"`
	}
	res.JSON(t, &s)
	return s.Identity.ID
}

// welcome checks the edge's welcome page shows who is signed in (verified
// "" leaves that line unchecked).
func welcome(t *testing.T, at string, page *e2etest.Response, email, name, verified string) {
	t.Helper()
	body := string(page.Body)
	if page.Status != http.StatusOK || !strings.HasSuffix(strings.SplitN(at, "?", 2)[0], "/welcome") {
		t.Fatalf("ended at %s (%d):\n%s", at, page.Status, body)
	}
	wants := []string{`id="email">` + email + `<`, `id="name">` + name + `<`}
	if verified != "" {
		wants = append(wants, `id="verified">`+verified+`<`)
	}
	for _, want := range wants {
		if !strings.Contains(body, want) {
			t.Fatalf("welcome page lacks %s:\n%s", want, body)
		}
	}
}

// The first social sign-in creates the account from the mapped claims, with
// the provider-verified email verified and no password; the second signs
// into the same account. An account made that way cannot unlink its only
// way in, but may link another provider.
func TestFirstSignInCreatesSecondReuses(t *testing.T) {
	u := newUser(true)
	idp.SetUser(u)

	c := e2etest.NewClient(t)
	at, page := signInWith(t, c, viaGoogle)
	welcome(t, at, page, u.Email, u.Name, "yes")

	found := lookup(t, u.Email)
	if len(found) != 1 {
		t.Fatalf("%d identities for %s", len(found), u.Email)
	}
	id := found[0]
	if id.Traits.Email != u.Email || id.Traits.Name != u.Name {
		t.Fatalf("traits: %+v", id.Traits)
	}
	if len(id.VerifiableAddresses) != 1 || !id.VerifiableAddresses[0].Verified || id.VerifiableAddresses[0].Status != "completed" {
		t.Fatalf("verifiable addresses: %+v", id.VerifiableAddresses)
	}
	full := withCredentials(t, id.ID)
	if links := full.oidcLinks(); len(links) != 1 || links[0] != viaGoogle+":"+u.Subject {
		t.Fatalf("oidc credential identifiers: %v", links)
	}
	// Kratos keeps the email as a password identifier (the schema says
	// so), but no password was set.
	if full.Credentials["password"].Config.HashedPassword != "" {
		t.Fatal("a social sign-up got a password")
	}
	if whoami(t, c) != id.ID {
		t.Fatal("the session is not the new identity's")
	}

	// Second sign-in, another browser: the same identity, no new one.
	c2 := e2etest.NewClient(t)
	at, page = signInWith(t, c2, viaGoogle)
	welcome(t, at, page, u.Email, u.Name, "yes")
	if got := whoami(t, c2); got != id.ID {
		t.Fatalf("second sign-in is identity %s, first was %s", got, id.ID)
	}
	if n := len(lookup(t, u.Email)); n != 1 {
		t.Fatalf("%d identities after the second sign-in", n)
	}
	if n := len(lookup(t, viaGoogle+":"+u.Subject)); n != 1 {
		t.Fatalf("%d identities hold the link", n)
	}

	// Settings: the only way in cannot be unlinked; the other provider can
	// be linked.
	at, page = c2.Follow(c2.Base+"settings", "")
	f := e2etest.PageForm(t, page, "oidc")
	if f == nil {
		t.Fatalf("settings at %s has no linked sign-in methods form:\n%s", at, page.Body)
	}
	if f.Has("unlink", viaGoogle) {
		t.Fatal("settings offer to unlink the account's only way in")
	}
	if b := f.Button("link", viaGitHub); b == nil || b.Label != "Link "+labels[viaGitHub] {
		t.Fatalf("settings buttons: %+v", f.Buttons)
	}
}

// Only an email the provider has verified is taken as verified; GitHub's
// mapper falls back to the login when the profile has no name.
func TestUnverifiedEmailStaysUnverified(t *testing.T) {
	for _, provider := range []string{viaGoogle, viaGitHub} {
		t.Run(provider, func(t *testing.T) {
			u := newUser(false)
			u.Name, u.Nickname = "", "gh-"+random()[:6]
			wantName := ""
			if provider == viaGitHub {
				wantName = u.Nickname
			}
			idp.SetUser(u)
			c := e2etest.NewClient(t)
			at, page := signInWith(t, c, provider)
			nameCell := wantName
			if wantName == "" {
				nameCell = `<span class="muted">not set</span>`
			}
			welcome(t, at, page, u.Email, nameCell, "no")
			found := lookup(t, u.Email)
			if len(found) != 1 {
				t.Fatalf("%d identities", len(found))
			}
			id := found[0]
			if id.Traits.Name != wantName {
				t.Fatalf("name trait %q, want %q", id.Traits.Name, wantName)
			}
			if len(id.VerifiableAddresses) != 1 || id.VerifiableAddresses[0].Verified {
				t.Fatalf("verifiable addresses: %+v", id.VerifiableAddresses)
			}
		})
	}
}

// A password account links the provider in settings (through the provider
// and back), can then sign in with it, and unlinks it again while its
// password remains.
func TestLinkAndUnlinkInSettings(t *testing.T) {
	email := e2etest.UniqueEmail("linker")
	e2etest.NewClient(t).Register(email, e2etest.StrongPassword, "Link Er")
	c := e2etest.NewClient(t)
	at, page := c.Follow(c.Base+"login", "")
	c.FollowFrom(at, c.SubmitLoginForm(page, email, e2etest.StrongPassword, false))
	userID := whoami(t, c)

	at, page = c.Follow(c.Base+"settings", "")
	f := e2etest.PageForm(t, page, "oidc")
	if f == nil || !f.Has("link", viaGoogle) || f.Has("unlink", viaGoogle) {
		t.Fatalf("settings at %s: oidc form %+v", at, f)
	}
	if b := f.Button("link", viaGoogle); b.Label != "Link "+labels[viaGoogle] {
		t.Fatalf("link button label %q", b.Label)
	}

	u := newUser(true)
	u.Email = email
	idp.SetUser(u)
	before := idp.Authorizations()
	res := c.Press(f, "link", viaGoogle, nil)
	if res.Status != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), idp.Issuer()+"/authorize?") {
		t.Fatalf("link: %d to %q\n%s", res.Status, res.Header.Get("Location"), res.Body)
	}
	at, page = c.FollowFrom(at, res)
	if idp.Authorizations() != before+1 || !strings.Contains(at, "/settings?flow=") || page.Status != http.StatusOK {
		t.Fatalf("after linking: %d at %s\n%s", page.Status, at, page.Body)
	}
	if links := withCredentials(t, userID).oidcLinks(); len(links) != 1 || links[0] != viaGoogle+":"+u.Subject {
		t.Fatalf("after linking, oidc identifiers %v", links)
	}
	f = e2etest.PageForm(t, page, "oidc")
	if f == nil || !f.Has("unlink", viaGoogle) || f.Has("link", viaGoogle) {
		t.Fatalf("settings after linking: %+v", f)
	}
	if b := f.Button("unlink", viaGoogle); b.Label != "Unlink "+labels[viaGoogle] {
		t.Fatalf("unlink button label %q", b.Label)
	}

	// The link signs into the password account.
	c2 := e2etest.NewClient(t)
	at2, page2 := signInWith(t, c2, viaGoogle)
	welcome(t, at2, page2, email, "Link Er", "")
	if got := whoami(t, c2); got != userID {
		t.Fatalf("signing in with the linked provider gave identity %s, want %s", got, userID)
	}

	// Unlink: the password remains, so it is allowed.
	res = c.Press(f, "unlink", viaGoogle, nil)
	at, page = c.FollowFrom(at, res)
	if page.Status != http.StatusOK || !strings.Contains(at, "/settings") {
		t.Fatalf("after unlinking: %d at %s\n%s", page.Status, at, page.Body)
	}
	full := withCredentials(t, userID)
	if links := full.oidcLinks(); len(links) != 0 {
		t.Fatalf("after unlinking, oidc identifiers %v", links)
	}
	if full.Credentials["password"].Config.HashedPassword == "" {
		t.Fatal("unlinking removed the password")
	}
	if f = e2etest.PageForm(t, page, "oidc"); f == nil || !f.Has("link", viaGoogle) {
		t.Fatalf("settings after unlinking: %+v", f)
	}

	// The auth event log has the link and the unlink once each, and the
	// sign-in through the provider (Kratos' after-hooks report them).
	conn, err := pgx.Connect(context.Background(), e2etest.Need(t).DSN("platform"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	want := map[string]int{"social.linked": 1, "social.unlinked": 1, "login.succeeded": 1}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := map[string]int{}
		rows, err := conn.Query(context.Background(), `SELECT event_type, count(*) FROM auth_event_log
			WHERE identity_id = $1 AND event_type IN ('social.linked', 'social.unlinked') OR
			      identity_id = $1 AND event_type = 'login.succeeded' AND detail->>'method' = 'oidc'
			GROUP BY event_type`, userID)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var typ string
			var n int
			rows.Scan(&typ, &n)
			got[typ] = n
		}
		rows.Close()
		if fmt.Sprint(got) == fmt.Sprint(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("social events for %s: got %v, want %v", userID, got, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// A provider that shares no email: Kratos asks for one on the registration
// page (the oidc form, the name already filled in from the mapper), goes
// through the provider once more and creates the account with the typed
// email, unverified.
func TestMissingEmailIsAskedFor(t *testing.T) {
	u := newUser(true)
	email := u.Email
	u.Email = ""
	idp.SetUser(u)
	c := e2etest.NewClient(t)
	at, page := signInWith(t, c, viaGoogle)
	if !strings.Contains(at, "/registration?flow=") || page.Status != http.StatusOK {
		t.Fatalf("without an email: %d at %s\n%s", page.Status, at, page.Body)
	}
	f := e2etest.PageForm(t, page, "oidc")
	if f == nil || !strings.Contains(string(page.Body), `name="traits.email"`) {
		t.Fatalf("the registration page does not ask for the email:\n%s", page.Body)
	}
	if !strings.Contains(string(page.Body), `value="`+u.Name+`"`) {
		t.Fatalf("the mapped name is not filled in:\n%s", page.Body)
	}
	res := c.Press(f, "provider", viaGoogle, url.Values{"traits.email": {email}, "traits.name": {u.Name}})
	at, page = c.FollowFrom(at, res)
	welcome(t, at, page, email, u.Name, "no")
	if found := lookup(t, viaGoogle+":"+u.Subject); len(found) != 1 || found[0].Traits.Email != email {
		t.Fatalf("identities holding the link: %+v", found)
	}
}

// A provider account with the email of an existing password account does
// not make a second account, nor is it linked on the email's word alone:
// Kratos asks for the account's password first, then links it.
func TestSameEmailLinksOnlyAfterPassword(t *testing.T) {
	email := e2etest.UniqueEmail("existing")
	e2etest.NewClient(t).Register(email, e2etest.StrongPassword, "Existing User")
	userID := lookup(t, email)[0].ID
	u := newUser(true)
	u.Email = email
	idp.SetUser(u)

	c := e2etest.NewClient(t)
	at, page := signInWith(t, c, viaGoogle)
	if !strings.Contains(at, "/login?flow=") || !strings.Contains(string(page.Body), `data-id="1010016"`) {
		t.Fatalf("want the login page asking to confirm with the password, got %d at %s:\n%s", page.Status, at, page.Body)
	}
	if n := len(lookup(t, email)); n != 1 {
		t.Fatalf("%d identities with %s", n, email)
	}
	if links := withCredentials(t, userID).oidcLinks(); len(links) != 0 {
		t.Fatalf("linked before the password was given: %v", links)
	}
	f := e2etest.PageForm(t, page, "password")
	if f == nil {
		t.Fatalf("no password form:\n%s", page.Body)
	}
	at, page = c.FollowFrom(at, c.Press(f, "method", "password", url.Values{"password": {e2etest.StrongPassword}}))
	welcome(t, at, page, email, "Existing User", "")
	if whoami(t, c) != userID {
		t.Fatal("signed into another identity")
	}
	if links := withCredentials(t, userID).oidcLinks(); len(links) != 1 || links[0] != viaGoogle+":"+u.Subject {
		t.Fatalf("after the password, oidc identifiers %v", links)
	}
}
