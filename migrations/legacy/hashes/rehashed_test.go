package hashes

import (
	"strings"
	"testing"
)

// Kratos re-hashes an imported hash its hasher does not use at the first
// sign-in; validate takes that for the imported password.
func TestRehashed(t *testing.T) {
	bcrypt := "$2a$12$" + strings.Repeat("a", 53)
	argon := "$argon2id$v=19$m=65536,t=1,p=2$c29tZXNhbHQ$" + strings.Repeat("QUJD", 10) + "QUI"
	pbkdf2 := "$pbkdf2-sha256$i=1000,l=32$c2VhJA$" + strings.Repeat("QUJD", 10) + "QUI"
	for _, c := range []struct {
		imported, current string
		want              bool
	}{
		{pbkdf2, bcrypt, true},
		{"$sha512-crypt$salt$" + strings.Repeat("a", 86), bcrypt, true},
		{pbkdf2, argon, true},
		{pbkdf2, pbkdf2, false},
		{"$2y$04$" + strings.Repeat("a", 53), bcrypt, false}, // Kratos' bcrypt hasher keeps any bcrypt hash: a new one is a new password
		{argon, bcrypt, true},
		{pbkdf2, "$2a$12$short", false},
		{"", bcrypt, false},
	} {
		if got := Rehashed(c.imported, c.current); got != c.want {
			t.Errorf("Rehashed(%q, %q) = %v", c.imported, c.current, got)
		}
	}
}
