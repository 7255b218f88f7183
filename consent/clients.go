package consent

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Client is one OAuth2 client as operators declare it in clients.yaml.
type Client struct {
	// ID is the client_id, stable across restarts.
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
	// FirstParty clients are the platform's own apps: their users are not
	// asked to consent.
	FirstParty bool `yaml:"first_party"`
	// Public clients (browser apps) have no secret and must use PKCE S256.
	Public bool `yaml:"public"`
	// SecretEnv names the environment variable holding a confidential
	// client's secret; secrets never live in the file.
	SecretEnv              string   `yaml:"secret_env"`
	GrantTypes             []string `yaml:"grant_types"`
	ResponseTypes          []string `yaml:"response_types"`
	Scopes                 []string `yaml:"scopes"`
	Audience               []string `yaml:"audience"`
	RedirectURIs           []string `yaml:"redirect_uris"`
	PostLogoutRedirectURIs []string `yaml:"post_logout_redirect_uris"`

	// Secret is read from SecretEnv when the file is loaded.
	Secret string `yaml:"-"`
}

// SpecError is a problem with one field of a client spec.
type SpecError struct {
	Field   string // as clients.yaml names it, e.g. redirect_uris[0]
	Problem string
}

func (e *SpecError) Error() string { return e.Field + ": " + e.Problem }

var (
	clientIDRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,63}$`)
	scopeRE    = regexp.MustCompile(`^[\x21\x23-\x5b\x5d-\x7e]+$`) // RFC 6749 scope-token
	knownGrant = []string{"authorization_code", "refresh_token", "client_credentials"}
)

// Validate checks the spec (the secret itself is the loader's to read and
// check) and fills in the response type the authorization_code grant
// implies (code) when none is given. Its error is a *SpecError.
func (c *Client) Validate() error {
	p := func(field, format string, args ...any) error {
		return &SpecError{Field: field, Problem: fmt.Sprintf(format, args...)}
	}
	if !clientIDRE.MatchString(c.ID) {
		return p("id", "must be 2-64 characters of a-z, 0-9, '.', '_' or '-', got %q", c.ID)
	}
	if len(c.GrantTypes) == 0 {
		return p("grant_types", "must name at least one grant type")
	}
	for _, g := range c.GrantTypes {
		if !slices.Contains(knownGrant, g) {
			return p("grant_types", "unknown grant type %q (known: %s)", g, strings.Join(knownGrant, ", "))
		}
	}
	for _, s := range c.Scopes {
		if !scopeRE.MatchString(s) {
			return p("scopes", "%q is not a valid scope", s)
		}
	}
	if c.Public {
		if c.SecretEnv != "" {
			return p("secret_env", "a public client has no secret")
		}
		if slices.Contains(c.GrantTypes, "client_credentials") {
			return p("grant_types", "a public client cannot use client_credentials")
		}
	} else if c.SecretEnv == "" {
		return p("secret_env", "a confidential client needs the name of the variable holding its secret")
	}
	if slices.Contains(c.GrantTypes, "authorization_code") {
		if len(c.RedirectURIs) == 0 {
			return p("redirect_uris", "the authorization_code grant needs at least one redirect URI")
		}
		if len(c.ResponseTypes) == 0 {
			c.ResponseTypes = []string{"code"}
		}
	}
	for _, list := range []struct {
		field string
		uris  []string
	}{{"redirect_uris", c.RedirectURIs}, {"post_logout_redirect_uris", c.PostLogoutRedirectURIs}} {
		for i, u := range list.uris {
			if pu, err := url.Parse(u); err != nil || pu.Scheme == "" || pu.Host == "" || pu.Fragment != "" {
				return p(fmt.Sprintf("%s[%d]", list.field, i), "%q is not an absolute URL without fragment", u)
			}
		}
	}
	return nil
}
