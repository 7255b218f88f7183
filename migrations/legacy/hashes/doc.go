// Package hashes reads the password hashes of the legacy auth system:
// Inspect decides what becomes of one (imported as is, translated into a
// form Kratos verifies, or refused) and names its format; Rehashed tells
// Kratos' own re-hash of an imported hash from a new password. It depends
// on nothing else of the migration.
//
// Kratos v1.3.1 imports a password credential's hashed_password when its
// prefix is one its comparator knows (hash/hash_comparator.go in its
// module) and verifies it at sign-in with the password as typed. The
// legacy system may hold hashes of other programs (Django, passlib, glibc's
// crypt, LDAP): each format that has a lossless translation into a form
// Kratos verifies is translated (the same password verifies against the
// result, nothing is recomputed), the forms Kratos reads already are
// checked the way Kratos decodes them and imported as they are, and
// everything else, malformed hashes included, leaves the user without a
// password (forced recovery). The first successful sign-in then replaces
// the imported hash with one of the platform's own algorithm: Kratos
// re-hashes whenever its configured hasher does not understand the stored
// hash (selfservice/strategy/password/login.go).
//
// Reports name a hash's format by a fixed label and never show any part of
// the hash: legacy systems sometimes stored plaintext passwords there.
package hashes
