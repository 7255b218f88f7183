package hashes

import (
	"fmt"
	"strings"
	"testing"
)

// Hashes of known formats that are damaged, or that Kratos could verify
// only at a cost no real setting asks for, go to forced recovery with the
// format named.
func TestInspectRefuses(t *testing.T) {
	b64 := func(n int) string { return strings.Repeat("QUJD", n/3) } // n bytes, n a multiple of 3
	for h, want := range map[string]string{
		"pbkdf2_sha256$abc$salt$" + b64(30) + "Q0Q=":                               "a malformed Django PBKDF2-SHA256 (pbkdf2_sha256$) hash",
		"pbkdf2_sha256$1000$$" + b64(30) + "Q0Q=":                                  "a malformed Django PBKDF2-SHA256 (pbkdf2_sha256$) hash",
		"pbkdf2_sha256$1000$salt$" + b64(30):                                       "a malformed Django PBKDF2-SHA256 (pbkdf2_sha256$) hash", // 30 bytes, not 32
		"pbkdf2_sha256$1000$salt":                                                  "a malformed Django PBKDF2-SHA256 (pbkdf2_sha256$) hash",
		"pbkdf2_sha256$10000001$salt$" + b64(30) + "Q0Q=":                          "Django PBKDF2-SHA256 (pbkdf2_sha256$) with cost parameters above the migration's limits",
		"$pbkdf2-sha256$29000$" + b64(15) + "$" + b64(30):                          "a malformed passlib PBKDF2-SHA256 ($pbkdf2-sha256$) hash", // 30 bytes, not 32
		"$pbkdf2-sha256$29000$" + b64(15) + "$" + "a+b" + b64(30):                  "a malformed passlib PBKDF2-SHA256 ($pbkdf2-sha256$) hash", // '+' is not adapted base64
		"$pbkdf2-sha3$i=1000,l=32$" + b64(15) + "$" + b64(30):                      "a malformed PBKDF2 in Kratos' form ($pbkdf2-<digest>$i=...) hash",
		"$pbkdf2-sha256$i=1000$" + b64(15) + "$" + b64(30):                         "a malformed PBKDF2 in Kratos' form ($pbkdf2-<digest>$i=...) hash",
		"$1$saltsaltsalt$qjYhYG7dN3ZkL3OHLE8Uw0":                                   "a malformed MD5-crypt ($1$) hash", // salt over 8
		"$5$rounds=999$salt$" + strings.Repeat("a", 43):                            "a malformed SHA-256-crypt ($5$) hash",
		"$5$rounds=10000001$salt$" + strings.Repeat("a", 43):                       "SHA-256-crypt ($5$) with cost parameters above the migration's limits",
		"$6$salt$" + strings.Repeat("a", 85):                                       "a malformed SHA-512-crypt ($6$) hash",
		"$sha512-crypt$salt$" + strings.Repeat("a", 85):                            "a malformed SHA-512-crypt in Kratos' form ($sha512-crypt$) hash",
		"$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$":                              "a malformed Argon2id hash",
		"$argon2id$v=19$m=65536,t=0,p=4$c29tZXNhbHQ$" + b64(30):                    "a malformed Argon2id hash",
		"$argon2id$v=19$m=65536,t=1,p=256$c29tZXNhbHQ$" + b64(30):                  "a malformed Argon2id hash",
		"$argon2id$v=19$m=65536,t=1,p=4$c29tZXNhbHQ=$" + b64(30):                   "a malformed Argon2id hash", // padded
		"$argon2id$v=19$m=8388608,t=1,p=4$c29tZXNhbHQ$" + b64(30):                  "Argon2id with cost parameters above the migration's limits",
		"$argon2i$m=4096,t=3,p=1$c29tZXNhbHQ$" + b64(30):                           "Argon2i version 1.0 (v=16)",
		"argon2$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ":                         "a malformed Django Argon2id (argon2$argon2id$) hash",
		"argon2$argon2d$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$" + b64(30):               "Django Argon2d (argon2$)",
		"bcrypt$$2b$12$short":                                                      "a malformed Django bcrypt (bcrypt$) hash",
		"scrypt$16384$salt$8$1$":                                                   "a malformed Django scrypt (scrypt$) hash",
		"scrypt$16383$salt$8$1$" + b64(30):                                         "a malformed Django scrypt (scrypt$) hash", // N not a power of 2
		"scrypt$4194304$salt$16$1$" + b64(30):                                      "Django scrypt (scrypt$) with cost parameters above the migration's limits",
		"$scrypt$ln=23,r=8,p=1$" + b64(15) + "$" + b64(30):                         "passlib scrypt ($scrypt$) with cost parameters above the migration's limits",
		"$scrypt$ln=16,r=8,p=1$" + b64(15) + "$a.b":                                "a malformed passlib scrypt ($scrypt$) hash",
		"$scrypt$ln=16385,r=8,p=1$" + b64(15) + "$" + b64(30):                      "a malformed scrypt in Kratos' form ($scrypt$ln=<N>...) hash",
		"sha1$salt$" + strings.Repeat("a", 39):                                     "a malformed Django salted SHA-1 (sha1$) hash",
		"sha1$salt$" + strings.Repeat("A", 40):                                     "a malformed Django salted SHA-1 (sha1$) hash", // Django writes lower case
		"unsalted_sha1$salt$" + strings.Repeat("a", 40):                            "a malformed Django unsalted SHA-1 (unsalted_sha1$$) hash",
		"md5$$" + strings.Repeat("a", 31):                                          "a malformed Django unsalted MD5 (md5$$) hash",
		"{SSHA}" + b64(18):                                                         "a malformed LDAP salted SHA-1 ({SSHA}) hash", // no salt
		"{SSHA}not base64!":                                                        "a malformed LDAP salted SHA-1 ({SSHA}) hash",
		"{SHA}" + b64(21):                                                          "a malformed LDAP SHA-1 ({SHA}) hash",
		"{PKCS5S2}" + b64(45):                                                      "a malformed Atlassian PBKDF2-SHA1 ({PKCS5S2}) hash",
		"{CRYPT}$6$salt$short":                                                     "LDAP {CRYPT} with a malformed SHA-512-crypt ($6$) hash",
		"{CRYPT}abBP67EgmS9T.":                                                     "LDAP {CRYPT} with DES crypt",
		"{CRYPT}":                                                                  "LDAP {CRYPT} with no known hash format (possibly a plaintext password)",
		"{CLEARTEXT}hunter2":                                                       "another LDAP {SCHEME} format",
		"{SSHA":                                                                    "no known hash format (possibly a plaintext password)",
		"$sha256$pf=e1NBTFR9$" + b64(6) + "$" + b64(30) + "QUI=":                   "a malformed salted SHA in Kratos' form ($sha<bits>$pf=...) hash", // no {PASSWORD}
		"$md5$" + b64(15):                                                          "a malformed MD5 in Kratos' form ($md5$) hash",
		"$hmac-sha256$" + b64(63) + "$a2V5":                                        "a malformed HMAC in Kratos' form ($hmac-<digest>$) hash",
		"$firescrypt$ln=14,r=8,p=1$" + b64(15) + "$" + b64(30) + "$AQI=":           "a malformed Firebase scrypt in Kratos' form ($firescrypt$) hash",
		"$sha1$40000$saltsalt$oE10I/GsuNcCVeKyJJJ5gmlW6wPB":                        "SHA-1-crypt ($sha1$, NetBSD)",
		"$md5$saltsalt$$UzQzTj7Oa59g1JXqt0Vn30":                                    "Sun MD5-crypt ($md5$)",
		"$7$C6..../....SodiumChloride$kBGj9fHznVYFQMEn/qDCfrDevf9YDtcDdKvEqHJLV8D": "scrypt ($7$)",
		"crypt$$abBP67EgmS9T.":                                                     "Django DES crypt (crypt$)",
	} {
		in := Inspect(h)
		if in.Kind != Unsupported || in.Format != want || in.Kratos != "" || in.Reason == "" {
			t.Errorf("Inspect(%q) = %s %q (%s), want unsupported %q", h, in.Kind, in.Format, in.Reason, want)
		}
	}
}

