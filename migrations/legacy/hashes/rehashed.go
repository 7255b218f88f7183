package hashes

import (
	"regexp"
	"strings"
)

// Rehashed reports whether Kratos replaced the imported hash with one of
// its own: at a successful password sign-in Kratos v1.3.1 re-hashes the
// password with its configured hasher whenever that hasher does not
// understand the stored hash (selfservice/strategy/password/login.go), and
// its hashers write bcrypt ($2a$) and Argon2id.
func Rehashed(imported, current string) bool {
	switch {
	case imported == "" || current == imported:
		return false
	case bcryptHash.MatchString(current) && strings.HasPrefix(current, "$2a$"):
		return !kratosBcrypt.MatchString(imported)
	case strings.HasPrefix(current, "$argon2id$") && Inspect(current).Kind == Importable:
		return !strings.HasPrefix(imported, "$argon2id$")
	}
	return false
}

// kratosBcrypt is what Kratos' bcrypt hasher understands (IsBcryptHash).
var kratosBcrypt = regexp.MustCompile(`^\$2[abzy]?\$`)
