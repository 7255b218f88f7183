package config

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/learnplatform/platform/consent"
	kitconfig "github.com/learnplatform/platform/kit/config"
)

// clientsFile is clients.yaml.
type clientsFile struct {
	Clients []consent.Client `yaml:"clients"`
}

var varRE = regexp.MustCompile(`\$\{([A-Z0-9_]+)\}`)

// LoadClients reads clients.yaml. ${NAME} in it is replaced from the
// environment (deployments differ in their URLs), and each confidential
// client's secret is read from its secret_env. An unset variable, a
// malformed entry or a weak or missing secret is a *kit/config.Error naming
// file and key.
func LoadClients(path string, lookupEnv func(string) (string, bool)) ([]consent.Client, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, &kitconfig.Error{File: path, Problem: "cannot read: " + err.Error()}
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
		return nil, &kitconfig.Error{File: path, Problem: "environment variable(s) not set: " + strings.Join(missing, ", ")}
	}
	var f clientsFile
	if err := kitconfig.LoadBytes(path, []byte(expanded), &f, func(string) (string, bool) { return "", false }); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for i := range f.Clients {
		c := &f.Clients[i]
		key := fmt.Sprintf("clients[%d]", i)
		if err := c.Validate(); err != nil {
			var se *consent.SpecError
			if !errors.As(err, &se) {
				return nil, &kitconfig.Error{File: path, Key: key, Problem: err.Error()}
			}
			return nil, &kitconfig.Error{File: path, Key: key + "." + se.Field, Problem: se.Problem}
		}
		if !c.Public {
			s, ok := lookupEnv(c.SecretEnv)
			if !ok || s == "" {
				return nil, &kitconfig.Error{File: path, Key: key + ".secret_env",
					Problem: fmt.Sprintf("environment variable %s must hold a secret of at least %d characters", c.SecretEnv, kitconfig.MinSecretLength)}
			}
			if err := kitconfig.CheckSecret(c.SecretEnv, s); err != nil {
				return nil, &kitconfig.Error{File: path, Key: key + ".secret_env", Problem: err.Error()}
			}
			c.Secret = s
		}
		if seen[c.ID] {
			return nil, &kitconfig.Error{File: path, Key: key + ".id", Problem: fmt.Sprintf("client %q is declared twice", c.ID)}
		}
		seen[c.ID] = true
	}
	return f.Clients, nil
}
