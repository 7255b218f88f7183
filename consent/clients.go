package consent

import (
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/learnplatform/platform/kit/config"
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

// ClientsFile is clients.yaml.
type ClientsFile struct {
	Clients []Client `yaml:"clients"`
}

var (
	clientIDRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,63}$`)
	scopeRE    = regexp.MustCompile(`^[\x21\x23-\x5b\x5d-\x7e]+$`) // RFC 6749 scope-token
	knownGrant = []string{"authorization_code", "refresh_token", "client_credentials"}
	varRE      = regexp.MustCompile(`\$\{([A-Z0-9_]+)\}`)
)

// LoadClients reads clients.yaml. ${NAME} in it is replaced from the
// environment (deployments differ in their URLs); an unset variable, a
// malformed entry or a missing secret is an error naming file and key.
func LoadClients(path string, lookupEnv func(string) (string, bool)) ([]Client, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, &config.Error{File: path, Problem: "cannot read: " + err.Error()}
	}
	var missing []string
	expanded := varRE.ReplaceAllStringFunc(string(raw), func(m string) string {
		name := varRE.FindStringSubmatch(m)[1]
		v, ok := lookupEnv(name)
		if !ok {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		return nil, &config.Error{File: path, Problem: "environment variable(s) not set: " + strings.Join(missing, ", ")}
	}
	var f ClientsFile
	if err := config.LoadBytes(path, []byte(expanded), &f, func(string) (string, bool) { return "", false }); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for i := range f.Clients {
		c := &f.Clients[i]
		key := fmt.Sprintf("clients[%d]", i)
		if err := c.validate(key, lookupEnv); err != nil {
			return nil, &config.Error{File: path, Key: err.(*config.Error).Key, Problem: err.(*config.Error).Problem}
		}
		if seen[c.ID] {
			return nil, &config.Error{File: path, Key: key + ".id", Problem: fmt.Sprintf("client %q is declared twice", c.ID)}
		}
		seen[c.ID] = true
	}
	return f.Clients, nil
}

func (c *Client) validate(key string, lookupEnv func(string) (string, bool)) error {
	p := func(field, format string, args ...any) error { return config.Problem(key+"."+field, format, args...) }
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
	} else {
		if c.SecretEnv == "" {
			return p("secret_env", "a confidential client needs the name of the variable holding its secret")
		}
		s, ok := lookupEnv(c.SecretEnv)
		if !ok || s == "" {
			return p("secret_env", "environment variable %s must hold a secret of at least %d characters", c.SecretEnv, config.MinSecretLength)
		}
		if err := config.CheckSecret(c.SecretEnv, s); err != nil {
			return p("secret_env", "%v", err)
		}
		c.Secret = s
	}
	if slices.Contains(c.GrantTypes, "authorization_code") {
		if len(c.RedirectURIs) == 0 {
			return p("redirect_uris", "the authorization_code grant needs at least one redirect URI")
		}
		if len(c.ResponseTypes) == 0 {
			c.ResponseTypes = []string{"code"}
		}
	}
	for field, list := range map[string][]string{"redirect_uris": c.RedirectURIs, "post_logout_redirect_uris": c.PostLogoutRedirectURIs} {
		for i, u := range list {
			if pu, err := url.Parse(u); err != nil || pu.Scheme == "" || pu.Host == "" || pu.Fragment != "" {
				return p(fmt.Sprintf("%s[%d]", field, i), "%q is not an absolute URL without fragment", u)
			}
		}
	}
	return nil
}
