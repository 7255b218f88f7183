package hashes

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Kind says what the migration does with a legacy password hash.
type Kind string

const (
	// None: users.password_hash is NULL (or empty).
	None Kind = "none"
	// Importable: a form Kratos verifies, as is or translated; the
	// user signs in with their password.
	Importable Kind = "importable"
	// Unsupported: a format Kratos cannot verify and that has no
	// lossless translation (Argon2d, bcrypt_sha256, yescrypt, bare hex
	// digests, plaintext, ...), or a malformed hash of a known format. The
	// identity is imported without a password and the user sets a new one
	// through recovery by email (forced recovery).
	Unsupported Kind = "unsupported"
)

// Info is what the migration makes of one legacy password hash.
type Info struct {
	Kind Kind
	// Format names the hash's format for reports and logs: one of a fixed
	// set of labels, never any part of the hash.
	Format string
	// Kratos is the hash Kratos imports (Importable only): the legacy
	// hash itself, or its lossless translation when Translated.
	Kratos     string
	Translated bool
	// Reason says why an Unsupported hash is not imported, in words
	// that hold no part of it.
	Reason string
}

// Cost limits. Kratos spends what a hash's parameters ask for at every
// sign-in attempt, and anyone may attempt to sign in as anyone: a hash
// whose parameters are far above any setting in use (a corrupt row, say)
// would let a stranger tie Kratos up. Such hashes go to forced recovery.
const (
	MaxPBKDF2Iterations   = 10_000_000
	MaxShaCryptRounds     = 10_000_000
	MaxArgon2MemoryKiB    = 4 << 20 // 4 GiB
	MaxArgon2Iterations   = 64
	MaxScryptMemoryBytes  = 4 << 30 // 128·N·r
	MaxScryptParallelism  = 64
	kratosArgon2Version   = 19
	kratosArgon2MaxThread = 255 // Kratos reads p into a uint8
)

// Reasons a hash of a known format is not imported. Fixed words: never
// any part of the hash.
const (
	whyLayout   = "its fields do not have the format's layout"
	whyEncoding = "its salt or digest is not valid in the format's encoding"
	whyParams   = "its cost parameters are not valid for the format"
	whyLength   = "its digest has the wrong length for the algorithm"
	whyCost     = "its cost parameters are far above any setting in use (every sign-in attempt would cost Kratos that much)"
	whyNoSalt   = "it has no salt where the format requires one"
	whyNoPwd    = "its salting format does not contain {PASSWORD} (every password would verify)"
	whyUnknown  = "no format Kratos verifies, or that translates into one, looks like this"
)

func importable(format, h, kratos string) Info {
	return Info{Kind: Importable, Format: format, Kratos: kratos, Translated: kratos != h}
}

func unsupported(format, reason string) Info {
	return Info{Kind: Unsupported, Format: format, Reason: reason}
}

// costly is a hash whose cost parameters exceed the Max* limits.
func costly(format string) Info {
	return Info{Kind: Unsupported, Format: format + " with cost parameters above the migration's limits", Reason: whyCost}
}

func malformed(format, reason string) Info {
	return Info{Kind: Unsupported, Format: "a malformed " + format + " hash", Reason: reason}
}

// bcryptHash is a complete bcrypt hash in modular crypt format with a
// prefix Kratos v1.3.1 imports and verifies: its comparator takes
// ^\$2[abzy]?\$ to golang.org/x/crypto/bcrypt, which checks $2a$, $2b$
// and $2y$ hashes alike (libxcrypt's $2y$ included). The cost is two
// digits from 04 to 31, then 22 characters of salt and 31 of hash in
// bcrypt's base64 alphabet: 60 characters in all.
var bcryptHash = regexp.MustCompile(`^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$`)

