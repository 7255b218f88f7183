package legacy

import (
	"regexp"
	"strings"
)

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

var (
	hexDigest   = regexp.MustCompile(`^[0-9a-fA-F]+$`)
	bcryptLike  = regexp.MustCompile(`^\$2[a-z]?\$`)
	bcryptShape = regexp.MustCompile(`^\$2[aby]\$[0-9]{2}\$[./A-Za-z0-9]{53}$`)
	cryptLike   = regexp.MustCompile(`^\$[a-z0-9-]+[$,]`)
)

// HashFormat names what kind of value a password hash Kratos cannot verify
// looks like, for reports and logs. It is one of a fixed set of labels and
// never holds any part of h: legacy systems sometimes stored plaintext
// passwords in the hash column.
func HashFormat(h string) string {
	switch {
	case h == "":
		return "empty"
	case bcryptHash.MatchString(h):
		return "bcrypt"
	case strings.HasPrefix(h, "$2x$"):
		return "bcrypt $2x$ (the variant of a flawed implementation)"
	case bcryptShape.MatchString(h):
		return "bcrypt with a cost outside 04-31"
	case bcryptLike.MatchString(h):
		return "a malformed or truncated bcrypt hash"
	case strings.HasPrefix(h, "$1$"):
		return "MD5-crypt ($1$)"
	case strings.HasPrefix(h, "$5$"):
		return "SHA-256-crypt ($5$)"
	case strings.HasPrefix(h, "$6$"):
		return "SHA-512-crypt ($6$)"
	case strings.HasPrefix(h, "$argon2"):
		return "Argon2"
	case strings.HasPrefix(h, "$pbkdf2"):
		return "PBKDF2"
	case strings.HasPrefix(h, "$scrypt$"), strings.HasPrefix(h, "$7$"):
		return "scrypt"
	case cryptLike.MatchString(h):
		return "another modular crypt format"
	case hexDigest.MatchString(h):
		switch len(h) {
		case 32:
			return "32 hex digits (MD5-like)"
		case 40:
			return "40 hex digits (SHA-1-like)"
		case 64:
			return "64 hex digits (SHA-256-like)"
		case 128:
			return "128 hex digits (SHA-512-like)"
		}
		return "hex digits of no known digest length"
	}
	return "no known hash format (possibly a plaintext password)"
}
