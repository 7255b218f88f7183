package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Secrets. A field tagged `secret:"true"` (or `secret:"N"` for a minimum
// length other than MinSecretLength) holds a secret that authenticates
// callers, such as a hook secret: Load refuses a value that is set but is a
// placeholder or too weak (CheckSecret), naming the environment variable
// and the problem and never the value. Leaving it empty is required's
// business. Code that reads a secret some other way calls CheckSecret.

const (
	// MinSecretLength is the shortest secret accepted, in characters.
	MinSecretLength = 16
	// MinSecretDistinct is the fewest distinct characters a secret may
	// have: a random hex value of 32 or more characters has far more.
	MinSecretDistinct = 8
)

// secretHint ends every refusal: how to make a good value.
const secretHint = "; generate one with `openssl rand -hex 32`"

// placeholderWords mark a value someone meant to replace. They are matched
// in the value lower-cased with everything but letters and digits removed,
// so change-me, change_me, CHANGEME and changeMe all count. Each is at
// least seven letters long: a random value contains one by chance about
// once in a billion.
var placeholderWords = []string{"changeme", "replaceme", "example", "placeholder", "insecure"}

// wellKnownValues are refused as the whole value (compared the same way,
// trailing digits dropped): words people type when a secret is asked for.
var wellKnownValues = map[string]bool{
	"secret": true, "password": true, "passw0rd": true, "changeit": true, "default": true,
	"test": true, "testing": true, "dev": true, "development": true, "admin": true,
	"letmein": true, "token": true, "apikey": true, "none": true, "null": true, "todo": true,
}

// exampleValues are the values of deploy/compose/.env.example (a test keeps
// this list complete), refused even if the example's wording changes.
var exampleValues = map[string]bool{
	"change-me-postgres-superuser":       true,
	"change-me-kratos-db":                true,
	"change-me-hydra-db":                 true,
	"change-me-platform-db":              true,
	"change-me-kratos-default-secret":    true,
	"change-me-kratos-cookie-secret":     true,
	"change-me-kratos-cipher-32-chars":   true,
	"change-me-hydra-system-secret":      true,
	"change-me-hydra-cookie-secret":      true,
	"change-me-token-hook-secret":        true,
	"change-me-integrator-client-secret": true,
	"change-me-identity-hook-secret":     true,
	"change-me-qdrant-api-key":           true,
}

// CheckSecret reports why value cannot serve as the secret held by name
// (an environment variable, usually), or nil. The error is one line that
// names name and the problem, never the value or any part of it.
func CheckSecret(name, value string) error {
	return CheckSecretMin(name, value, MinSecretLength)
}

// CheckSecretMin is CheckSecret with a minimum length of its own (at least
// MinSecretLength is still sensible).
func CheckSecretMin(name, value string, minLen int) error {
	if p := secretProblem(value, minLen); p != "" {
		return fmt.Errorf("%s %s%s", name, p, secretHint)
	}
	return nil
}

func secretProblem(value string, minLen int) string {
	if value == "" {
		return "is empty"
	}
	norm := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return -1
	}, value)
	for _, w := range placeholderWords {
		if strings.Contains(norm, w) {
			return fmt.Sprintf("is a placeholder (it contains %q)", w)
		}
	}
	if exampleValues[strings.TrimSpace(value)] {
		return "is the example value from deploy/compose/.env.example"
	}
	if wellKnownValues[strings.TrimRight(norm, "0123456789")] {
		return "is a well-known word, not a random value"
	}
	distinct := map[rune]bool{}
	for _, r := range value {
		distinct[r] = true
	}
	if len(distinct) == 1 {
		return "is one character repeated"
	}
	if n := utf8.RuneCountInString(value); n < minLen {
		return fmt.Sprintf("is too short: it needs at least %d characters", minLen)
	}
	if len(distinct) < MinSecretDistinct {
		return fmt.Sprintf("is too weak: it has fewer than %d distinct characters", MinSecretDistinct)
	}
	return ""
}

// checkSecrets checks every field tagged secret that holds a value.
func checkSecrets(v reflect.Value, key string, lookup func(string) (string, bool)) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		fi, ok := parseField(t.Field(i))
		if !ok {
			continue
		}
		fv := v.Field(i)
		k := join(key, fi.yamlName)
		if tag := t.Field(i).Tag.Get("secret"); tag != "" && tag != "false" {
			minLen := MinSecretLength
			if tag != "true" {
				n, err := strconv.Atoi(tag)
				if err != nil || n < 1 {
					return &Error{Key: k, Problem: fmt.Sprintf("bad secret tag %q: want true or a minimum length", tag)}
				}
				minLen = n
			}
			if fv.Kind() != reflect.String {
				return &Error{Key: k, Problem: "the secret tag needs a string field, not " + fv.Type().String()}
			}
			s := fv.String()
			if s == "" {
				continue
			}
			name := "the file's value"
			if e, ok := lookup(fi.env); fi.env != "" && ok && e == s {
				name = fi.env
			}
			if err := CheckSecretMin(name, s, minLen); err != nil {
				return &Error{Key: k, Problem: err.Error()}
			}
			continue
		}
		if fv.Kind() == reflect.Struct && !fv.Addr().Type().Implements(textUnmarshalerType) {
			if err := checkSecrets(fv, k, lookup); err != nil {
				return err
			}
		}
	}
	return nil
}