var (
	hexDigest   = regexp.MustCompile(`^[0-9a-fA-F]+$`)
	lowerHex    = regexp.MustCompile(`^[0-9a-f]+$`)
	bcryptLike  = regexp.MustCompile(`^\$2[a-z]?\$`)
	bcryptShape = regexp.MustCompile(`^\$2[aby]\$[0-9]{2}\$[./A-Za-z0-9]{53}$`)
	cryptLike   = regexp.MustCompile(`^\$[a-z0-9-]+[$,]`)
	decimal     = regexp.MustCompile(`^[1-9][0-9]{0,9}$`)
	// crypt(3)'s base64 alphabet; salts of glibc's MD5- and SHA-crypt as
	// crypt generates them.
	md5Crypt = regexp.MustCompile(`^\$1\$[./0-9A-Za-z]{1,8}\$[./0-9A-Za-z]{22}$`)
	desCrypt = regexp.MustCompile(`^[./0-9A-Za-z]{13}$`)
	shaCrypt = regexp.MustCompile(`^\$([56])\$(?:rounds=([1-9][0-9]{0,9})\$)?[./0-9A-Za-z]{1,16}\$([./0-9A-Za-z]+)$`)
	// passlib's adapted base64 ('.' for '+', no padding) and standard
	// base64 without padding (b64s); both checked before decoding, as Go's
	// lenient decoders skip line breaks.
	ab64Text = regexp.MustCompile(`^[A-Za-z0-9./]*$`)
	b64sText = regexp.MustCompile(`^[A-Za-z0-9+/]*$`)
	// Django's "algorithm$..." names.
	djangoName = regexp.MustCompile(`^(pbkdf2_sha256|pbkdf2_sha1|argon2|bcrypt|bcrypt_sha256|scrypt|sha1|md5|unsalted_sha1|crypt)\$`)
	// LDAP's "{SCHEME}...".
	ldapScheme = regexp.MustCompile(`^\{([A-Za-z0-9._-]{1,20})\}`)
)

// Inspect decides what becomes of a legacy password hash: whether
// Kratos can verify it, as is or translated, and its format.
func Inspect(h string) Info {
	switch {
	case h == "":
		return Info{Kind: None, Format: "empty"}
	case strings.HasPrefix(h, "$"):
		return inspectModular(h)
	case strings.HasPrefix(h, "{"):
		if m := ldapScheme.FindStringSubmatch(h); m != nil {
			return inspectLDAP(strings.ToUpper(m[1]), h, h[len(m[0]):])
		}
	case djangoName.MatchString(h):
		return inspectDjango(h)
	case hexDigest.MatchString(h):
		why := "a bare hex digest names neither its algorithm nor a salt: importing it as one algorithm could lock the user out unannounced"
		switch len(h) {
		case 32:
			return unsupported("32 hex digits (MD5-like)", why)
		case 40:
			return unsupported("40 hex digits (SHA-1-like)", why)
		case 64:
			return unsupported("64 hex digits (SHA-256-like)", why)
		case 128:
			return unsupported("128 hex digits (SHA-512-like)", why)
		}
		return unsupported("hex digits of no known digest length", why)
	}
	return unsupported("no known hash format (possibly a plaintext password)", whyUnknown)
}

