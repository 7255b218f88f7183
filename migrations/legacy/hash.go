package legacy

import "regexp"

// bcryptHash is a complete bcrypt hash in modular crypt format with a
// prefix Kratos v1.3.1 imports and verifies: its comparator takes
// ^\$2[abzy]?\$ to golang.org/x/crypto/bcrypt, which checks $2a$, $2b$
// and $2y$ hashes alike (libxcrypt's $2y$ included). The cost is two
// digits from 04 to 31, then 22 characters of salt and 31 of hash in
// bcrypt's base64 alphabet: 60 characters in all.
var bcryptHash = regexp.MustCompile(`^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$`)

// HashKind says what the migration does with a legacy password hash.
type HashKind string

const (
	// HashNone: users.password_hash is NULL (or empty).
	HashNone HashKind = "none"
	// HashBcrypt: imported as is; the user signs in with their password.
	HashBcrypt HashKind = "bcrypt"
	// HashUnsupported: anything else (md5 or sha1 hex strings, $2x$, a
	// truncated bcrypt hash, ...). Kratos cannot verify it, so the
	// identity is imported without a password and the user sets a new one
	// through recovery by email (forced recovery).
	HashUnsupported HashKind = "unsupported"
)

// ClassifyHash says which kind h is.
func ClassifyHash(h string) HashKind {
	switch {
	case h == "":
		return HashNone
	case bcryptHash.MatchString(h):
		return HashBcrypt
	default:
		return HashUnsupported
	}
}
