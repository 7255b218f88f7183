// Package jose reads what kit/token checks in a compact JWS before and
// after jwx parses it: that the token is one canonical compact JWS
// (CheckCompact), the protected header members its rules depend on
// (ParseHeader) and the claims (ParseClaims). JSON is read with
// encoding/json, member by member, so keys match exactly and a repeated
// key is decided the same way in the header and in the claims: the last
// occurrence wins.
package jose

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"strings"
)

// b64urlValue maps each character of the base64url alphabet of RFC 7515
// to its value plus one; other bytes map to 0.
var b64urlValue = func() (t [256]byte) {
	for i, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") {
		t[c] = byte(i) + 1
	}
	return t
}()

// ErrNotCompact means a token is not one canonical compact JWS.
var ErrNotCompact = errors.New("not a compact JWS")

// CheckCompact accepts exactly three unpadded base64url segments (no
// whitespace, no JSON serialization), each the one canonical encoding of
// its bytes, and returns the first segment, the protected header.
//
// It runs before jwx sees the token because jwx's decoder is lenient: it
// also takes padded and standard base64 and ignores non-zero trailing bits,
// so many strings would decode to the same token, and a token would not be
// exactly what was signed.
func CheckCompact(raw string) (header string, err error) {
	header, rest, _ := strings.Cut(raw, ".")
	payload, signature, ok := strings.Cut(rest, ".")
	if !ok || !canonicalBase64URL(header) || !canonicalBase64URL(payload) || !canonicalBase64URL(signature) {
		return "", ErrNotCompact
	}
	return header, nil
}

// canonicalBase64URL reports whether s is unpadded base64url of a possible
// length whose last character carries no bits beyond the data.
func canonicalBase64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		if b64urlValue[s[i]] == 0 {
			return false
		}
	}
	if len(s) == 0 {
		return true
	}
	last := b64urlValue[s[len(s)-1]] - 1
	switch len(s) % 4 {
	case 1:
		return false
	case 2: // one byte: 8 of the 12 bits are data
		return last&0x0f == 0
	case 3: // two bytes: 16 of the 18 bits are data
		return last&0x03 == 0
	}
	return true
}

// Header holds the protected header members kit/token looks at.
// Others (typ, jku, x5u, x5c, jwk, ...) are ignored: keys come from the
// JWKS only.
type Header struct {
	Alg  string
	Kid  string
	Crit bool // a crit member is present (any value)
	B64  bool // a b64 member is present (any value)
}

// ParseHeader decodes the protected header segment. kit/token reads these
// members here rather than from jwx's parsed headers: jwx refuses an alg it
// does not know (so "None" would look like a malformed header rather than
// the wrong algorithm), and it drops a crit of null, which kit/token
// refuses like any crit. Keys match exactly, the last occurrence wins
// (see eachMember), alg and kid must be strings (null means absent).
func ParseHeader(segment string) (Header, error) {
	var h Header
	b, err := base64.RawURLEncoding.DecodeString(segment)
	if err != nil {
		return h, err
	}
	err = eachMember(b, func(key string, value json.RawMessage) error {
		switch key {
		case "alg":
			return decode(value, &h.Alg)
		case "kid":
			return decode(value, &h.Kid)
		case "crit":
			h.Crit = true
		case "b64":
			h.B64 = true
		}
		return nil
	})
	return h, err
}

// Errors of ParseHeader and ParseClaims.
var (
	ErrSyntax = errors.New("not a JSON object")
	ErrType   = errors.New("a member has the wrong type")
)

// eachMember calls member with each member of the JSON object b, in order,
// its value undecoded, and returns the first error member returned. Keys
// match exactly (encoding/json would match a struct field to "ROLE" as well
// as to "role"), a later occurrence of a key overrides an earlier one, and
// every occurrence must have the right type. As with encoding/json, a
// syntax error anywhere wins over a wrong type.
func eachMember(b []byte, member func(key string, value json.RawMessage) error) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ErrSyntax
	}
	var first error
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return ErrSyntax
		}
		key, _ := t.(string) // inside an object, Token yields keys as strings
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return ErrSyntax
		}
		if err := member(key, value); err != nil && first == nil {
			first = err
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return ErrSyntax
	}
	if _, err := dec.Token(); err != io.EOF {
		return ErrSyntax
	}
	return first
}

// decode sets *dst to value decoded as a T, replacing what an earlier
// occurrence of the member put there; null decodes as T's zero value.
func decode[T any](value json.RawMessage, dst *T) error {
	var v T
	if err := json.Unmarshal(value, &v); err != nil {
		return ErrType
	}
	*dst = v
	return nil
}