// inspectModular handles "$id$..." hashes.
func inspectModular(h string) Info {
	id := h[1:]
	if i := strings.IndexAny(id, "$,"); i >= 0 {
		id = id[:i]
	}
	switch {
	case bcryptHash.MatchString(h):
		return importable("bcrypt", h, h)
	case strings.HasPrefix(h, "$2x$"):
		return unsupported("bcrypt $2x$ (the variant of a flawed implementation)", "Kratos verifies $2a$, $2b$ and $2y$ only")
	case bcryptShape.MatchString(h):
		return unsupported("bcrypt with a cost outside 04-31", whyParams)
	case bcryptLike.MatchString(h):
		return unsupported("a malformed or truncated bcrypt hash", whyLayout)
	}
	switch id {
	case "1", "5", "6":
		return inspectCrypt(h, h)
	case "md5-crypt", "sha256-crypt", "sha512-crypt":
		// Kratos' own names: it puts $1, $5 or $6 back before decoding.
		std := "$" + map[string]string{"md5-crypt": "1", "sha256-crypt": "5", "sha512-crypt": "6"}[id] + h[len(id)+1:]
		format := map[string]string{"md5-crypt": "MD5-crypt in Kratos' form ($md5-crypt$)",
			"sha256-crypt": "SHA-256-crypt in Kratos' form ($sha256-crypt$)", "sha512-crypt": "SHA-512-crypt in Kratos' form ($sha512-crypt$)"}[id]
		in := inspectCrypt(std, std)
		if in.Kind == Importable {
			return importable(format, h, h)
		}
		return malformed(format, in.Reason)
	case "argon2id", "argon2i":
		return inspectArgon2(h, h, map[string]string{"argon2id": "Argon2id", "argon2i": "Argon2i"}[id])
	case "argon2d":
		return unsupported("Argon2d", "Kratos verifies Argon2id and Argon2i only")
	case "pbkdf2", "pbkdf2-sha256", "pbkdf2-sha512", "pbkdf2-sha1", "pbkdf2-sha224", "pbkdf2-sha384", "pbkdf2-sha3":
		parts := strings.Split(h, "$")
		if format, ok := passlibPBKDF2[id]; ok && !(len(parts) == 5 && strings.HasPrefix(parts[2], "i=")) {
			return inspectPasslibPBKDF2(h, format, id, parts)
		}
		return inspectKratosPBKDF2(h, parts)
	case "scrypt":
		return inspectScrypt(h)
	case "firescrypt":
		return inspectFirebaseScrypt(h)
	case "hmac-md4", "hmac-md5", "hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512":
		return inspectHMAC(h, strings.TrimPrefix(id, "hmac-"))
	case "sha1", "sha256", "sha512":
		parts := strings.Split(h, "$")
		if len(parts) == 5 && strings.HasPrefix(parts[2], "pf=") {
			return inspectKratosSHA(h, id, parts)
		}
		if id == "sha1" {
			return unsupported("SHA-1-crypt ($sha1$, NetBSD)", "Kratos cannot verify it; its $sha1$ is another format")
		}
	case "md5":
		parts := strings.Split(h, "$")
		if len(parts) == 3 || len(parts) == 5 && strings.HasPrefix(parts[2], "pf=") {
			return inspectKratosMD5(h, parts)
		}
		return unsupported("Sun MD5-crypt ($md5$)", "Kratos cannot verify it; its $md5$ is another format")
	case "apr1":
		return unsupported("Apache MD5-crypt ($apr1$)", "Kratos cannot verify it and it has no lossless translation")
	case "y", "gy":
		return unsupported("yescrypt ($y$)", "Kratos cannot verify it and it has no lossless translation")
	case "7":
		return unsupported("scrypt ($7$)", "Kratos cannot verify it and it has no lossless translation")
	}
	if cryptLike.MatchString(h) {
		return unsupported("another modular crypt format", "Kratos cannot verify it and it has no lossless translation")
	}
	return unsupported("no known hash format (possibly a plaintext password)", whyUnknown)
}

// inspectCrypt checks glibc's MD5-crypt ($1$) and SHA-crypt ($5$, $6$)
// as crypt(3) writes them, and gives Kratos' names for them
// ($md5-crypt$, $sha256-crypt$, $sha512-crypt$). orig is what the legacy
// database holds.
func inspectCrypt(h, orig string) Info {
	switch h[1] {
	case '1':
		format := "MD5-crypt ($1$)"
		if !md5Crypt.MatchString(h) {
			return malformed(format, whyLayout)
		}
		return importable(format, orig, "$md5-crypt"+h[2:])
	default:
		format, name, keyLen := "SHA-256-crypt ($5$)", "$sha256-crypt", 43
		if h[1] == '6' {
			format, name, keyLen = "SHA-512-crypt ($6$)", "$sha512-crypt", 86
		}
		m := shaCrypt.FindStringSubmatch(h)
		if m == nil || len(m[3]) != keyLen {
			return malformed(format, whyLayout)
		}
		if m[2] != "" {
			rounds, err := strconv.ParseUint(m[2], 10, 32)
			if err != nil || rounds < 1000 || rounds > 999_999_999 {
				return malformed(format, whyParams)
			}
			if rounds > MaxShaCryptRounds {
				return costly(format)
			}
		}
		return importable(format, orig, name+h[2:])
	}
}

// inspectArgon2 checks a PHC-format Argon2 hash the way Kratos decodes it:
// six fields, v=19, m=,t=,p= and salt and digest in unpadded standard
// base64. passlib and argon2-cffi write exactly this.
func inspectArgon2(phc, h, format string) Info {
	parts := strings.Split(phc, "$")
	if len(parts) == 5 && strings.HasPrefix(parts[2], "m=") || len(parts) == 6 && parts[2] == "v=16" {
		return unsupported(format+" version 1.0 (v=16)", "Kratos verifies Argon2 version 1.3 (v=19) only")
	}
	if len(parts) != 6 {
		return malformed(format, whyLayout)
	}
	if parts[2] != "v=19" {
		return malformed(format, whyParams)
	}
	var m, t, p uint64
	if !params(parts[3], []string{"m", "t", "p"}, &m, &t, &p) || t < 1 || p < 1 || p > kratosArgon2MaxThread || m < 8*p || m > 1<<32-1 {
		return malformed(format, whyParams)
	}
	if m > MaxArgon2MemoryKiB || t > MaxArgon2Iterations {
		return costly(format)
	}
	salt, err1 := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err1 != nil || err2 != nil || !b64sText.MatchString(parts[4]+parts[5]) {
		return malformed(format, whyEncoding)
	}
	if len(salt) < 1 {
		return malformed(format, whyNoSalt)
	}
	if len(key) < 4 {
		return malformed(format, whyLength)
	}
	return importable(format, h, phc)
}