// A form Kratos verifies stays as it is, and every translation is a form
// Inspect takes as is.
func FuzzInspect(f *testing.F) {
	for _, s := range []string{"", "$2a$04$" + strings.Repeat("a", 53), "pbkdf2_sha256$1000$salt$" + strings.Repeat("QUJD", 10) + "QUI=",
		"$pbkdf2-sha256$1000$QUJD$" + strings.Repeat("QUJD", 10) + "QUI", "{SSHA}" + strings.Repeat("QUJD", 8), "{SMD5}" + strings.Repeat("QUJD", 8),
		"$5$rounds=5000$salt$" + strings.Repeat("a", 43), "md5$salt$" + strings.Repeat("a", 32), "$scrypt$ln=4,r=1,p=1$QUJD$QUJD",
		"argon2$argon2i$v=19$m=64,t=1,p=1$QUJD$QUJDQUJD", "{CRYPT}$1$salt$" + strings.Repeat("a", 22), "scrypt$2$s$1$1$QUJD"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		in := Inspect(h)
		switch in.Kind {
		case None:
			if h != "" {
				t.Fatal("none for a hash")
			}
		case Unsupported:
			if in.Kratos != "" || in.Reason == "" || in.Format == "" {
				t.Fatalf("%+v", in)
			}
		case Importable:
			if in.Kratos == "" || in.Translated != (in.Kratos != h) {
				t.Fatalf("%+v", in)
			}
			// Kratos' scrypt with N under 32 and no padding reads back as
			// passlib's (ln = log2 N); no real hash has so small an N.
			var n int
			if _, err := fmt.Sscanf(in.Kratos, "$scrypt$ln=%d,", &n); err == nil && n < 32 {
				return
			}
			again := Inspect(in.Kratos)
			if again.Kind != Importable || again.Kratos != in.Kratos {
				t.Fatalf("the translation %q of %q is not taken as is: %+v", in.Kratos, h, again)
			}
		default:
			t.Fatalf("kind %q", in.Kind)
		}
	})
}

func TestInspectNamesTheFormat(t *testing.T) {
	for h, want := range map[string]string{
		"$2a$04$" + strings.Repeat("a", 22) + strings.Repeat("b", 31): "bcrypt", "$2a$03$" + strings.Repeat("a", 53): "bcrypt with a cost outside 04-31",
		"$6$salt$abc": "a malformed SHA-512-crypt ($6$) hash", "$argon2id$v=19$m=65536": "a malformed Argon2id hash",
		"$pbkdf2-sha256$29000$x": "a malformed passlib PBKDF2-SHA256 ($pbkdf2-sha256$) hash",
		"$apr1$x$y":              "Apache MD5-crypt ($apr1$)", "$phpass$x$y": "another modular crypt format",
		strings.Repeat("ab", 32): "64 hex digits (SHA-256-like)",
		"abc123":                 "hex digits of no known digest length", "plain text": "no known hash format (possibly a plaintext password)",
	} {
		if got := Inspect(h).Format; got != want {
			t.Errorf("Inspect(%q).Format = %q, want %q", h, got, want)
		}
	}
}
