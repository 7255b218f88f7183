package legacy

import (
	"net/mail"
	"strings"
	"unicode"
)

// NormalizeEmail is the form two legacy addresses are compared in and the
// one imported: surrounding white space removed, lower case. Kratos
// lower-cases identifiers and addresses the same way, so two legacy users
// whose emails differ only in case or spaces would be one Kratos account.
func NormalizeEmail(s string) string {
	return strings.ToLower(strings.TrimFunc(s, unicode.IsSpace))
}

// ValidEmail reports whether Kratos accepts s (already normalized) as the
// identity schema's email trait ("format": "email"). It applies the same
// checks as the JSON schema library Kratos v1.3.1 validates with
// (ory/jsonschema v3: at most 254 bytes, a local part of at most 64, a
// domain that is a valid host name, net/mail parses it) and one more: the
// parsed address must be the whole string, so display-name forms such as
// "Ann <ann@example.org>" are refused rather than imported half.
func ValidEmail(s string) bool {
	if s == "" || len(s) > 254 {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 {
		return false
	}
	local, domain := s[:at], s[at+1:]
	if len(local) > 64 || !validHostname(domain) {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s
}

func validHostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if len(label) < 1 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