// params reads "k1=v1,k2=v2,..." with exactly the keys given, in order, as
// decimal numbers.
func params(s string, keys []string, out ...*uint64) bool {
	fields := strings.Split(s, ",")
	if len(fields) != len(keys) {
		return false
	}
	for i, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k != keys[i] || !decimal.MatchString(v) {
			return false
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return false
		}
		*out[i] = n
	}
	return true
}

// pbkdf2Digests are the digests Kratos' PBKDF2 comparator knows (it reads
// sha224 and sha384 as SHA-3; the translations use sha1, sha256, sha512),
// with their sizes.
var pbkdf2Digests = map[string]int{"sha1": 20, "sha224": 28, "sha256": 32, "sha384": 48, "sha512": 64}

// kratosPBKDF2 writes Kratos' PBKDF2 form:
// $pbkdf2-<digest>$i=<iterations>,l=<key length>$<salt>$<key>, salt and
// key in unpadded standard base64.
func kratosPBKDF2(digest string, iterations uint64, salt, key []byte) string {
	return fmt.Sprintf("$pbkdf2-%s$i=%d,l=%d$%s$%s", digest, iterations, len(key),
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

func pbkdf2Iterations(format, s string) (uint64, *Info) {
	if !decimal.MatchString(s) {
		in := malformed(format, whyParams)
		return 0, &in
	}
	n, _ := strconv.ParseUint(s, 10, 64)
	if n > MaxPBKDF2Iterations {
		in := costly(format)
		return 0, &in
	}
	return n, nil
}

// inspectKratosPBKDF2 checks Kratos' own PBKDF2 form as Kratos decodes it.
func inspectKratosPBKDF2(h string, parts []string) Info {
	const format = "PBKDF2 in Kratos' form ($pbkdf2-<digest>$i=...)"
	digest := strings.TrimPrefix(parts[1], "pbkdf2-")
	if _, ok := pbkdf2Digests[digest]; !ok {
		return malformed(format, whyParams)
	}
	var i, l uint64
	if !params(parts[2], []string{"i", "l"}, &i, &l) {
		return malformed(format, whyParams)
	}
	if i > MaxPBKDF2Iterations {
		return costly(format)
	}
	salt, err1 := base64.RawStdEncoding.Strict().DecodeString(parts[3])
	key, err2 := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	if err1 != nil || err2 != nil || !b64sText.MatchString(parts[3]+parts[4]) {
		return malformed(format, whyEncoding)
	}
	if len(salt) == 0 {
		return malformed(format, whyNoSalt)
	}
	if len(key) == 0 {
		return malformed(format, whyLength)
	}
	return importable(format, h, h)
}

// passlibPBKDF2 are passlib's PBKDF2 hashes by identifier.
var passlibPBKDF2 = map[string]string{
	"pbkdf2":        "passlib PBKDF2-SHA1 ($pbkdf2$)",
	"pbkdf2-sha256": "passlib PBKDF2-SHA256 ($pbkdf2-sha256$)",
	"pbkdf2-sha512": "passlib PBKDF2-SHA512 ($pbkdf2-sha512$)",
}

// inspectPasslibPBKDF2 translates passlib's
// $pbkdf2[-sha256|-sha512]$<rounds>$<salt>$<checksum> (salt and checksum
// in passlib's adapted base64: '.' for '+', no padding; $pbkdf2$ is
// SHA-1) into Kratos' PBKDF2 form.
func inspectPasslibPBKDF2(h, format, id string, parts []string) Info {
	digest := strings.TrimPrefix(strings.TrimPrefix(id, "pbkdf2"), "-")
	if digest == "" {
		digest = "sha1"
	}
	if len(parts) != 5 {
		return malformed(format, whyLayout)
	}
	n, bad := pbkdf2Iterations(format, parts[2])
	if bad != nil {
		return *bad
	}
	salt, err1 := ab64(parts[3])
	key, err2 := ab64(parts[4])
	if err1 != nil || err2 != nil {
		return malformed(format, whyEncoding)
	}
	if len(salt) == 0 {
		return malformed(format, whyNoSalt)
	}
	if len(key) != pbkdf2Digests[digest] {
		return malformed(format, whyLength)
	}
	return importable(format, h, kratosPBKDF2(digest, n, salt, key))
}

// ab64 decodes passlib's adapted base64.
func ab64(s string) ([]byte, error) {
	if !ab64Text.MatchString(s) {
		return nil, base64.CorruptInputError(0)
	}
	return base64.RawStdEncoding.DecodeString(strings.ReplaceAll(s, ".", "+"))
}

// b64s decodes standard base64 without padding (passlib's b64s).
func b64s(s string) ([]byte, error) {
	if !b64sText.MatchString(s) {
		return nil, base64.CorruptInputError(0)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// kratosScrypt writes Kratos' scrypt form. Kratos' "ln" is N itself, not
// its logarithm (passlib's), and salt and key are padded standard base64.
func kratosScrypt(n, r, p uint64, salt, key []byte) string {
	return fmt.Sprintf("$scrypt$ln=%d,r=%d,p=%d$%s$%s", n, r, p,
		base64.StdEncoding.EncodeToString(salt), base64.StdEncoding.EncodeToString(key))
}

// scryptParams checks N, r and p as golang.org/x/crypto/scrypt (which
// Kratos uses) takes them.
func scryptParams(format string, n, r, p uint64) *Info {
	var in Info
	switch {
	case n < 2 || n&(n-1) != 0 || r < 1 || p < 1:
		in = malformed(format, whyParams)
	case p > MaxScryptParallelism || r > MaxScryptMemoryBytes/128/n:
		in = costly(format)
	case r*p >= 1<<30:
		in = malformed(format, whyParams)
	default:
		return nil
	}
	return &in
}

// inspectScrypt reads passlib's $scrypt$ln=<log2 N>,r=,p=$<salt>$<key>
// (unpadded standard base64) and translates it, or Kratos' own form
// ($scrypt$ln=<N>,...) with padded base64, which it imports as is. They
// differ in padding and in ln: passlib's is at most 31, Kratos' a power of
// two; a hash with padding, or an ln of 32 or more, is Kratos'.
func inspectScrypt(h string) Info {
	parts := strings.Split(h, "$")
	const passlib, kratos = "passlib scrypt ($scrypt$)", "scrypt in Kratos' form ($scrypt$ln=<N>...)"
	if len(parts) != 5 {
		return malformed(passlib, whyLayout)
	}
	var ln, r, p uint64
	if !params(parts[2], []string{"ln", "r", "p"}, &ln, &r, &p) {
		return malformed(passlib, whyParams)
	}
	if strings.Contains(parts[3]+parts[4], "=") || ln >= 32 {
		if bad := scryptParams(kratos, ln, r, p); bad != nil {
			return *bad
		}
		salt, err1 := base64.StdEncoding.Strict().DecodeString(parts[3])
		key, err2 := base64.StdEncoding.Strict().DecodeString(parts[4])
		if err1 != nil || err2 != nil || len(salt) == 0 || len(key) == 0 {
			return malformed(kratos, whyEncoding)
		}
		return importable(kratos, h, h)
	}
	if bad := scryptParams(passlib, 1<<ln, r, p); bad != nil {
		return *bad
	}
	salt, err1 := b64s(parts[3])
	key, err2 := b64s(parts[4])
	if err1 != nil || err2 != nil {
		return malformed(passlib, whyEncoding)
	}
	if len(salt) == 0 {
		return malformed(passlib, whyNoSalt)
	}
	if len(key) == 0 {
		return malformed(passlib, whyLength)
	}
	return importable(passlib, h, kratosScrypt(1<<ln, r, p, salt, key))
}

// inspectFirebaseScrypt checks Kratos' Firebase scrypt form:
// $firescrypt$ln=,r=,p=$<salt>$<hash>$<salt separator>$<signer key>.
func inspectFirebaseScrypt(h string) Info {
	const format = "Firebase scrypt in Kratos' form ($firescrypt$)"
	parts := strings.Split(h, "$")
	if len(parts) != 7 {
		return malformed(format, whyLayout)
	}
	var ln, r, p uint64
	if !params(parts[2], []string{"ln", "r", "p"}, &ln, &r, &p) || ln < 1 || ln >= 32 {
		return malformed(format, whyParams)
	}
	if bad := scryptParams(format, 1<<ln, r, p); bad != nil {
		return *bad
	}
	for _, f := range parts[3:] {
		if _, err := base64.StdEncoding.Strict().DecodeString(f); err != nil {
			return malformed(format, whyEncoding)
		}
	}
	return importable(format, h, h)
}

// inspectHMAC checks Kratos' HMAC form: $hmac-<digest>$<hash>$<key>, the
// hash being the base64 of the MAC's hex digits.
func inspectHMAC(h, digest string) Info {
	format := "HMAC in Kratos' form ($hmac-<digest>$)"
	parts := strings.Split(h, "$")
	if len(parts) != 4 {
		return malformed(format, whyLayout)
	}
	mac, err1 := base64.StdEncoding.Strict().DecodeString(parts[2])
	_, err2 := base64.StdEncoding.Strict().DecodeString(parts[3])
	if err1 != nil || err2 != nil {
		return malformed(format, whyEncoding)
	}
	size := map[string]int{"md4": 16, "md5": 16, "sha1": 20, "sha224": 28, "sha256": 32, "sha384": 48, "sha512": 64}[digest]
	if len(mac) != 2*size || !lowerHex.Match(mac) {
		return malformed(format, whyLength)
	}
	return importable(format, h, h)
}

// shaSizes are the digest sizes of Kratos' salted SHA forms.
var shaSizes = map[string]int{"sha1": sha1.Size, "sha256": sha256.Size, "sha512": sha512.Size}

// kratosSHA writes Kratos' salted-digest form $<digest>$pf=<format>$<salt>$<hash>
// (digest sha1, sha256, sha512 or md5): pf says how {SALT} and {PASSWORD}
// are put together before hashing; all three fields padded base64.
func kratosSHA(digest, pf string, salt, sum []byte) string {
	return fmt.Sprintf("$%s$pf=%s$%s$%s", digest, base64.StdEncoding.EncodeToString([]byte(pf)),
		base64.StdEncoding.EncodeToString(salt), base64.StdEncoding.EncodeToString(sum))
}

// saltedForm checks the pf, salt and hash fields of Kratos' salted forms.
func saltedForm(format string, parts []string, size int) *Info {
	pf, err0 := base64.StdEncoding.Strict().DecodeString(strings.TrimPrefix(parts[2], "pf="))
	_, err1 := base64.StdEncoding.Strict().DecodeString(parts[3])
	sum, err2 := base64.StdEncoding.Strict().DecodeString(parts[4])
	var in Info
	switch {
	case err0 != nil || err1 != nil || err2 != nil:
		in = malformed(format, whyEncoding)
	case !strings.Contains(string(pf), "{PASSWORD}"):
		in = malformed(format, whyNoPwd)
	case len(sum) != size:
		in = malformed(format, whyLength)
	default:
		return nil
	}
	return &in
}

func inspectKratosSHA(h, digest string, parts []string) Info {
	const format = "salted SHA in Kratos' form ($sha<bits>$pf=...)"
	if bad := saltedForm(format, parts, shaSizes[digest]); bad != nil {
		return *bad
	}
	return importable(format, h, h)
}

func inspectKratosMD5(h string, parts []string) Info {
	const format = "MD5 in Kratos' form ($md5$)"
	if len(parts) == 3 {
		sum, err := base64.StdEncoding.Strict().DecodeString(parts[2])
		if err != nil {
			return malformed(format, whyEncoding)
		}
		if len(sum) != md5.Size {
			return malformed(format, whyLength)
		}
		return importable(format, h, h)
	}
	if bad := saltedForm(format, parts, md5.Size); bad != nil {
		return *bad
	}
	return importable(format, h, h)
}

// inspectLDAP handles RFC 2307 style {SCHEME}... values. scheme is upper
// case; rest follows the closing brace.
func inspectLDAP(scheme, h, rest string) Info {
	decode := func() ([]byte, bool) {
		b, err := base64.StdEncoding.Strict().DecodeString(rest)
		if err != nil {
			if b, err = base64.RawStdEncoding.Strict().DecodeString(rest); err != nil || !b64sText.MatchString(rest) {
				return nil, false
			}
		}
		return b, true
	}
	switch scheme {
	case "SSHA", "SSHA256", "SSHA512":
		// Kratos reads {SSHA}, {SSHA256}, {SSHA512} itself: digest then
		// salt, padded base64, the scheme in capitals.
		size := map[string]int{"SSHA": sha1.Size, "SSHA256": sha256.Size, "SSHA512": sha512.Size}[scheme]
		format := fmt.Sprintf("LDAP salted SHA-%s ({%s})", map[string]string{"SSHA": "1", "SSHA256": "256", "SSHA512": "512"}[scheme], scheme)
		b, ok := decode()
		if !ok {
			return malformed(format, whyEncoding)
		}
		if len(b) <= size {
			return malformed(format, whyNoSalt)
		}
		return importable(format, h, "{"+scheme+"}"+base64.StdEncoding.EncodeToString(b))
	case "SHA", "SHA256", "SHA512":
		digest := map[string]string{"SHA": "sha1", "SHA256": "sha256", "SHA512": "sha512"}[scheme]
		format := fmt.Sprintf("LDAP SHA-%s ({%s})", strings.TrimPrefix(digest, "sha"), scheme)
		b, ok := decode()
		if !ok {
			return malformed(format, whyEncoding)
		}
		if len(b) != shaSizes[digest] {
			return malformed(format, whyLength)
		}
		return importable(format, h, kratosSHA(digest, "{PASSWORD}", nil, b))
	case "MD5":
		const format = "LDAP MD5 ({MD5})"
		b, ok := decode()
		if !ok {
			return malformed(format, whyEncoding)
		}
		if len(b) != md5.Size {
			return malformed(format, whyLength)
		}
		return importable(format, h, "$md5$"+base64.StdEncoding.EncodeToString(b))
	case "SMD5":
		const format = "LDAP salted MD5 ({SMD5})"
		b, ok := decode()
		if !ok {
			return malformed(format, whyEncoding)
		}
		if len(b) <= md5.Size {
			return malformed(format, whyNoSalt)
		}
		return importable(format, h, kratosSHA("md5", "{PASSWORD}{SALT}", b[md5.Size:], b[:md5.Size]))
	case "PKCS5S2":
		// Atlassian's PBKDF2-SHA1: 10,000 iterations, 16 bytes of salt
		// then 32 of key.
		const format = "Atlassian PBKDF2-SHA1 ({PKCS5S2})"
		b, ok := decode()
		if !ok {
			return malformed(format, whyEncoding)
		}
		if len(b) != 48 {
			return malformed(format, whyLength)
		}
		return importable(format, h, kratosPBKDF2("sha1", 10000, b[:16], b[16:]))
	case "CRYPT":
		var in Info
		switch {
		case strings.HasPrefix(rest, "$"):
			in = inspectModular(rest)
		case desCrypt.MatchString(rest):
			in = unsupported("DES crypt", "Kratos cannot verify DES crypt and it has no lossless translation")
		default:
			in = unsupported("no known hash format (possibly a plaintext password)", whyUnknown)
		}
		in.Format = "LDAP {CRYPT} with " + in.Format
		in.Translated = in.Kind == Importable
		return in
	}
	return unsupported("another LDAP {SCHEME} format", "Kratos cannot verify it and it has no lossless translation")
}

// inspectDjango handles Django's "<algorithm>$..." hashes (passlib's
// django_* handlers write the same).
func inspectDjango(h string) Info {
	name, rest, _ := strings.Cut(h, "$")
	parts := strings.Split(rest, "$")
	switch name {
	case "pbkdf2_sha256", "pbkdf2_sha1":
		// pbkdf2_sha256$<iterations>$<salt>$<key, padded base64>; the salt
		// is used as the bytes of its text.
		digest := strings.TrimPrefix(name, "pbkdf2_")
		format := fmt.Sprintf("Django PBKDF2-%s (%s$)", strings.ToUpper(digest), name)
		if len(parts) != 3 {
			return malformed(format, whyLayout)
		}
		n, bad := pbkdf2Iterations(format, parts[0])
		if bad != nil {
			return *bad
		}
		if parts[1] == "" {
			return malformed(format, whyNoSalt)
		}
		key, err := base64.StdEncoding.Strict().DecodeString(parts[2])
		if err != nil {
			return malformed(format, whyEncoding)
		}
		if len(key) != pbkdf2Digests[digest] {
			return malformed(format, whyLength)
		}
		return importable(format, h, kratosPBKDF2(digest, n, []byte(parts[1]), key))
	case "argon2":
		// argon2$argon2id$v=19$...: Django puts its name before the
		// argon2-cffi hash, minus that hash's leading "$".
		if len(parts) > 0 && (parts[0] == "argon2id" || parts[0] == "argon2i") {
			format := map[string]string{"argon2id": "Django Argon2id (argon2$argon2id$)", "argon2i": "Django Argon2i (argon2$argon2i$)"}[parts[0]]
			return inspectArgon2(strings.TrimPrefix(h, "argon2"), h, format)
		}
		if len(parts) > 0 && parts[0] == "argon2d" {
			return unsupported("Django Argon2d (argon2$)", "Kratos verifies Argon2id and Argon2i only")
		}
		return malformed("Django Argon2 (argon2$)", whyLayout)
	case "bcrypt":
		// bcrypt$$2b$12$...: the bcrypt hash after "bcrypt$".
		const format = "Django bcrypt (bcrypt$)"
		if !bcryptHash.MatchString(rest) {
			return malformed(format, whyLayout)
		}
		return importable(format, h, rest)
	case "bcrypt_sha256":
		return unsupported("Django bcrypt_sha256 (bcrypt_sha256$)",
			"the password was hashed with SHA-256 before bcrypt; Kratos' bcrypt takes the password itself")
	case "scrypt":
		// scrypt$<N>$<salt>$<r>$<p>$<key, padded base64>.
		const format = "Django scrypt (scrypt$)"
		if len(parts) != 5 {
			return malformed(format, whyLayout)
		}
		if !decimal.MatchString(parts[0]) || !decimal.MatchString(parts[2]) || !decimal.MatchString(parts[3]) {
			return malformed(format, whyParams)
		}
		n, _ := strconv.ParseUint(parts[0], 10, 64)
		r, _ := strconv.ParseUint(parts[2], 10, 64)
		p, _ := strconv.ParseUint(parts[3], 10, 64)
		if bad := scryptParams(format, n, r, p); bad != nil {
			return *bad
		}
		if parts[1] == "" {
			return malformed(format, whyNoSalt)
		}
		key, err := base64.StdEncoding.Strict().DecodeString(parts[4])
		if err != nil {
			return malformed(format, whyEncoding)
		}
		if len(key) == 0 {
			return malformed(format, whyLength)
		}
		return importable(format, h, kratosScrypt(n, r, p, []byte(parts[1]), key))
	case "sha1", "md5", "unsalted_sha1":
		// sha1$<salt>$<hex of sha1(salt+password)>, md5$<salt>$<hex>,
		// unsalted_sha1$$<hex of sha1(password)>; md5$$<hex> is Django's
		// unsalted MD5.
		digest, size := "sha1", sha1.Size
		if name == "md5" {
			digest, size = "md5", md5.Size
		}
		format := map[string]string{"sha1": "Django salted SHA-1 (sha1$)", "md5": "Django salted MD5 (md5$)",
			"unsalted_sha1": "Django unsalted SHA-1 (unsalted_sha1$$)"}[name]
		if name == "md5" && strings.HasPrefix(rest, "$") {
			format = "Django unsalted MD5 (md5$$)"
		}
		if len(parts) != 2 {
			return malformed(format, whyLayout)
		}
		if name == "unsalted_sha1" && parts[0] != "" {
			return malformed(format, whyLayout)
		}
		if !lowerHex.MatchString(parts[1]) || len(parts[1]) != 2*size {
			return malformed(format, whyLength)
		}
		sum, _ := hex.DecodeString(parts[1])
		switch {
		case parts[0] == "" && digest == "md5":
			return importable(format, h, "$md5$"+base64.StdEncoding.EncodeToString(sum))
		case parts[0] == "":
			return importable(format, h, kratosSHA(digest, "{PASSWORD}", nil, sum))
		}
		return importable(format, h, kratosSHA(digest, "{SALT}{PASSWORD}", []byte(parts[0]), sum))
	case "crypt":
		return unsupported("Django DES crypt (crypt$)", "Kratos cannot verify DES crypt and it has no lossless translation")
	}
	return unsupported("no known hash format (possibly a plaintext password)", whyUnknown)
}
